package netlink

import (
	"encoding/binary"
	"testing"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	linux "golang.org/x/sys/unix"
)

// ctx is a caller with or without CAP_NET_ADMIN.
type ctx struct {
	*vfstest.Context
	admin bool
}

func (c *ctx) HasCapability(cp int) bool { return c.admin && cp == linux.CAP_NET_ADMIN }

func caller(pid int32, admin bool) *ctx {
	return &ctx{Context: &vfstest.Context{PID: pid}, admin: admin}
}

var nb = socket.Wait{Nonblock: true}

func newSocket(t *testing.T, st *socket.Stack, c *ctx) *endpoint {
	t.Helper()
	ep, err := family{}.Socket(c, st, linux.SOCK_RAW, linux.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Release)
	return ep.(*endpoint)
}

func request(typ, flags uint16, seq uint32, body []byte) []byte {
	m := newMessage(typ, flags, seq, 0)
	m.put(body)
	return m.bytes()
}

func send(t *testing.T, e *endpoint, c *ctx, b []byte) {
	t.Helper()
	if n, err := e.SendMsg(c, &socket.SendMsg{Data: socket.Bytes(b)}, nb); err != nil || n != len(b) {
		t.Fatalf("send: %d, %v", n, err)
	}
}

type reply struct {
	h    header
	body []byte
}

// recvAll reads every queued datagram and splits the messages.
func recvAll(t *testing.T, e *endpoint, c *ctx) (msgs []reply, datagrams int) {
	t.Helper()
	for {
		buf := make([]byte, 1<<16)
		m := &socket.RecvMsg{Data: socket.Bytes(buf)}
		n, err := e.RecvMsg(c, m, nb)
		if err == linux.EAGAIN {
			return msgs, datagrams
		}
		if err != nil {
			t.Fatal(err)
		}
		if pid := binary.LittleEndian.Uint32(m.From[4:]); pid != 0 {
			t.Errorf("reply from port %d, want the kernel (0)", pid)
		}
		datagrams++
		b := buf[:n]
		for len(b) >= nlmsgHdrLen {
			h := parseHeader(b)
			msgs = append(msgs, reply{h, b[nlmsgHdrLen:h.len]})
			b = b[align4(int(h.len)):]
		}
	}
}

func TestAutobindAndPortIDs(t *testing.T) {
	st := socket.NewStack()
	c := caller(42, false)
	a := newSocket(t, st, c)
	if err := a.Bind(c, sockaddr(0, 0)); err != nil {
		t.Fatal(err)
	}
	if pid := binary.LittleEndian.Uint32(a.SockName()[4:]); pid != 42 {
		t.Errorf("first socket's port %d, want the pid 42", pid)
	}
	b := newSocket(t, st, c)
	send(t, b, c, request(linux.RTM_GETLINK, linux.NLM_F_REQUEST|linux.NLM_F_DUMP, 1, make([]byte, linux.SizeofIfInfomsg)))
	if pid := int32(binary.LittleEndian.Uint32(b.SockName()[4:])); pid >= 0 {
		t.Errorf("second socket autobound to %d, want a negative port id", pid)
	}
	d := newSocket(t, st, c)
	if err := d.Bind(c, sockaddr(42, 0)); err != linux.EADDRINUSE {
		t.Errorf("bind to a used port: %v, want EADDRINUSE", err)
	}
	if _, err := (family{}).Socket(c, st, linux.SOCK_RAW, linux.NETLINK_AUDIT); err != linux.EPROTONOSUPPORT {
		t.Errorf("NETLINK_AUDIT: %v, want EPROTONOSUPPORT", err)
	}
	if _, err := (family{}).Socket(c, st, linux.SOCK_STREAM, linux.NETLINK_ROUTE); err != linux.ESOCKTNOSUPPORT {
		t.Errorf("SOCK_STREAM: %v, want ESOCKTNOSUPPORT", err)
	}
}

