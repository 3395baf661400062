package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The IP tests run under `runsc do`, whose --network defaults to none:
// the Sentry's own TCP/IP stack with only lo. Each program is compared
// with a native run in a new network namespace (`unshare -n`, lo up),
// which has the same single interface. Scripts live in testdata/inet
// (the host's root, and so this directory, is visible in the sandbox)
// and write only under $D (the sandbox's private /tmp, or a fresh
// directory natively).

func inetScript(name string) string { return filepath.Join(testsDir, "testdata", "inet", name) }

// compareInet runs argv natively in a fresh network namespace and in the
// sandbox and compares the two.
func compareInet(t *testing.T, timeout time.Duration, argv ...string) *result {
	t.Helper()
	o := opts{timeout: timeout}
	// Not t.TempDir: its parent is private, and nginx's workers (nobody)
	// must reach the files.
	d, err := os.MkdirTemp(workDir, "inet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	nat := native(t, withEnv(o, "D="+d), append([]string{"unshare", "-n", "/bin/bash", "-c", `ip link set lo up && exec "$@"`, "inet"}, argv...)...)
	if nat.code != 0 {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	sb := sandbox(t, withEnv(o, "D=/tmp"), argv...)
	compareOutputs(t, nat, sb)
	return sb
}

func needPrograms(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is not installed (.ci/run installs it): %v", p, err)
		}
	}
}

// TestInetPython: TCP (1 MB echoed) and UDP over 127.0.0.1 and ::1, an
// AF_INET6 client of an IPv4 server through a v4-mapped address, and
// asyncio streams and datagrams.
func TestInetPython(t *testing.T) {
	needPrograms(t, "/usr/bin/python3")
	t.Run("echo", func(t *testing.T) {
		sb := compareInet(t, 60*time.Second, "/usr/bin/python3", inetScript("echo.py"))
		if !strings.Contains(sb.stdout, "tcp ::1 True True True\n") {
			t.Errorf("the IPv6 TCP echo did not work%s", sb)
		}
	})
	t.Run("asyncio", func(t *testing.T) {
		compareInet(t, 60*time.Second, "/usr/bin/python3", inetScript("asyncio_streams.py"))
	})
}

// TestInetErrors: the errno values of the usual mistakes (a
// non-blocking connect to a closed port gives ECONNREFUSED through poll
// and SO_ERROR, a port in use EADDRINUSE, a privileged port EACCES for
// a user without CAP_NET_BIND_SERVICE, an unroutable address
// ENETUNREACH, a reset connection ECONNRESET and EPIPE, ...), as Linux
// gives them.
func TestInetErrors(t *testing.T) {
	needPrograms(t, "/usr/bin/python3")
	sb := compareInet(t, 60*time.Second, "/usr/bin/python3", inetScript("errors.py"))
	for _, want := range []string{"SO_ERROR ECONNREFUSED\n", "bind in use EADDRINUSE\n", "user listen 80 EACCES\n",
		"connect 10.255.255.1 ENETUNREACH\n"} {
		if !strings.Contains(sb.stdout, want) {
			t.Errorf("stdout lacks %q%s", want, sb)
		}
	}
}

// TestInetOptions: socket options, FIONREAD, TCP_INFO, MSG_PEEK,
// MSG_WAITALL, MSG_DONTWAIT, SO_RCVTIMEO, IP_PKTINFO read back as on
// Linux.
func TestInetOptions(t *testing.T) {
	needPrograms(t, "/usr/bin/python3")
	compareInet(t, 60*time.Second, "/usr/bin/python3", inetScript("options.py"))
}

// TestInetPingAndRaw: ping sockets work for anyone (the sandbox opens
// ping_group_range to all groups, as systemd does; the host's may not,
// so there is no native run); raw sockets are EPERM unless runsc has
// --net-raw.
func TestInetPingAndRaw(t *testing.T) {
	needPrograms(t, "/usr/bin/python3")
	r := runsc(t, opts{timeout: 60 * time.Second}, "do", "/usr/bin/python3", inetScript("ping.py"))
	expect(t, r, 0, "ping reply 0 b'ping'\nraw 1\n")
	r = runsc(t, opts{timeout: 60 * time.Second}, "--net-raw", "do", "/usr/bin/python3", inetScript("ping.py"))
	expect(t, r, 0, "ping reply 0 b'ping'\nraw ok\n")
}

var inetHTTP struct {
	once        sync.Once
	static, cgo string
	err         error
}

