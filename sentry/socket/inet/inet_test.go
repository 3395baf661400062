package inet

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
)

var (
	nb      = socket.Wait{Nonblock: true}
	forever = socket.Wait{}
)

func newStack(t testing.TB) *socket.Stack {
	t.Helper()
	st := socket.NewStack()
	ns, err := netstack.Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return st
}

func newSocket(t testing.TB, st *socket.Stack, domain, typ, proto int) *endpoint {
	t.Helper()
	ep, err := Family{domain}.Socket(vfstest.Root(), st, typ, proto)
	if err != nil {
		t.Fatalf("socket(%d, %d, %d): %v", domain, typ, proto, err)
	}
	t.Cleanup(ep.Release)
	return ep.(*endpoint)
}

func in4(port uint16, a ...byte) []byte {
	b := make([]byte, sizeofSockaddrIn)
	binary.LittleEndian.PutUint16(b, linux.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], a)
	return b
}

func in6(port uint16, a [16]byte) []byte {
	b := make([]byte, sizeofSockaddrIn6)
	binary.LittleEndian.PutUint16(b, linux.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[8:], a[:])
	return b
}

func port(b []byte) uint16 { return binary.BigEndian.Uint16(b[2:]) }

func TestSocketErrors(t *testing.T) {
	st := newStack(t)
	root := vfstest.Root()
	for _, tc := range []struct {
		domain, typ, proto int
		want               error
	}{
		{linux.AF_INET, linux.SOCK_STREAM, linux.IPPROTO_UDP, linux.EPROTONOSUPPORT},
		{linux.AF_INET, linux.SOCK_SEQPACKET, 0, linux.ESOCKTNOSUPPORT},
		{linux.AF_INET6, linux.SOCK_DGRAM, linux.IPPROTO_ICMP, linux.EPROTONOSUPPORT},
		{linux.AF_INET, linux.SOCK_RAW, linux.IPPROTO_ICMP, linux.EPERM}, // no --net-raw
	} {
		if _, err := (Family{tc.domain}).Socket(root, st, tc.typ, tc.proto); err != tc.want {
			t.Errorf("socket(%d, %d, %d) = %v, want %v", tc.domain, tc.typ, tc.proto, err, tc.want)
		}
	}
	if _, err := (Family{linux.AF_INET}).Socket(root, socket.NewStack(), linux.SOCK_STREAM, 0); err != linux.EAFNOSUPPORT {
		t.Errorf("socket on a stack without a Netstack = %v, want EAFNOSUPPORT", err)
	}
	netstack.Of(st).AllowRawSockets = true
	if _, err := (Family{linux.AF_INET}).Socket(vfstest.User(1000, 1000), st, linux.SOCK_RAW, linux.IPPROTO_ICMP); err != linux.EPERM {
		t.Errorf("raw socket without CAP_NET_RAW = %v, want EPERM", err)
	}
	ep, err := (Family{linux.AF_INET}).Socket(root, st, linux.SOCK_RAW, linux.IPPROTO_ICMP)
	if err != nil {
		t.Fatalf("raw socket with --net-raw as root: %v", err)
	}
	ep.Release()
}

func TestParseAddr(t *testing.T) {
	if _, err := parseAddr(linux.AF_INET, in4(80, 127, 0, 0, 1)[:15]); err != linux.EINVAL {
		t.Errorf("short sockaddr_in: %v, want EINVAL", err)
	}
	b := in4(80, 127, 0, 0, 1)
	b[0] = linux.AF_INET6
	if _, err := parseAddr(linux.AF_INET, b); err != linux.EAFNOSUPPORT {
		t.Errorf("AF_INET6 address on AF_INET: %v, want EAFNOSUPPORT", err)
	}
	unspec := in4(0)
	unspec[0] = linux.AF_UNSPEC
	if a, err := parseAddr(linux.AF_INET, unspec); err != nil || a.Addr.Len() != 0 {
		t.Errorf("AF_UNSPEC INADDR_ANY: %v %v, want the any address", a, err)
	}
	a, err := parseAddr(linux.AF_INET6, in6(443, [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}))
	if err != nil || a.Port != 443 || a.Addr.Len() != 16 {
		t.Fatalf("v4-mapped: %v %v", a, err)
	}
	if got := sockaddr(linux.AF_INET6, a); string(got[8:24]) != string([]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}) {
		t.Errorf("sockaddr of a v4-mapped address: %x", got)
	}
}