func TestDumpsEndWithDone(t *testing.T) {
	st := socket.NewStack()
	c := caller(7, false)
	e := newSocket(t, st, c)
	for _, tc := range []struct {
		typ, want uint16
		body      []byte
		count     int
	}{
		{linux.RTM_GETLINK, linux.RTM_NEWLINK, make([]byte, linux.SizeofIfInfomsg), 1},
		{linux.RTM_GETADDR, linux.RTM_NEWADDR, []byte{linux.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0}, 2},
		{linux.RTM_GETADDR, linux.RTM_NEWADDR, []byte{linux.AF_INET, 0, 0, 0, 0, 0, 0, 0}, 1},
		{linux.RTM_GETROUTE, linux.RTM_NEWROUTE, make([]byte, linux.SizeofRtMsg), 4},
		{linux.RTM_GETNEIGH, 0, make([]byte, 12), 0},
	} {
		send(t, e, c, request(tc.typ, linux.NLM_F_REQUEST|linux.NLM_F_DUMP, 77, tc.body))
		msgs, _ := recvAll(t, e, c)
		if len(msgs) != tc.count+1 {
			t.Fatalf("dump %d: %d messages, want %d and NLMSG_DONE", tc.typ, len(msgs), tc.count)
		}
		for i, m := range msgs {
			want := tc.want
			if i == tc.count {
				want = linux.NLMSG_DONE
			}
			if m.h.typ != want || m.h.seq != 77 || m.h.pid != 7 || m.h.flags&linux.NLM_F_MULTI == 0 {
				t.Errorf("dump %d message %d: %+v, want type %d seq 77 pid 7 multi", tc.typ, i, m.h, want)
			}
		}
	}
}

func TestErrorsAndAcks(t *testing.T) {
	st := socket.NewStack()
	user, admin := caller(7, false), caller(8, true)
	e := newSocket(t, st, user)
	addr := make([]byte, linux.SizeofIfAddrmsg)
	for _, tc := range []struct {
		c     *ctx
		typ   uint16
		flags uint16
		body  []byte
		errno int32
	}{
		{user, linux.RTM_NEWADDR, 0, addr, -int32(linux.EPERM)},
		{admin, linux.RTM_NEWADDR, 0, addr, -int32(linux.EOPNOTSUPP)},
		{admin, linux.RTM_NEWROUTE, 0, make([]byte, linux.SizeofRtMsg), -int32(linux.EOPNOTSUPP)},
		{user, linux.RTM_GETLINK, 0, linkReq(99, 0, 0), -int32(linux.ENODEV)},
		{admin, linux.RTM_NEWLINK, linux.NLM_F_ACK, linkReq(1, linux.IFF_UP, linux.IFF_UP), 0},
		{admin, linux.RTM_NEWLINK, 0, linkReq(1, 0, linux.IFF_UP), -int32(linux.EOPNOTSUPP)},
		{admin, linux.RTM_NEWLINK, 0, linkReq(0, 0, 0), -int32(linux.ENODEV)},
		{user, 0x7f, 0, addr, -int32(linux.EOPNOTSUPP)},
	} {
		send(t, e, tc.c, request(tc.typ, linux.NLM_F_REQUEST|tc.flags, 5, tc.body))
		msgs, _ := recvAll(t, e, tc.c)
		if len(msgs) != 1 || msgs[0].h.typ != linux.NLMSG_ERROR {
			t.Fatalf("request %d: replies %+v, want one NLMSG_ERROR", tc.typ, msgs)
		}
		got := int32(binary.LittleEndian.Uint32(msgs[0].body))
		if got != tc.errno {
			t.Errorf("request %d (admin %v): error %d, want %d", tc.typ, tc.c.admin, got, tc.errno)
		}
		if echoed := parseHeader(msgs[0].body[4:]); echoed.typ != tc.typ || echoed.seq != 5 {
			t.Errorf("request %d: the error quotes %+v", tc.typ, echoed)
		}
	}
	// A message that is no request is only acknowledged when asked.
	send(t, e, user, request(linux.RTM_GETLINK, 0, 6, linkReq(1, 0, 0)))
	if msgs, _ := recvAll(t, e, user); len(msgs) != 0 {
		t.Errorf("a non-request without NLM_F_ACK got %d replies", len(msgs))
	}
}

