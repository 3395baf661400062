package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests of --network=host: the application's IP sockets are host sockets
// the Sentry opens for it, in the host's network namespace. Every server
// listens on 127.0.0.1 at a port the kernel picked.

// freePort returns a TCP port of 127.0.0.1 nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startHostNetSandbox starts `runsc --network=host do argv` in the
// background; it is killed at the end of the test. Its stderr is returned
// for failure messages.
func startHostNetSandbox(t *testing.T, argv ...string) *strings.Builder {
	t.Helper()
	needRunsc(t)
	stderr := &strings.Builder{}
	cmd := exec.Command(runscPath, append([]string{"--network=host", "do"}, argv...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	cmd.Dir = workDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	return stderr
}

// TestHostNetworkNginx: nginx in the sandbox listens on a host loopback
// port and the host's curl fetches a page from it, keep-alive and not.
func TestHostNetworkNginx(t *testing.T) {
	needRunsc(t)
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		t.Fatalf("nginx is not installed (nginx-light): %v", err)
	}
	port := freePort(t)
	body := "served from the sandbox " + nonce(t)
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path /tmp/body;
	proxy_temp_path /tmp/proxy;
	fastcgi_temp_path /tmp/fastcgi;
	uwsgi_temp_path /tmp/uwsgi;
	scgi_temp_path /tmp/scgi;
	server {
		listen 127.0.0.1:%d;
		root /tmp/www;
	}
}
`, port)
	script := "mkdir -p /tmp/www && cat > /tmp/nginx.conf <<'EOF'\n" + conf + "EOF\n" +
		"echo '" + body + "' > /tmp/www/index.html && exec /usr/sbin/nginx -e stderr -c /tmp/nginx.conf"
	stderr := startHostNetSandbox(t, busybox, "sh", "-c", script)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var out []byte
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, err = exec.Command("curl", "-sS", "--max-time", "10", url).Output(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("curl %s: %v (%s); sandbox stderr:\n%s", url, err, out, stderr)
	}
	if string(out) != body+"\n" {
		t.Fatalf("curl got %q, want %q", out, body+"\n")
	}
	// Three requests on one connection, then one that is a 404.
	args := []string{"-sS", "--max-time", "10", "-w", "%{http_code} %{num_connects}\n"}
	for _, u := range []string{url, url, url, url + "missing"} {
		args = append(args, "-o", "/dev/null", u)
	}
	out, err = exec.Command("curl", args...).Output()
	if err != nil || string(out) != "200 1\n200 0\n200 0\n404 0\n" {
		t.Fatalf("keep-alive requests: %q (%v), want 200 1 / 200 0 / 200 0 / 404 0; sandbox stderr:\n%s", out, err, stderr)
	}
}

// hostNetClient talks to the host's servers given on the command line:
// TCP, UDP both ways, a non-blocking connect to a closed port, and finds
// the TCP server's listening socket in /proc/net/tcp; a blocking accept
// is interrupted by a signal.
const hostNetClient = `
import socket, select, sys
tcp, udp, closed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = socket.create_connection(("127.0.0.1", tcp))
c.sendall(b"ping over tcp\n")
print("tcp:", c.makefile().readline().strip())
c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.sendto(b"ping over udp", ("127.0.0.1", udp))
data, addr = u.recvfrom(100)
print("udp:", data.decode(), addr == ("127.0.0.1", udp))
n = socket.socket()
n.setblocking(False)
r = n.connect_ex(("127.0.0.1", closed))
if r == 115:  # EINPROGRESS: the result comes with writability
    select.select([], [n], [], 10)
    r = n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
print("closed port:", r)
try:
    socket.create_connection(("127.0.0.1", closed))
except OSError as e:
    print("blocking connect:", e.errno)
import signal
class Alarm(Exception): pass
def alarm(*a): raise Alarm()
signal.signal(signal.SIGALRM, alarm)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen()
signal.setitimer(signal.ITIMER_REAL, 0.2)
try:
    l.accept()
except Alarm:
    print("accept interrupted by a signal")
hexport = ":%04X" % tcp
print("listening in /proc/net/tcp:", any(l.split()[1].endswith(hexport) and l.split()[3] == "0A" for l in open("/proc/net/tcp").readlines()[1:]))
`

// TestHostNetworkClient: a client in the sandbox reaches a TCP and a UDP
// server the test runs on the host's loopback and gets their answers,
// and a connect to a closed port is refused, as natively.
func TestHostNetworkClient(t *testing.T) {
	needRunsc(t)
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 100)
				n, _ := c.Read(buf)
				fmt.Fprintf(c, "host got %q\n", strings.TrimSpace(string(buf[:n])))
			}()
		}
	}()
	ul, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			ul.WriteTo([]byte("host got "+string(buf[:n])), from)
		}
	}()
	args := []string{"/usr/bin/python3", "-c", hostNetClient,
		strconv.Itoa(tl.Addr().(*net.TCPAddr).Port), strconv.Itoa(ul.LocalAddr().(*net.UDPAddr).Port), strconv.Itoa(freePort(t))}
	want := "tcp: host got \"ping over tcp\"\nudp: host got ping over udp True\nclosed port: 111\nblocking connect: 111\naccept interrupted by a signal\nlistening in /proc/net/tcp: True\n"
	nat := native(t, opts{timeout: 60 * time.Second}, args...)
	if nat.code != 0 || nat.stdout != want {
		t.Fatalf("BUG IN THE TEST: native run%s", nat)
	}
	r := runsc(t, opts{timeout: 60 * time.Second}, append([]string{"--network=host", "do"}, args...)...)
	compareOutputs(t, nat, r)
}

// TestHostNetworkServerInSandbox: the host's own client reaches a TCP
// and a UDP server in the sandbox.
func TestHostNetworkServerInSandbox(t *testing.T) {
	needRunsc(t)
	tcp, udp := freePort(t), freePort(t)
	server := fmt.Sprintf(`
import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", %d))
def udp():
    while True:
        d, a = u.recvfrom(100)
        u.sendto(b"sandbox got " + d, a)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", %d))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"sandbox got " + c.recv(100))
    c.close()
`, udp, tcp)
	stderr := startHostNetSandbox(t, "/usr/bin/python3", "-c", server)
	var c net.Conn
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if c, err = net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", tcp)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial the sandbox's server: %v; stderr:\n%s", err, stderr)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("tcp"))
	got, err := io.ReadAll(c)
	c.Close()
	if string(got) != "sandbox got tcp" {
		t.Errorf("tcp: %q (%v), want \"sandbox got tcp\"", got, err)
	}
	u, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", udp))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(20 * time.Second))
	u.Write([]byte("udp"))
	buf := make([]byte, 100)
	n, err := u.Read(buf)
	if string(buf[:n]) != "sandbox got udp" {
		t.Errorf("udp: %q (%v), want \"sandbox got udp\"; stderr:\n%s", buf[:n], err, stderr)
	}
}

// TestHostNetworkRefusesOtherSockets: with --network=host the sandbox
// still gets no host packet, raw or other sockets: the Sentry refuses
// them (EAFNOSUPPORT for AF_PACKET, EPERM for SOCK_RAW) before any host
// call, and its seccomp filter would kill it if it tried. The host's
// interfaces show inside (the same lo as natively).
func TestHostNetworkRefusesOtherSockets(t *testing.T) {
	script := `
import socket
for fam, typ, proto, name in [(socket.AF_PACKET, socket.SOCK_RAW, 0, "AF_PACKET"), (socket.AF_INET, socket.SOCK_RAW, 1, "SOCK_RAW"),
                              (socket.AF_INET, socket.SOCK_STREAM, 132, "SCTP"), (socket.AF_INET6, socket.SOCK_SEQPACKET, 0, "SEQPACKET")]:
    try:
        socket.socket(fam, typ, proto)
        print(name, "created")
    except OSError as e:
        print(name, e.errno)
`
	r := runsc(t, opts{timeout: 60 * time.Second}, "--debug", "--network=host", "do", "/usr/bin/python3", "-c", script)
	expect(t, r, 0, "AF_PACKET 97\nSOCK_RAW 1\nSCTP 93\nSEQPACKET 94\n")
	if !strings.Contains(r.stderr, "socket(AF_PACKET): 1") {
		t.Errorf("--debug does not count the AF_PACKET socket%s", r)
	}
	nat := native(t, opts{}, busybox, "ip", "-o", "addr", "show", "dev", "lo")
	sb := runsc(t, opts{}, "--network=host", "do", busybox, "ip", "-o", "addr", "show", "dev", "lo")
	compareOutputs(t, nat, sb)
	// With the default of do (none), only lo.
	r = runsc(t, opts{}, "do", busybox, "ip", "-o", "link")
	checkNoCrash(t, r)
	if strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, ": lo:") {
		t.Errorf("--network=none shows more than lo%s", r)
	}
}

// TestHostNetworkBundle: `runsc run --network=host` on a bundle: busybox
// wget in the container fetches a page from an HTTP server the test runs
// on the host's loopback.
func TestHostNetworkBundle(t *testing.T) {
	needRunsc(t)
	body := "hello from the host " + nonce(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	dir := makeBundle(t, newSpec("/", "/bin/busybox", "wget", "-q", "-O", "-", "http://"+l.Addr().String()+"/"))
	r := runsc(t, opts{timeout: 60 * time.Second}, "--network=host", "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
	expect(t, r, 0, body)
}

// TestHostNetworkInGivenNamespace: with a network namespace path in
// config.json (as engines give), --network=host sockets live in that
// namespace, and `ip addr` and /proc/net inside show its interfaces, not
// the host's. The test makes the namespace, with a veth pair in it, and
// removes it afterwards.
func TestHostNetworkInGivenNamespace(t *testing.T) {
	needRunsc(t)
	ns := "veil-test-" + nonce(t)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, s := range [][]string{
		{"link", "add", "vtest0", "type", "veth", "peer", "name", "vtest1"},
		{"addr", "add", "10.214.1.1/24", "dev", "vtest0"},
		{"link", "set", "vtest0", "up"}, {"link", "set", "vtest1", "up"}, {"link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, s...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", s, err, out)
		}
	}
	spec := newSpec("/", "/bin/busybox", "sh", "-c",
		"busybox ip -o -4 addr show | busybox awk '{print $2, $4}'; busybox grep -c vtest /proc/net/dev")
	dir := makeBundle(t, spec)
	// The namespaces, which the tests' spec type leaves out.
	var cfg map[string]any
	b, err := os.ReadFile(dir + "/config.json")
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg["linux"] = map[string]any{"namespaces": []map[string]any{
		{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
		{"type": "network", "path": "/var/run/netns/" + ns},
	}}
	writeJSON(t, dir+"/config.json", cfg)
	r := runsc(t, opts{timeout: 60 * time.Second}, "--network=host", "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
	expect(t, r, 0, "lo 127.0.0.1/8\nvtest0 10.214.1.1/24\n2\n")
}
