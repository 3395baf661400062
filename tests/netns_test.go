package tests

// --network=sandbox end to end: a sandbox in a network namespace the test
// made, connected by a veth pair to a second namespace that plays the
// host's side. Never touches the host's own namespace: every interface,
// address and route lives in the two namespaces, deleted afterwards.

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// netPair is two network namespaces joined by a veth pair: the sandbox's
// (S, its end "eth0" with SandboxIP/24 and a default route via PeerIP)
// and the peer's (C, PeerIP/24).
type netPair struct {
	S, C              string // namespace names (under /run/netns)
	SandboxIP, PeerIP string
	// SandboxIP6 and PeerIP6 are the two ends' IPv6 addresses (/64).
	SandboxIP6, PeerIP6 string
}

func (p *netPair) path() string { return "/run/netns/" + p.S }

func needIP(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("the network tests need iproute2's ip: %v", err)
	}
}

// newNetPair makes the namespaces; t.Cleanup deletes them (and so the
// veth pair), also when the test fails.
func newNetPair(t *testing.T) *netPair {
	t.Helper()
	needIP(t)
	n := nonce(t)[:8]
	var octet int
	fmt.Sscanf(n[:2], "%x", &octet)
	p := &netPair{S: "veil-test-" + n + "-s", C: "veil-test-" + n + "-c",
		SandboxIP: fmt.Sprintf("10.213.%d.2", octet), PeerIP: fmt.Sprintf("10.213.%d.1", octet),
		SandboxIP6: fmt.Sprintf("fd00:213:%x::2", octet), PeerIP6: fmt.Sprintf("fd00:213:%x::1", octet)}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", p.S)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.S).Run() })
	ip("netns", "add", p.C)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.C).Run() })
	ip("link", "add", "vs"+n, "netns", p.S, "type", "veth", "peer", "name", "vc"+n, "netns", p.C)
	ip("-n", p.S, "link", "set", "vs"+n, "name", "eth0")
	ip("-n", p.S, "addr", "add", p.SandboxIP+"/24", "dev", "eth0")
	ip("-n", p.S, "addr", "add", p.SandboxIP6+"/64", "dev", "eth0", "nodad")
	ip("-n", p.S, "link", "set", "eth0", "up")
	ip("-n", p.S, "link", "set", "lo", "up")
	ip("-n", p.S, "route", "add", "default", "via", p.PeerIP)
	ip("-n", p.C, "addr", "add", p.PeerIP+"/24", "dev", "vc"+n)
	ip("-n", p.C, "addr", "add", p.PeerIP6+"/64", "dev", "vc"+n, "nodad")
	ip("-n", p.C, "link", "set", "vc"+n, "up")
	ip("-n", p.C, "link", "set", "lo", "up")
	return p
}

// inC runs argv in the peer namespace.
func (p *netPair) inC(t *testing.T, timeout time.Duration, argv ...string) *result {
	t.Helper()
	return run(opts{timeout: timeout}, append([]string{"ip", "netns", "exec", p.C}, argv...)...)
}

// inS runs argv (a host program) in the sandbox's namespace, on the host
// kernel: what the host sees there.
func (p *netPair) inS(t *testing.T, argv ...string) *result {
	t.Helper()
	return run(opts{timeout: 20 * time.Second}, append([]string{"ip", "netns", "exec", p.S}, argv...)...)
}

// startInC starts a server in the peer namespace, killed at cleanup.
func (p *netPair) startInC(t *testing.T, argv ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", p.C}, argv...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v in %s: %v", argv, p.C, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// netBundle is a bundle of the busybox rootfs with the host's /usr (and
// so Debian's programs and libraries) bound read-only, whose network
// namespace is netns.
func netBundle(t *testing.T, rt *ociRuntime, netns string, edit func(*specs.Spec), script string) *ociBundle {
	t.Helper()
	return rt.newBundle(t, bundleOpts{extraDirs: []string{"usr", "lib", "lib64", "run", "var"}, edit: func(s *specs.Spec) {
		for _, d := range []string{"/usr", "/lib", "/lib64"} {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: d, Type: "bind", Source: d, Options: []string{"rbind", "ro"}})
		}
		for _, d := range []string{"/run", "/var"} {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: d, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}})
		}
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = netns
			}
		}
		s.Process.Env = append(s.Process.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
		if edit != nil {
			edit(s)
		}
	}}, "/bin/sh", "-c", script)
}