func linkReq(index int32, flags, change uint32) []byte {
	b := make([]byte, linux.SizeofIfInfomsg)
	binary.LittleEndian.PutUint32(b[4:], uint32(index))
	binary.LittleEndian.PutUint32(b[8:], flags)
	binary.LittleEndian.PutUint32(b[12:], change)
	return b
}

// twoLinks is a Network as the IP networking work would provide.
type twoLinks struct{ socket.Loopback }

func (n twoLinks) Interfaces() []socket.Interface {
	ifs := n.Loopback.Interfaces()
	return append(ifs, socket.Interface{Index: 2, Name: "eth0", Type: linux.ARPHRD_ETHER, MTU: 1500,
		Flags:  linux.IFF_UP | linux.IFF_BROADCAST | linux.IFF_MULTICAST,
		HWAddr: []byte{2, 0, 0, 0, 0, 1}, Broadcast: []byte{255, 255, 255, 255, 255, 255},
		Addrs: []socket.InterfaceAddr{{Family: linux.AF_INET, Addr: []byte{10, 0, 0, 2}, PrefixLen: 24,
			Scope: linux.RT_SCOPE_UNIVERSE, Broadcast: []byte{10, 0, 0, 255}}}})
}

func TestNetworkProvider(t *testing.T) {
	st := socket.NewStack()
	st.SetNetwork(twoLinks{})
	c := caller(7, false)
	e := newSocket(t, st, c)
	send(t, e, c, request(linux.RTM_GETADDR, linux.NLM_F_REQUEST|linux.NLM_F_DUMP, 1, []byte{linux.AF_INET, 0, 0, 0, 0, 0, 0, 0}))
	msgs, datagrams := recvAll(t, e, c)
	if len(msgs) != 3 || datagrams != 2 {
		t.Fatalf("IPv4 address dump: %d messages in %d datagrams, want 2 addresses and NLMSG_DONE in 2", len(msgs), datagrams)
	}
	a := attrs(msgs[1].body[linux.SizeofIfAddrmsg:])
	if string(a[linux.IFA_LABEL]) != "eth0\x00" || string(a[linux.IFA_BROADCAST]) != "\x0a\x00\x00\xff" {
		t.Errorf("eth0 address attributes %v", a)
	}
	// RTM_GETLINK by name.
	req := newMessage(linux.RTM_GETLINK, linux.NLM_F_REQUEST, 2, 0)
	req.put(make([]byte, linux.SizeofIfInfomsg))
	req.str(linux.IFLA_IFNAME, "eth0")
	send(t, e, c, req.bytes())
	msgs, _ = recvAll(t, e, c)
	if len(msgs) != 1 || msgs[0].h.typ != linux.RTM_NEWLINK || int32(binary.LittleEndian.Uint32(msgs[0].body[4:])) != 2 {
		t.Fatalf("RTM_GETLINK eth0: %+v", msgs)
	}
}

func TestPeekTruncAndOverrun(t *testing.T) {
	st := socket.NewStack()
	c := caller(7, false)
	e := newSocket(t, st, c)
	send(t, e, c, request(linux.RTM_GETLINK, linux.NLM_F_REQUEST, 1, linkReq(1, 0, 0)))
	m := &socket.RecvMsg{Data: socket.Bytes(nil), Flags: linux.MSG_PEEK | linux.MSG_TRUNC}
	n, err := e.RecvMsg(c, m, nb)
	if err != nil || n <= nlmsgHdrLen || m.OutFlags&linux.MSG_TRUNC == 0 {
		t.Fatalf("peek with MSG_TRUNC: %d, %v, flags %#x", n, err, m.OutFlags)
	}
	buf := make([]byte, n)
	if got, _ := e.RecvMsg(c, &socket.RecvMsg{Data: socket.Bytes(buf)}, nb); got != n {
		t.Errorf("read %d after peeking %d", got, n)
	}
	// A reader that never reads loses replies past SO_RCVBUF: ENOBUFS.
	for i := 0; i < 1000; i++ {
		send(t, e, c, request(linux.RTM_GETLINK, linux.NLM_F_REQUEST, 1, linkReq(1, 0, 0)))
	}
	if err := e.TakeError(); err != linux.ENOBUFS {
		t.Errorf("overrun: pending error %v, want ENOBUFS", err)
	}
}
