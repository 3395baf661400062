package hostinet

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/socket"
	"golang.org/x/sys/unix"
)

// ctx is a vfs.Context whose blocking waits on the channel (no signals).
type ctx struct{}

func (ctx) Block(ch <-chan struct{}) error { <-ch; return nil }
func (ctx) BlockTimeout(ch <-chan struct{}, d time.Duration) error {
	select {
	case <-ch:
		return nil
	case <-time.After(d):
		return unix.ETIMEDOUT
	}
}
func (ctx) FSUID() uint32    { return 0 }
func (ctx) FSGID() uint32    { return 0 }
func (ctx) ProcessID() int32 { return 1 }

func sockaddr4(ip [4]byte, port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	copy(b[4:], ip[:])
	return b
}

func port(sa []byte) int { return int(binary.BigEndian.Uint16(sa[2:])) }

var loopback = [4]byte{127, 0, 0, 1}

func newSocket(t *testing.T, typ int) socket.Endpoint {
	t.Helper()
	ep, err := Family{Domain: unix.AF_INET}.Socket(ctx{}, socket.NewStack(), typ, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(ep.Release)
	return ep
}

// TestStreamEcho: listen, a blocking connect, accept and data both ways
// through host sockets, with a blocking receive woken by host readiness.
func TestStreamEcho(t *testing.T) {
	l := newSocket(t, unix.SOCK_STREAM)
	if err := l.Bind(ctx{}, sockaddr4(loopback, 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx{}, 8); err != nil {
		t.Fatal(err)
	}
	c := newSocket(t, unix.SOCK_STREAM)
	if err := c.Connect(ctx{}, sockaddr4(loopback, port(l.SockName())), socket.Wait{}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	s, err := l.Accept(ctx{}, socket.Wait{})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer s.Release()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 5)
		n, err := s.RecvMsg(ctx{}, &socket.RecvMsg{Data: socket.Bytes(buf), Flags: unix.MSG_WAITALL}, socket.Wait{})
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	for _, part := range []string{"he", "llo"} {
		if _, err := c.SendMsg(ctx{}, &socket.SendMsg{Data: socket.Bytes(part)}, socket.Wait{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := <-got; g != "hello" {
		t.Fatalf("received %q, want hello", g)
	}
	peer, err := s.PeerName()
	if err != nil || port(peer) != port(c.SockName()) {
		t.Fatalf("peer name %v (%v), want the client's port %d", peer, err, port(c.SockName()))
	}
	if _, err := s.RecvMsg(ctx{}, &socket.RecvMsg{Data: socket.Bytes(make([]byte, 1))}, socket.Wait{Nonblock: true}); err != unix.EAGAIN {
		t.Fatalf("empty non-blocking receive: %v, want EAGAIN", err)
	}
}

// TestConnectRefused: a connect to a closed port gives ECONNREFUSED
// (blocking), or EINPROGRESS then SO_ERROR ECONNREFUSED (non-blocking).
func TestConnectRefused(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := newSocket(t, unix.SOCK_STREAM)
	if err := c.Connect(ctx{}, sockaddr4(loopback, closed), socket.Wait{}); err != unix.ECONNREFUSED {
		t.Fatalf("blocking connect: %v, want ECONNREFUSED", err)
	}
	n := newSocket(t, unix.SOCK_STREAM)
	err = n.Connect(ctx{}, sockaddr4(loopback, closed), socket.Wait{Nonblock: true})
	if err == unix.EINPROGRESS {
		for n.Readiness(0x4) == 0 {
			time.Sleep(time.Millisecond)
		}
		v, _, gerr := n.(*endpoint).GetSocketOption(unix.SO_ERROR, 4)
		if gerr != nil {
			t.Fatal(gerr)
		}
		err = unix.Errno(binary.LittleEndian.Uint32(v))
	}
	if err != unix.ECONNREFUSED {
		t.Fatalf("non-blocking connect: %v, want ECONNREFUSED", err)
	}
}

// TestDatagram: UDP with addresses both ways, and MSG_TRUNC.
func TestDatagram(t *testing.T) {
	a, b := newSocket(t, unix.SOCK_DGRAM), newSocket(t, unix.SOCK_DGRAM)
	for _, e := range []socket.Endpoint{a, b} {
		if err := e.Bind(ctx{}, sockaddr4(loopback, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.SendMsg(ctx{}, &socket.SendMsg{Data: socket.Bytes("datagram"), To: sockaddr4(loopback, port(b.SockName()))}, socket.Wait{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	m := &socket.RecvMsg{Data: socket.Bytes(buf), Flags: unix.MSG_TRUNC}
	n, err := b.RecvMsg(ctx{}, m, socket.Wait{})
	if err != nil || n != 8 || string(buf) != "data" || m.OutFlags&unix.MSG_TRUNC == 0 {
		t.Fatalf("recv: %d %q flags %#x (%v), want 8 \"data\" MSG_TRUNC", n, buf, m.OutFlags, err)
	}
	if port(m.From) != port(a.SockName()) {
		t.Fatalf("from port %d, want %d", port(m.From), port(a.SockName()))
	}
}

// TestOptions: allowlisted options reach the host; others are refused.
func TestOptions(t *testing.T) {
	e := newSocket(t, unix.SOCK_STREAM).(*endpoint)
	one := []byte{1, 0, 0, 0}
	if err := e.SetSockOpt(ctx{}, unix.IPPROTO_TCP, unix.TCP_NODELAY, one); err != nil {
		t.Fatal(err)
	}
	if v, err := unix.GetsockoptInt(e.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v != 1 {
		t.Fatalf("host TCP_NODELAY = %d (%v), want 1", v, err)
	}
	if handled, err := e.SetSocketOption(ctx{}, unix.SO_REUSEADDR, one); !handled || err != nil {
		t.Fatalf("SO_REUSEADDR: handled %v, %v", handled, err)
	}
	if v, _ := unix.GetsockoptInt(e.fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 1 {
		t.Fatalf("host SO_REUSEADDR = %d, want 1", v)
	}
	if err := e.SetSockOpt(ctx{}, unix.IPPROTO_IP, unix.IP_HDRINCL, one); !errors.Is(err, unix.ENOPROTOOPT) {
		t.Fatalf("IP_HDRINCL: %v, want ENOPROTOOPT", err)
	}
	if _, err := (Family{Domain: unix.AF_INET}).Socket(ctx{}, socket.NewStack(), unix.SOCK_RAW, unix.IPPROTO_ICMP); err != unix.EPERM {
		t.Fatalf("raw socket: %v, want EPERM", err)
	}
	if _, err := (Family{Domain: unix.AF_INET}).Socket(ctx{}, socket.NewStack(), unix.SOCK_STREAM, unix.IPPROTO_UDP); err != unix.EPROTONOSUPPORT {
		t.Fatalf("stream UDP: %v, want EPROTONOSUPPORT", err)
	}
}

// TestReadHost: the host's loopback interface and its /proc/net/tcp.
func TestReadHost(t *testing.T) {
	h, err := ReadHost()
	if err != nil {
		t.Fatal(err)
	}
	var lo *socket.Interface
	for _, ifc := range h.Network.Interfaces() {
		if ifc.Name == "lo" {
			lo = &ifc
		}
	}
	if lo == nil || lo.Flags&unix.IFF_LOOPBACK == 0 || len(lo.Addrs) == 0 {
		t.Fatalf("no loopback interface with addresses in %+v", h.Network.Interfaces())
	}
	st := socket.NewStack()
	Install(st, h)
	if tcp := st.ProcNet("tcp"); !strings.Contains(tcp, "local_address") {
		t.Fatalf("/proc/net/tcp = %q", tcp)
	}
	if len(h.Network.Routes()) == 0 {
		t.Fatal("no routes")
	}
}