// TestTCPThroughEndpoints: the socket calls' path without the syscall
// layer: bind, listen, connect, accept, send, recv, peek, shutdown, and
// the readiness the waiter sees.
func TestTCPThroughEndpoints(t *testing.T) {
	st := newStack(t)
	ctx := vfstest.Root()
	l := newSocket(t, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	if err := l.Bind(ctx, in4(0, 127, 0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if !l.Listening() {
		t.Fatal("not listening after listen")
	}
	if _, err := l.Accept(ctx, nb); err != linux.EAGAIN {
		t.Fatalf("accept with nothing pending: %v, want EAGAIN", err)
	}
	entry, ch := waiter.NewChannelEntry(waiter.EventIn)
	l.EventRegister(entry)
	defer l.EventUnregister(entry)

	c := newSocket(t, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	if err := c.Connect(ctx, in4(port(l.SockName()), 127, 0, 0, 1), forever); err != nil {
		t.Fatalf("connect: %v", err)
	}
	<-ch // the listener's queue was told
	if l.Readiness(waiter.EventIn) != waiter.EventIn {
		t.Fatal("listener not readable with a connection pending")
	}
	a, err := l.Accept(ctx, forever)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	peer, _ := a.PeerName()
	if port(peer) != port(c.SockName()) {
		t.Errorf("accepted peer %x, client is %x", peer, c.SockName())
	}
	msg := strings.Repeat("veil", 5000)
	n, err := c.SendMsg(ctx, &socket.SendMsg{Data: socket.Bytes(msg)}, forever)
	if err != nil || n != len(msg) {
		t.Fatalf("send: %d %v", n, err)
	}
	buf := make([]byte, 4)
	if n, err := a.RecvMsg(ctx, &socket.RecvMsg{Data: socket.Bytes(buf), Flags: linux.MSG_PEEK}, forever); err != nil || string(buf[:n]) != "veil" {
		t.Fatalf("peek: %q %v", buf[:n], err)
	}
	got := make([]byte, len(msg))
	if n, err := a.RecvMsg(ctx, &socket.RecvMsg{Data: socket.Bytes(got), Flags: linux.MSG_WAITALL}, forever); err != nil || string(got[:n]) != msg {
		t.Fatalf("recv all: %d %v", n, err)
	}
	if err := c.Shutdown(ctx, linux.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if n, err := a.RecvMsg(ctx, &socket.RecvMsg{Data: socket.Bytes(got)}, forever); n != 0 || err != nil {
		t.Fatalf("recv after the peer's shutdown: %d %v, want EOF", n, err)
	}
	if _, err := c.SendMsg(ctx, &socket.SendMsg{Data: socket.Bytes("x"), Flags: linux.MSG_NOSIGNAL}, forever); err != linux.EPIPE {
		t.Fatalf("send after shutdown: %v, want EPIPE", err)
	}
}

func TestBlockedRecvInterrupted(t *testing.T) {
	st := newStack(t)
	u := newSocket(t, st, linux.AF_INET6, linux.SOCK_DGRAM, 0)
	if err := u.Bind(vfstest.Root(), in6(0, [16]byte{15: 1})); err != nil {
		t.Fatal(err)
	}
	ctx := &vfstest.Context{PID: 1, Interrupt: make(chan struct{})}
	close(ctx.Interrupt)
	_, err := u.RecvMsg(ctx, &socket.RecvMsg{Data: socket.Bytes(make([]byte, 10))}, forever)
	if !syserr.IsRestart(err) {
		t.Fatalf("interrupted recv: %v, want a restart error (ERESTARTSYS)", err)
	}
}

func TestPrivilegedPort(t *testing.T) {
	st := newStack(t)
	s := newSocket(t, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	if err := s.Bind(vfstest.User(1000, 1000), in4(80, 127, 0, 0, 1)); err != linux.EACCES {
		t.Fatalf("bind to 80 as a user: %v, want EACCES", err)
	}
	if err := s.Bind(vfstest.Root(), in4(80, 127, 0, 0, 1)); err != nil {
		t.Fatalf("bind to 80 as root: %v", err)
	}
	s2 := newSocket(t, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	if err := s2.Bind(vfstest.Root(), in4(80, 127, 0, 0, 1)); err != linux.EADDRINUSE {
		t.Fatalf("second bind: %v, want EADDRINUSE", err)
	}
}

func TestUnroutable(t *testing.T) {
	st := newStack(t)
	s := newSocket(t, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	if err := s.Connect(vfstest.Root(), in4(80, 10, 1, 2, 3), forever); err != linux.ENETUNREACH {
		t.Fatalf("connect to 10.1.2.3: %v, want ENETUNREACH", err)
	}
}

func TestProcNetTCPListsListener(t *testing.T) {
	st := newStack(t)
	l := newSocket(t, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	l.SetInode(nil, 4242)
	if err := l.Bind(vfstest.Root(), in4(8080, 127, 0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(vfstest.Root(), 1); err != nil {
		t.Fatal(err)
	}
	out := procNetTCP(linux.AF_INET)(st)
	if !strings.Contains(out, "0100007F:1F90 00000000:0000 0A") || !strings.Contains(out, " 4242 ") {
		t.Fatalf("/proc/net/tcp does not list the listener:\n%s", out)
	}
}

// BenchmarkTCPSendRecv measures one 1 KiB send and its receive over
// loopback; run with -benchmem for the allocations per round trip.
func BenchmarkTCPSendRecv(b *testing.B) {
	st := newStack(b)
	ctx := vfstest.Root()
	l := newSocket(b, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	l.Bind(ctx, in4(0, 127, 0, 0, 1))
	l.Listen(ctx, 1)
	c := newSocket(b, st, linux.AF_INET, linux.SOCK_STREAM, 0)
	if err := c.Connect(ctx, in4(port(l.SockName()), 127, 0, 0, 1), forever); err != nil {
		b.Fatal(err)
	}
	a, err := l.Accept(ctx, forever)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Release()
	msg := make([]byte, 1024)
	buf := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.SendMsg(ctx, &socket.SendMsg{Data: socket.Bytes(msg)}, forever); err != nil {
			b.Fatal(err)
		}
		if _, err := a.RecvMsg(ctx, &socket.RecvMsg{Data: socket.Bytes(buf), Flags: linux.MSG_WAITALL}, forever); err != nil {
			b.Fatal(err)
		}
	}
}