// waitOut waits for the container to write /out/name (non-empty; the
// scripts write it last, by rename).
func waitOut(t *testing.T, c *ociContainer, name string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s := c.b.readOut(name); s != "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 60s the container never wrote /out/%s%s\n%s", name, c.output(), c.rt.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostTCPSockets returns the TCP sockets the host kernel has in netns
// (ss -tan without its header).
func hostTCPSockets(t *testing.T, p *netPair) []string {
	t.Helper()
	r := p.inS(t, "ss", "-Htan")
	if r.code != 0 {
		t.Fatalf("ss in %s failed%s", p.S, r)
	}
	var socks []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.TrimSpace(l) != "" {
			socks = append(socks, l)
		}
	}
	return socks
}

// hostPacketSockets returns the lines of /proc/net/packet in netns
// without its header.
func hostPacketSockets(t *testing.T, p *netPair) []string {
	t.Helper()
	r := p.inS(t, "cat", "/proc/net/packet")
	if r.code != 0 {
		t.Fatalf("reading /proc/net/packet in %s failed%s", p.S, r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	return lines[1:]
}

// The sandbox's stack takes over the namespace's interface: the Sentry
// answers ARP and ping for its address, `ip addr`/`ip route` inside show
// what the host had, and the host's interface keeps no address.
func TestNetnsSandboxLink(t *testing.T) {
	p := newNetPair(t)
	mac := strings.TrimSpace(p.inS(t, "cat", "/sys/class/net/eth0/address").stdout)
	rt := newOCIRuntime(t, "runsc")
	b := netBundle(t, rt, p.path(), nil,
		`ip addr show > /out/addr.tmp; ip route show > /out/route; mv /out/addr.tmp /out/addr; exec sleep 120`)
	c := rt.newContainer(t, b, "net")
	rt.must(t, c.launch(t, ociOpts{}, "run", "-d", "--bundle", b.dir, c.id), "run -d")
	addr := waitOut(t, c, "addr")
	route := b.readOut("route")

	if !strings.Contains(addr, "inet "+p.SandboxIP+"/24") || !strings.Contains(addr, "link/ether "+mac) ||
		!strings.Contains(addr, "mtu 1500") {
		t.Errorf("ip addr inside lacks eth0 with %s/24, MAC %s, mtu 1500:\n%s", p.SandboxIP, mac, addr)
	}
	if !strings.Contains(addr, "inet6 "+p.SandboxIP6+"/64") {
		t.Errorf("ip addr inside lacks eth0's %s/64:\n%s", p.SandboxIP6, addr)
	}
	if !strings.Contains(addr, "inet 127.0.0.1/8") {
		t.Errorf("ip addr inside lacks lo's 127.0.0.1/8:\n%s", addr)
	}
	if !strings.Contains(route, "default via "+p.PeerIP+" dev eth0") {
		t.Errorf("ip route inside lacks the default route via %s:\n%s", p.PeerIP, route)
	}

	host := p.inS(t, "ip", "-o", "addr", "show", "dev", "eth0")
	if strings.Contains(host.stdout, "inet") {
		t.Errorf("the host kernel's eth0 still has an address:\n%s", host.stdout)
	}
	if pk := hostPacketSockets(t, p); len(pk) == 0 {
		t.Errorf("no packet socket in the sandbox's namespace")
	}

	r := p.inC(t, 30*time.Second, busybox, "ping", "-c", "3", "-W", "5", p.SandboxIP)
	if r.code != 0 || !strings.Contains(r.stdout, "3 packets received") {
		t.Fatalf("ping of the sandbox's address from the peer namespace%s", r)
	}
	r = p.inC(t, 30*time.Second, busybox, "ping", "-6", "-c", "3", "-W", "5", p.SandboxIP6)
	if r.code != 0 || !strings.Contains(r.stdout, "3 packets received") {
		t.Errorf("ping of the sandbox's IPv6 address from the peer namespace (NDP and ICMPv6 by the Sentry)%s", r)
	}
	// Nobody but the Sentry had the address: the host's neighbour entry
	// for it on the peer side is the sandbox's MAC.
	neigh := p.inC(t, 10*time.Second, "ip", "neigh", "show", p.SandboxIP)
	if !strings.Contains(neigh.stdout, mac) {
		t.Errorf("the peer's neighbour entry for %s is not %s:\n%s", p.SandboxIP, mac, neigh.stdout)
	}
}

// A network namespace path that does not exist is a one-line error, and
// nothing is left running.
func TestNetnsSandboxBadPath(t *testing.T) {
	rt := newOCIRuntime(t, "runsc")
	missing := "/run/netns/veil-test-missing-" + nonce(t)[:8]
	b := netBundle(t, rt, missing, nil, "true")
	c := rt.newContainer(t, b, "badns")
	r := c.launch(t, ociOpts{}, "run", "--bundle", b.dir, c.id)
	line := checkCLIError(t, rt, r, "run with a missing network namespace")
	if !strings.Contains(line, missing) {
		t.Errorf("the error does not name %s: %q", missing, line)
	}
	if ids := rt.listIDs(t); len(ids) != 0 {
		t.Errorf("runsc list after the failed run: %v", ids)
	}
}

// /etc/hosts, /etc/resolv.conf and /etc/hostname bound by the engine are
// what the application and its resolver see, unchanged.
func TestNetnsSandboxEtcFiles(t *testing.T) {
	p := newNetPair(t)
	rt := newOCIRuntime(t, "runsc")
	dir := t.TempDir()
	files := map[string]string{
		"hosts":       "127.0.0.1\tlocalhost\n" + p.PeerIP + "\tveil-peer veil-peer.test\n",
		"resolv.conf": "nameserver " + p.PeerIP + "\nsearch test\noptions ndots:1\n",
		"hostname":    "veil-box\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := netBundle(t, rt, p.path(), func(s *specs.Spec) {
		s.Hostname = "veil-box"
		for name := range files {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind",
				Source: filepath.Join(dir, name), Options: []string{"rbind", "ro"}})
		}
	}, `for f in hosts resolv.conf hostname; do cat /etc/$f > /out/$f; done
		hostname > /out/uname
		python3 -c 'import socket; print(socket.gethostbyname("veil-peer"), socket.gethostbyname("veil-peer.test"))' > /out/resolved 2>&1
		touch /out/done`)
	c := rt.newContainer(t, b, "etc")
	r := c.launch(t, ociOpts{timeout: 60 * time.Second}, "run", "--bundle", b.dir, c.id)
	rt.must(t, r, "run")
	for name, content := range files {
		if got := b.readOut(name); got != content {
			t.Errorf("/etc/%s inside is %q, want the bound file's %q", name, got, content)
		}
	}
	if got := strings.TrimSpace(b.readOut("uname")); got != "veil-box" {
		t.Errorf("hostname inside: %q, want veil-box", got)
	}
	want := p.PeerIP + " " + p.PeerIP
	if got := strings.TrimSpace(b.readOut("resolved")); got != want {
		t.Errorf("python's resolver gave %q for veil-peer from /etc/hosts, want %q", got, want)
	}
}