// buildInetHTTP builds testdata/inethttp twice: static without cgo, and
// dynamically linked with cgo (glibc's resolver and its own sockets).
func buildInetHTTP(t *testing.T) (static, cgo string) {
	t.Helper()
	inetHTTP.once.Do(func() {
		inetHTTP.static = filepath.Join(binDir, "inethttp-static")
		inetHTTP.cgo = filepath.Join(binDir, "inethttp-cgo")
		if out, err := command(testsDir, []string{"CGO_ENABLED=0"}, "go", "build", "-o", inetHTTP.static, "./testdata/inethttp"); err != nil {
			inetHTTP.err = err
			t.Logf("%s", out)
			return
		}
		if out, err := command(testsDir, []string{"CGO_ENABLED=1"}, "go", "build", "-o", inetHTTP.cgo, "./testdata/inethttp"); err != nil {
			inetHTTP.err = err
			t.Logf("%s", out)
		}
	})
	if inetHTTP.err != nil {
		t.Fatalf("BUG IN THE TEST: building testdata/inethttp: %v", inetHTTP.err)
	}
	return inetHTTP.static, inetHTTP.cgo
}

// TestInetGoHTTP: Go's net/http server and client (eight concurrent
// keep-alive GETs of 1 MB and a POST, on 127.0.0.1, ::1 and localhost)
// and net.Interfaces, built static and with cgo.
func TestInetGoHTTP(t *testing.T) {
	static, cgo := buildInetHTTP(t)
	for name, bin := range map[string]string{"static": static, "cgo": cgo} {
		t.Run(name, func(t *testing.T) {
			sb := compareInet(t, 90*time.Second, bin)
			if strings.Count(sb.stdout, "200 true") != 24 || strings.Count(sb.stdout, "echo true") != 3 {
				t.Errorf("not every request succeeded%s", sb)
			}
		})
	}
}

// TestInetRedis: redis-server on 127.0.0.1 and ::1 with redis-cli and
// redis-benchmark (2000 requests of SET and GET).
func TestInetRedis(t *testing.T) {
	needPrograms(t, "/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/redis-benchmark")
	sb := compareInet(t, 120*time.Second, "/bin/bash", inetScript("redis.sh"))
	if !strings.Contains(sb.stdout, "hello\n") || !strings.Contains(sb.stdout, "benchmark exit 0\n2\n") {
		t.Errorf("redis did not answer%s", sb)
	}
}

// TestInetNginx: nginx (config written by the script: daemon off,
// paths under $D, two workers) serving files to curl over 127.0.0.1 and
// ::1.
func TestInetNginx(t *testing.T) {
	needPrograms(t, "/usr/sbin/nginx", "/usr/bin/curl")
	sb := compareInet(t, 120*time.Second, "/bin/bash", inetScript("nginx.sh"))
	if strings.Count(sb.stdout, "hello-from-nginx\n") != 4 {
		t.Errorf("nginx did not serve the page%s", sb)
	}
}

// TestInetProcNet: /proc/net/tcp, tcp6 and udp list sockets with their
// inodes; dev, if_inet6 and route show lo only.
func TestInetProcNet(t *testing.T) {
	needPrograms(t, "/usr/bin/python3")
	sb := compareInet(t, 60*time.Second, "/usr/bin/python3", inetScript("procnet.py"))
	if !strings.Contains(sb.stdout, "[('0100007F', True)]") {
		t.Errorf("/proc/net/tcp does not list the listener%s", sb)
	}
}

// TestInetOnlyLoopback: under --network=none, `ip addr` and `ip route`
// show only lo with 127.0.0.1/8 and ::1/128, as in a new network
// namespace on Linux.
func TestInetOnlyLoopback(t *testing.T) {
	needPrograms(t, "/usr/sbin/ip")
	sb := compareInet(t, 60*time.Second, "/bin/bash", "-c", "ip -o addr; ip route show table all; ip -6 route")
	ifaces := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\d+: (\S+)`).FindAllStringSubmatch(sb.stdout, -1) {
		ifaces[m[1]] = true
	}
	if len(ifaces) != 1 || !ifaces["lo"] || !strings.Contains(sb.stdout, "inet 127.0.0.1/8") || !strings.Contains(sb.stdout, "inet6 ::1/128") {
		t.Errorf("ip addr does not show just lo with its addresses (interfaces %v)%s", ifaces, sb)
	}
	r := runsc(t, opts{timeout: 60 * time.Second}, "--network=none", "do", "/usr/sbin/ip", "-o", "link")
	checkNoCrash(t, r)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "1: lo:") {
		t.Errorf("--network=none: ip link is not just lo%s", r)
	}
}
