package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSocketsOnGoferFilesystem runs testdata/c/sockets.c with its socket
// files in a gofer-backed directory (a writable bundle rootfs) and
// compares it with a native run; then a socket left bound there must be
// a socket node both inside the sandbox (ls -l) and on the host, where
// the gofer made it: the host only ever holds the name.
func TestSocketsOnGoferFilesystem(t *testing.T) {
	needRunsc(t)
	nativeDir := t.TempDir()
	nat := native(t, opts{timeout: 60 * time.Second}, prog("sockets"), nativeDir)
	if nat.code != 0 || !strings.HasSuffix(nat.stdout, "sockets: ok\n") {
		t.Fatalf("BUG IN THE TEST PROGRAM: native run failed%s", nat)
	}

	spec := newSpec("/", "/sockets", "/sockdir")
	spec.Root.Readonly = false
	dir := makeBundle(t, spec)
	copyFile(t, prog("sockets"), filepath.Join(dir, "rootfs", "sockets"), 0o755)
	if err := os.Mkdir(filepath.Join(dir, "rootfs", "sockdir"), 0o777); err != nil {
		t.Fatal(err)
	}
	sb := runBundle(t, opts{timeout: 60 * time.Second}, dir)
	compareOutputs(t, nat, sb)

	spec = newSpec("/", "/bin/busybox", "sh", "-c",
		"/sockets --leave /sockdir/left.sock && /bin/busybox ls -l /sockdir/left.sock | /bin/busybox cut -c1")
	spec.Root.Readonly = false
	dir = makeBundle(t, spec)
	copyFile(t, prog("sockets"), filepath.Join(dir, "rootfs", "sockets"), 0o755)
	if err := os.Mkdir(filepath.Join(dir, "rootfs", "sockdir"), 0o777); err != nil {
		t.Fatal(err)
	}
	r := runBundle(t, opts{timeout: 60 * time.Second}, dir)
	expect(t, r, 0, "s\n")
	var st syscall.Stat_t
	host := filepath.Join(dir, "rootfs", "sockdir", "left.sock")
	if err := syscall.Lstat(host, &st); err != nil {
		t.Fatalf("the socket file is not on the host: %v", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		t.Errorf("%s has mode %#o on the host, want a socket node", host, st.Mode)
	}
}

// TestSocketPrograms runs Debian programs that talk over unix sockets and
// netlink under `runsc do` and compares each with a native run inside a
// new network namespace (`unshare -n`, lo set up): there, as in the
// sandbox, lo is the only interface. Each script writes only under $D
// (the sandbox's private /tmp, or a test directory natively) and stops
// the servers it starts.
func TestSocketPrograms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		needs  []string
		script string
	}{
		{"netlink-c", []string{"/usr/sbin/ip"}, prog("netlink")},
		// Go's net package: net/http over a unix socket, unixgram,
		// unixpacket, descriptor passing, net.Interfaces (netlink).
		{"go-net", []string{"/usr/sbin/ip"}, prog("gonet") + ` "$D"`},
		{"iproute2", []string{"/usr/sbin/ip"}, `ip addr; ip route; ip -6 route; ip route show table all; ip link
			ip -4 addr show dev lo; ip -6 addr show dev lo; ip -o link; ip -br addr; ip neigh; ip -s link show lo
			ip link show dev nope; echo "no such device: $?"; ip link set lo up; echo "lo up: $?"`},
		{"python3-asyncio", []string{"/usr/bin/python3"}, `/usr/bin/python3 - <<'PY'
import asyncio, os, socket, stat, struct, sys

path = os.path.join(os.environ["D"], "a.sock")
CLIENT = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"client%s\n" % sys.argv[2].encode())
print(s.makefile().readline().strip())
'''

async def handle(reader, writer):
    data = await reader.readline()
    writer.write(b"echo:" + data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()

async def main():
    server = await asyncio.start_unix_server(handle, path=path)
    print("listening", stat.S_ISSOCK(os.stat(path).st_mode))
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, path, str(i),
                                                   stdout=asyncio.subprocess.PIPE) for i in range(4)]
    outs = [(await p.communicate())[0].decode().strip() for p in procs]
    print(sorted(outs), [p.returncode for p in procs])
    r, w = await asyncio.open_unix_connection(path)
    w.write(b"inproc\n")
    await w.drain()
    print((await r.readline()).decode().strip())
    w.close()
    await w.wait_closed()
    server.close()
    await server.wait_closed()

asyncio.run(main())
os.unlink(path)

a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    r, w = os.pipe()
    os.write(w, b"through a passed pipe")
    os.close(w)
    socket.send_fds(b, [b"fd"], [r])
    os._exit(0)
msg, fds, flags, addr = socket.recv_fds(a, 10, 4)
print(msg, len(fds), os.read(fds[0], 100))
os.waitpid(pid, 0)
cpid, uid, gid = struct.unpack("3i", a.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
print("peercred is me", cpid == os.getpid(), uid == os.geteuid())
print(socket.if_nameindex(), socket.if_nametoindex("lo"))
d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"x" * 10)
d1.send(b"y")
print(d2.recv(4), d2.recv(100))
PY`},
		{"redis", []string{"/usr/bin/redis-server", "/usr/bin/redis-cli"}, `
			redis-server --unixsocket "$D/r.sock" --port 0 --save "" --appendonly no --dir "$D" --logfile "$D/redis.log" &
			i=0; until redis-cli -s "$D/r.sock" ping 2>/dev/null | grep -q PONG; do
				i=$((i+1)); [ $i -gt 600 ] && { echo "redis did not start"; cat "$D/redis.log"; kill %1; exit 1; }; sleep 0.1
			done
			redis-cli -s "$D/r.sock" set k hello; redis-cli -s "$D/r.sock" get k
			redis-cli -s "$D/r.sock" incr n; redis-cli -s "$D/r.sock" incr n
			redis-cli -s "$D/r.sock" rpush l a b c; redis-cli -s "$D/r.sock" lrange l 0 -1
			redis-cli -s "$D/r.sock" shutdown nosave; wait; echo "redis exit $?"`},
		{"socat-nc", []string{"/usr/bin/socat", "/usr/bin/nc"}, `
			waitsock() { i=0; until [ -S "$1" ]; do i=$((i+1)); [ $i -gt 600 ] && { echo "no $1"; exit 1; }; sleep 0.05; done; }
			socat UNIX-LISTEN:"$D/s.sock",fork EXEC:/bin/cat & lpid=$!
			waitsock "$D/s.sock"
			echo "hello through socat" | socat -t 5 - UNIX-CONNECT:"$D/s.sock"
			printf 'line1\nline2\n' | socat -t 5 - UNIX-CONNECT:"$D/s.sock" | wc -l
			kill $lpid; wait $lpid 2>/dev/null; rm -f "$D/s.sock"
			socat -u UNIX-RECVFROM:"$D/d.sock" STDOUT > "$D/dgram.out" & dpid=$!
			waitsock "$D/d.sock"
			echo "a datagram" | socat - UNIX-SENDTO:"$D/d.sock"
			wait $dpid; cat "$D/dgram.out"
			nc -lU "$D/n.sock" > "$D/nc.out" & npid=$!
			waitsock "$D/n.sock"
			echo "hello through nc" | nc -N -U "$D/n.sock"
			wait $npid; cat "$D/nc.out"; rm -f "$D"/*.sock`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.needs {
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("%s is not installed (.ci/run installs it): %v", p, err)
				}
			}
			o := opts{timeout: 120 * time.Second}
			nat := native(t, withEnv(o, "D="+t.TempDir()), "unshare", "-n", "/bin/bash", "-c", "ip link set lo up && "+tc.script)
			if nat.code != 0 {
				t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
			}
			sb := sandbox(t, withEnv(o, "D=/tmp"), "/bin/bash", "-c", tc.script)
			checkNoCrash(t, sb)
			compareOutputs(t, nat, sb)
		})
	}
}

// TestSocketFamiliesRefused: families the Sentry does not implement fail
// as on a kernel built without them (EAFNOSUPPORT, EPROTONOSUPPORT for
// other netlink protocols), so programs fall back (python reports the
// family as unavailable), and --debug counts each use. Only the sandbox
// is run: natively these families exist.
func TestSocketFamiliesRefused(t *testing.T) {
	script := `
import socket
for fam, typ, name in [(socket.AF_PACKET, socket.SOCK_RAW, "AF_PACKET"), (40, socket.SOCK_STREAM, "AF_VSOCK")]:
    try:
        socket.socket(fam, typ)
    except OSError as e:
        print(name, e.errno)
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
except OSError as e:
    print("NETLINK_AUDIT", e.errno)
`
	r := runsc(t, opts{timeout: 60 * time.Second}, "--debug", "do", "/usr/bin/python3", "-c", script)
	expect(t, r, 0, "AF_PACKET 97\nAF_VSOCK 97\nNETLINK_AUDIT 93\n")
	for _, want := range []string{"socket(AF_PACKET): 1", "socket(AF_NETLINK, protocol 9): 1"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("--debug does not report %q%s", want, r)
		}
	}
}