// nginxConf is an nginx configuration that runs in the foreground as
// root with everything under prefix (nginx -p), serving prefix/html on
// port.
func nginxConf(port int) string {
	return fmt.Sprintf(`daemon off;
master_process off;
user root;
worker_processes 1;
error_log error.log info;
pid nginx.pid;
events { worker_connections 64; }
http {
	access_log access.log;
	client_body_temp_path tmp/body;
	proxy_temp_path tmp/proxy;
	fastcgi_temp_path tmp/fastcgi;
	uwsgi_temp_path tmp/uwsgi;
	scgi_temp_path tmp/scgi;
	server {
		listen %d;
		root html;
	}
}
`, port)
}

// Servers in the sandbox are reached from the peer namespace, and the
// sandbox reaches a server there; the host kernel of the sandbox's
// namespace holds no TCP socket for any of it, only the packet socket.
func TestNetnsSandboxServers(t *testing.T) {
	for _, bin := range []string{"/usr/sbin/nginx", "/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/curl", "/usr/bin/python3", "/usr/bin/ss"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing (.ci/run installs it): %v", bin, err)
		}
	}
	p := newNetPair(t)
	rt := newOCIRuntime(t, "runsc")

	// The peer's server, for the sandbox to fetch from.
	peerDir := t.TempDir()
	peerBody := "from the peer " + nonce(t) + "\n"
	if err := os.WriteFile(filepath.Join(peerDir, "peer.txt"), []byte(peerBody), 0o644); err != nil {
		t.Fatal(err)
	}
	// Bulk data both ways (segmentation offload, many windows).
	big := make([]byte, 8<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(peerDir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	p.startInC(t, "python3", "-m", "http.server", "8081", "--bind", p.PeerIP, "--directory", peerDir)

	b := netBundle(t, rt, p.path(), nil, `
		cd /out
		mkdir -p tmp html; echo "$BODY" > html/index.html
		nginx -p /out/ -c /out/nginx.conf -e /out/error.log &
		redis-server --port 6379 --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --dir /out --logfile /out/redis.log &
		i=0; until [ -s nginx.pid ] && redis-cli ping >/dev/null 2>&1; do
			i=$((i+1)); [ $i -gt 600 ] && { echo "servers did not start" > ready; exit 1; }; sleep 0.1
		done
		i=0; until wget -q -O peer.tmp http://`+p.PeerIP+`:8081/peer.txt; do
			i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.2
		done
		mv peer.tmp peer 2>/dev/null
		wget -q -O peerbig http://`+p.PeerIP+`:8081/big
		echo ok > ready
		exec sleep 300`)
	b.spec.Process.Env = append(b.spec.Process.Env, "BODY=served by nginx in the sandbox")
	writeJSON(t, filepath.Join(b.dir, "config.json"), b.spec)
	if err := os.WriteFile(filepath.Join(b.rootfs, "etc", "group"), []byte("root:x:0:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.out, "nginx.conf"), []byte(nginxConf(8080)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(b.out, "html"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.out, "html", "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	c := rt.newContainer(t, b, "srv")
	rt.must(t, c.launch(t, ociOpts{}, "run", "-d", "--bundle", b.dir, c.id), "run -d")
	if ready := strings.TrimSpace(waitOut(t, c, "ready")); ready != "ok" {
		t.Fatalf("the sandbox's servers: %s\n--- nginx ---\n%s\n--- redis ---\n%s", ready, b.readOut("error.log"), b.readOut("redis.log"))
	}

	if got := b.readOut("peer"); got != peerBody {
		t.Errorf("the sandbox fetched %q from the peer's http.server, want %q", got, peerBody)
	}
	r := p.inC(t, 30*time.Second, "curl", "-sS", "--max-time", "20", "http://"+p.SandboxIP+":8080/index.html")
	if r.code != 0 || r.stdout != "served by nginx in the sandbox\n" {
		t.Errorf("curl of nginx in the sandbox from the peer namespace%s\n--- nginx error.log ---\n%s", r, b.readOut("error.log"))
	}
	if got := b.readOut("peerbig"); got != string(big) {
		t.Errorf("the sandbox fetched %d bytes of the peer's 8 MiB file, not all equal", len(got))
	}
	r = p.inC(t, 60*time.Second, "curl", "-sS", "--max-time", "50", "http://"+p.SandboxIP+":8080/big")
	if r.code != 0 || r.stdout != string(big) {
		t.Errorf("curl of an 8 MiB file from nginx in the sandbox: exit %d, %d bytes, equal %v", r.code, len(r.stdout), r.stdout == string(big))
	}
	redis := func(args ...string) string {
		t.Helper()
		r := p.inC(t, 30*time.Second, append([]string{"redis-cli", "-h", p.SandboxIP, "-p", "6379"}, args...)...)
		if r.code != 0 {
			t.Errorf("redis-cli %s from the peer namespace%s", strings.Join(args, " "), r)
		}
		return strings.TrimSpace(r.stdout)
	}
	if got := redis("set", "k", "v1"); got != "OK" {
		t.Errorf("redis set: %q, want OK", got)
	}
	if got := redis("get", "k"); got != "v1" {
		t.Errorf("redis get: %q, want v1", got)
	}

	// A connection held open from the peer while the host's side is
	// looked at: the host kernel in the sandbox's namespace has neither
	// it nor the listeners, only the packet endpoint.
	hold := exec.Command("ip", "netns", "exec", p.C, "python3", "-c", `
import socket, sys, time
s = socket.create_connection((sys.argv[1], 6379), timeout=20)
s.sendall(b"PING\r\n")
print(s.recv(64).decode().strip(), flush=True)
time.sleep(30)
`, p.SandboxIP)
	out, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Process.Kill(); hold.Wait() })
	line := make([]byte, 16)
	n, _ := out.Read(line)
	if got := strings.TrimSpace(string(line[:n])); got != "+PONG" {
		t.Fatalf("a held redis connection from the peer got %q, want +PONG", got)
	}
	peerSide := p.inC(t, 10*time.Second, "ss", "-Htan", "dst", p.SandboxIP+":6379")
	if !strings.Contains(peerSide.stdout, "ESTAB") {
		t.Errorf("the peer's kernel shows no established connection to the sandbox's redis:%s", peerSide)
	}
	if socks := hostTCPSockets(t, p); len(socks) != 0 {
		t.Errorf("the host kernel in the sandbox's namespace has TCP sockets (it must only move frames): %v", socks)
	}
	if tcp := p.inS(t, "cat", "/proc/net/tcp", "/proc/net/tcp6"); strings.Count(tcp.stdout, "\n") != 2 {
		t.Errorf("/proc/net/tcp and tcp6 of the sandbox's namespace are not empty:\n%s", tcp.stdout)
	}
	if pk := hostPacketSockets(t, p); len(pk) == 0 {
		t.Errorf("no packet socket in the sandbox's namespace")
	}
}

// A sandbox that cannot start its program (127) gives the namespace's
// interface its address and routes back.
func TestNetnsSandboxFailedStartGivesBack(t *testing.T) {
	p := newNetPair(t)
	rt := newOCIRuntime(t, "runsc")
	b := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = p.path()
			}
		}
	}}, "/no/such/program")
	c := rt.newContainer(t, b, "nostart")
	r := c.launch(t, ociOpts{}, "run", "--bundle", b.dir, c.id)
	if r.code != 127 {
		t.Errorf("run of a missing program: exit %d, want 127%s", r.code, r)
	}
	addr := p.inS(t, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if !strings.Contains(addr.stdout, "inet "+p.SandboxIP+"/24") {
		t.Errorf("eth0 did not get %s/24 back:%s", p.SandboxIP, addr)
	}
	route := p.inS(t, "ip", "-4", "route", "show")
	if !strings.Contains(route.stdout, "default via "+p.PeerIP+" dev eth0") {
		t.Errorf("the default route did not come back:%s", route)
	}
	if r := p.inC(t, 30*time.Second, busybox, "ping", "-c", "1", "-W", "5", p.SandboxIP); r.code != 0 {
		t.Errorf("the host kernel does not answer for %s again%s", p.SandboxIP, r)
	}
}
