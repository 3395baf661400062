package unix

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
)

// ctx is a test caller with its own credentials.
type ctx struct {
	*vfstest.Context
	scm, peer socket.Creds
}

func (c *ctx) SocketCreds() (socket.Creds, socket.Creds) { return c.scm, c.peer }

func newCtx(pid int32, uid uint32) *ctx {
	return &ctx{Context: &vfstest.Context{UID: uid, GID: uid, PID: pid, Interrupt: make(chan struct{})},
		scm: socket.Creds{PID: pid, UID: uid, GID: uid}, peer: socket.Creds{PID: pid, UID: uid, GID: uid}}
}

// fakeFS stands for the VFS: socket nodes by path.
type fakeFS struct {
	mu    sync.Mutex
	nodes map[string]vfs.Inode
}

type fakeInode struct {
	vfs.InodeDefaults
	sock bool
}

func (*fakeInode) Stat(vfs.Context) (vfs.Stat, error) {
	return vfs.Stat{Mode: linux.S_IFSOCK | 0o777}, nil
}

var fs = &fakeFS{nodes: map[string]vfs.Inode{}}

func init() {
	socket.SetHooks(socket.Hooks{
		BindPath: func(_ vfs.Context, path string, _ uint32) (vfs.Inode, error) {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			if fs.nodes[path] != nil {
				return nil, linux.EEXIST
			}
			ino := &fakeInode{sock: true}
			fs.nodes[path] = ino
			return ino, nil
		},
		UnlinkPath: func(_ vfs.Context, path string) error {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			delete(fs.nodes, path)
			return nil
		},
		ConnectPath: func(_ vfs.Context, path string) (vfs.Inode, error) {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			ino := fs.nodes[path]
			if ino == nil {
				return nil, linux.ENOENT
			}
			if !ino.(*fakeInode).sock {
				return nil, linux.ECONNREFUSED
			}
			return ino, nil
		},
	})
}

var (
	nb      = socket.Wait{Nonblock: true}
	forever = socket.Wait{}
)

func pair(t *testing.T, typ int) (*endpoint, *endpoint) {
	t.Helper()
	a, b, err := family{}.Pair(newCtx(10, 1000), socket.NewStack(), typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Release(); b.Release() })
	return a.(*endpoint), b.(*endpoint)
}

func send(t *testing.T, e *endpoint, s string, flags int) {
	t.Helper()
	n, err := e.SendMsg(newCtx(10, 1000), &socket.SendMsg{Data: socket.Bytes(s), Flags: flags}, nb)
	if err != nil || n != len(s) {
		t.Fatalf("send %q: %d, %v", s, n, err)
	}
}

func recv(e *endpoint, size, flags int, w socket.Wait) (string, *socket.RecvMsg, error) {
	buf := make([]byte, size)
	m := &socket.RecvMsg{Data: socket.Bytes(buf), Flags: flags}
	n, err := e.RecvMsg(newCtx(10, 1000), m, w)
	if n > size {
		n = size
	}
	return string(buf[:n]), m, err
}

func mustRecv(t *testing.T, e *endpoint, size, flags int, want string) *socket.RecvMsg {
	t.Helper()
	got, m, err := recv(e, size, flags, nb)
	if err != nil || got != want {
		t.Fatalf("recv(%d): %q, %v; want %q", size, got, err, want)
	}
	return m
}

func TestStreamOrderAndJoining(t *testing.T) {
	a, b := pair(t, linux.SOCK_STREAM)
	send(t, a, "hello ", 0)
	send(t, a, "world", 0)
	mustRecv(t, b, 3, linux.MSG_PEEK, "hel")
	mustRecv(t, b, 100, linux.MSG_PEEK, "hello world")
	mustRecv(t, b, 8, 0, "hello wo")
	mustRecv(t, b, 100, 0, "rld")
	if _, _, err := recv(b, 10, 0, nb); err != linux.EAGAIN {
		t.Fatalf("empty stream: %v, want EAGAIN", err)
	}
}

func TestDatagramBoundaries(t *testing.T) {
	for _, typ := range []int{linux.SOCK_DGRAM, linux.SOCK_SEQPACKET} {
		a, b := pair(t, typ)
		send(t, a, "one", 0)
		send(t, a, "", 0)
		send(t, a, "three", 0)
		mustRecv(t, b, 100, 0, "one")
		mustRecv(t, b, 100, 0, "")
		m := mustRecv(t, b, 2, 0, "th")
		if m.OutFlags&linux.MSG_TRUNC == 0 {
			t.Errorf("type %d: truncated datagram without MSG_TRUNC", typ)
		}
		if _, _, err := recv(b, 10, 0, nb); err != linux.EAGAIN {
			t.Fatalf("type %d: the rest of a truncated datagram must be gone, got %v", typ, err)
		}
		send(t, a, "four", 0)
		buf := make([]byte, 1)
		n, err := b.RecvMsg(newCtx(10, 1000), &socket.RecvMsg{Data: socket.Bytes(buf), Flags: linux.MSG_TRUNC}, nb)
		if n != 4 || err != nil {
			t.Errorf("type %d: MSG_TRUNC gives %d, %v, want the datagram's length 4", typ, n, err)
		}
	}
}

func TestStreamShutdown(t *testing.T) {
	a, b := pair(t, linux.SOCK_STREAM)
	send(t, a, "last", 0)
	if err := a.Shutdown(nil, linux.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if r := b.Readiness(allEvents); r&waiter.EventRdHUp == 0 || r&waiter.EventIn == 0 {
		t.Errorf("after the peer's SHUT_WR: readiness %#x, want IN|RDHUP", r)
	}
	mustRecv(t, b, 10, 0, "last")
	mustRecv(t, b, 10, 0, "") // end of file, not EAGAIN
	n, err := a.SendMsg(newCtx(10, 1000), &socket.SendMsg{Data: socket.Bytes("x"), Flags: linux.MSG_NOSIGNAL}, nb)
	if n != 0 || err != linux.EPIPE {
		t.Errorf("send after SHUT_WR: %d, %v; want EPIPE", n, err)
	}
	// The other direction still works.
	send(t, b, "back", 0)
	mustRecv(t, a, 10, 0, "back")
}

func TestCloseWithUnreadDataResetsPeer(t *testing.T) {
	a, b, _ := family{}.Pair(newCtx(1, 0), socket.NewStack(), linux.SOCK_STREAM, 0)
	ea, eb := a.(*endpoint), b.(*endpoint)
	defer eb.Release()
	send(t, eb, "unread", 0)
	ea.Release()
	if _, _, err := recv(eb, 10, 0, nb); err != linux.ECONNRESET {
		t.Errorf("read after the peer closed with unread data: %v, want ECONNRESET", err)
	}
	mustRecv(t, eb, 10, 0, "")
	if r := eb.Readiness(allEvents); r&waiter.EventHUp == 0 {
		t.Errorf("readiness after the peer closed %#x, want HUP", r)
	}
}

func TestCredentials(t *testing.T) {
	a, b := pair(t, linux.SOCK_STREAM)
	if cr, ok := a.PeerCred(); !ok || cr.PID != 10 || cr.UID != 1000 {
		t.Errorf("socketpair SO_PEERCRED %+v %v, want the creator's", cr, ok)
	}
	// Sent before SO_PASSCRED, from a socket without it: no credentials.
	send(t, a, "a", 0)
	b.SetSockOptFlag(linux.SO_PASSCRED)
	m := mustRecv(t, b, 10, 0, "a")
	if m.Creds == nil || *m.Creds != socket.NoCreds {
		t.Errorf("credentials of a message sent before SO_PASSCRED: %+v, want %+v", m.Creds, socket.NoCreds)
	}
	// Data from different senders is not joined in one read.
	c1, c2 := newCtx(20, 1), newCtx(30, 2)
	a.SendMsg(c1, &socket.SendMsg{Data: socket.Bytes("xx")}, nb)
	a.SendMsg(c2, &socket.SendMsg{Data: socket.Bytes("yy")}, nb)
	m = mustRecv(t, b, 10, 0, "xx")
	if m.Creds == nil || m.Creds.PID != 20 || m.Creds.UID != 1 {
		t.Errorf("creds %+v, want pid 20 uid 1", m.Creds)
	}
	m = mustRecv(t, b, 10, 0, "yy")
	if m.Creds == nil || m.Creds.PID != 30 {
		t.Errorf("creds %+v, want pid 30", m.Creds)
	}
	// Explicit SCM_CREDENTIALS are carried as given.
	a.SendMsg(c1, &socket.SendMsg{Data: socket.Bytes("z"), Creds: &socket.Creds{PID: 20, UID: 7, GID: 8}}, nb)
	m = mustRecv(t, b, 10, 0, "z")
	if m.Creds == nil || *m.Creds != (socket.Creds{PID: 20, UID: 7, GID: 8}) {
		t.Errorf("explicit creds %+v", m.Creds)
	}
}

// SetSockOptFlag sets a boolean SOL_SOCKET option (test helper).
func (e *endpoint) SetSockOptFlag(opt int) {
	v := make([]byte, 4)
	binary.LittleEndian.PutUint32(v, 1)
	if err := e.Common.SetSockOpt(newCtx(1, 0), e, opt, v, func(string) {}); err != nil {
		panic(err)
	}
}

// countedFile is a file that records its release.
type countedFile struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	released *int
}

func (countedFile) Read(vfs.Context, []byte, int64, bool) (int, error)  { return 0, nil }
func (countedFile) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, nil }
func (f countedFile) Release()                                          { *f.released++ }

func newCounted(released *int) *vfs.FileDescription {
	return vfs.NewFileDescription(countedFile{released: released}, linux.O_RDWR, vfs.NewAnonInode(nil, 0o600), "counted")
}

func TestRightsLifetime(t *testing.T) {
	for _, typ := range []int{linux.SOCK_STREAM, linux.SOCK_DGRAM, linux.SOCK_SEQPACKET} {
		a, b, _ := family{}.Pair(newCtx(1, 0), socket.NewStack(), typ, 0)
		ea, eb := a.(*endpoint), b.(*endpoint)
		released := 0
		f := newCounted(&released)
		ea.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("f"), Rights: []*vfs.FileDescription{f}}, nb)
		f.DecRef() // the sender closes its descriptor: the message holds the file
		if released != 0 {
			t.Fatalf("type %d: file released while in flight", typ)
		}
		// A peek hands out a new reference, the message keeps its own.
		m := mustRecv(t, eb, 10, linux.MSG_PEEK, "f")
		if len(m.Rights) != 1 {
			t.Fatalf("type %d: peek gave %d files", typ, len(m.Rights))
		}
		m.Rights[0].DecRef()
		m = mustRecv(t, eb, 10, 0, "f")
		if len(m.Rights) != 1 || released != 0 {
			t.Fatalf("type %d: recv gave %d files, released %d", typ, len(m.Rights), released)
		}
		m.Rights[0].DecRef()
		if released != 1 {
			t.Errorf("type %d: the received file is not released with its last reference", typ)
		}
		// In flight when the receiver closes: released with the queue.
		released = 0
		f = newCounted(&released)
		ea.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("g"), Rights: []*vfs.FileDescription{f}}, nb)
		f.DecRef()
		eb.Release()
		if released != 1 {
			t.Errorf("type %d: file in flight not released when the receiver closed", typ)
		}
		ea.Release()
	}
}

func TestStreamReadStopsAtRights(t *testing.T) {
	a, b := pair(t, linux.SOCK_STREAM)
	released := 0
	f := newCounted(&released)
	defer f.DecRef()
	send(t, a, "ab", 0)
	a.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("cd"), Rights: []*vfs.FileDescription{f}}, nb)
	send(t, a, "ef", 0)
	m := mustRecv(t, b, 100, 0, "abcd")
	if len(m.Rights) != 1 {
		t.Fatalf("got %d files with the data that carried one", len(m.Rights))
	}
	m.Rights[0].DecRef()
	mustRecv(t, b, 100, 0, "ef")
}

func listener(t *testing.T, st *socket.Stack, typ int, name string, backlog int) *endpoint {
	t.Helper()
	ep, err := family{}.Socket(newCtx(5, 0), st, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := ep.(*endpoint)
	if err := l.Bind(newCtx(5, 0), sockaddr(name)); err != nil {
		t.Fatalf("bind %q: %v", name, err)
	}
	if err := l.Listen(newCtx(5, 0), backlog); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return l
}

func sockaddr(name string) []byte {
	b := make([]byte, 2, 2+len(name))
	binary.LittleEndian.PutUint16(b, linux.AF_UNIX)
	return append(b, name...)
}

func client(t *testing.T, st *socket.Stack, typ int) *endpoint {
	t.Helper()
	ep, err := family{}.Socket(newCtx(7, 1000), st, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Release)
	return ep.(*endpoint)
}

func TestConnectAcceptAndBacklog(t *testing.T) {
	st := socket.NewStack()
	l := listener(t, st, linux.SOCK_STREAM, "\x00srv", 1)
	// backlog 1 admits two pending connections (unix_recvq_full is >).
	for i := 0; i < 2; i++ {
		if err := client(t, st, linux.SOCK_STREAM).Connect(newCtx(7, 1000), sockaddr("\x00srv"), nb); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
	}
	c := client(t, st, linux.SOCK_STREAM)
	if err := c.Connect(newCtx(7, 1000), sockaddr("\x00srv"), nb); err != linux.EAGAIN {
		t.Fatalf("connect with a full backlog: %v, want EAGAIN", err)
	}
	// A blocking connect waits until accept makes room.
	done := make(chan error, 1)
	go func() { done <- c.Connect(newCtx(7, 1000), sockaddr("\x00srv"), forever) }()
	select {
	case err := <-done:
		t.Fatalf("blocking connect returned %v with a full backlog", err)
	case <-time.After(50 * time.Millisecond):
	}
	s, err := l.Accept(newCtx(5, 0), nb)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if err := <-done; err != nil {
		t.Fatalf("blocked connect: %v", err)
	}
	if cr, _ := s.Sock().PeerCred(); cr.PID != 7 || cr.UID != 1000 {
		t.Errorf("accepted socket's SO_PEERCRED %+v, want the connector's", cr)
	}
	if cr, _ := c.PeerCred(); cr.PID != 5 {
		t.Errorf("connector's SO_PEERCRED %+v, want the listener's", cr)
	}
	if got := s.SockName(); !bytes.Equal(got, sockaddr("\x00srv")) {
		t.Errorf("accepted socket's name %q, want the listener's", got)
	}
}

func TestConnectErrors(t *testing.T) {
	st := socket.NewStack()
	c := client(t, st, linux.SOCK_STREAM)
	if err := c.Connect(newCtx(7, 0), sockaddr("/nowhere"), nb); err != linux.ENOENT {
		t.Errorf("missing path: %v, want ENOENT", err)
	}
	if err := c.Connect(newCtx(7, 0), sockaddr("\x00nobody"), nb); err != linux.ECONNREFUSED {
		t.Errorf("unbound abstract name: %v, want ECONNREFUSED", err)
	}
	// Bound but not listening.
	b := client(t, st, linux.SOCK_STREAM)
	if err := b.Bind(newCtx(7, 0), sockaddr("/tmp/notlistening")); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(newCtx(7, 0), sockaddr("/tmp/notlistening"), nb); err != linux.ECONNREFUSED {
		t.Errorf("non-listener: %v, want ECONNREFUSED", err)
	}
	d := client(t, st, linux.SOCK_DGRAM)
	if err := d.Connect(newCtx(7, 0), sockaddr("/tmp/notlistening"), nb); err != linux.EPROTOTYPE {
		t.Errorf("datagram to a stream socket's path: %v, want EPROTOTYPE", err)
	}
	if err := b.Bind(newCtx(7, 0), sockaddr("/tmp/other")); err != linux.EINVAL {
		t.Errorf("second bind: %v, want EINVAL", err)
	}
	e := client(t, st, linux.SOCK_STREAM)
	if err := e.Bind(newCtx(7, 0), sockaddr("/tmp/notlistening")); err != linux.EADDRINUSE {
		t.Errorf("bind to an existing path: %v, want EADDRINUSE", err)
	}
	// A released socket's node stays but refuses.
	b.Release()
	if err := c.Connect(newCtx(7, 0), sockaddr("/tmp/notlistening"), nb); err != linux.ECONNREFUSED {
		t.Errorf("closed socket's path: %v, want ECONNREFUSED", err)
	}
}

func TestAutobind(t *testing.T) {
	st := socket.NewStack()
	c := client(t, st, linux.SOCK_DGRAM)
	if err := c.Bind(newCtx(7, 0), sockaddr("")); err != nil {
		t.Fatal(err)
	}
	name := c.SockName()
	if len(name) != 8 || name[2] != 0 {
		t.Fatalf("autobind name %q, want NUL and 5 hex digits", name)
	}
	d := client(t, st, linux.SOCK_DGRAM)
	d.Bind(newCtx(7, 0), sockaddr(""))
	if bytes.Equal(d.SockName(), name) {
		t.Errorf("two autobinds gave the same name")
	}
}

func TestDatagramAddressing(t *testing.T) {
	st := socket.NewStack()
	srv := client(t, st, linux.SOCK_DGRAM)
	srv.Bind(newCtx(1, 0), sockaddr("\x00dg"))
	cl := client(t, st, linux.SOCK_DGRAM)
	cl.Bind(newCtx(1, 0), sockaddr("\x00cl"))
	n, err := cl.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("ping"), To: sockaddr("\x00dg")}, nb)
	if n != 4 || err != nil {
		t.Fatalf("sendto: %d, %v", n, err)
	}
	_, m, _ := recv(srv, 10, 0, nb)
	if !bytes.Equal(m.From, sockaddr("\x00cl")) {
		t.Errorf("from %q, want the sender's name", m.From)
	}
	// A socket associated with another refuses strangers.
	srv.Connect(newCtx(1, 0), sockaddr("\x00cl"), nb)
	x := client(t, st, linux.SOCK_DGRAM)
	if _, err := x.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("x"), To: sockaddr("\x00dg")}, nb); err != linux.EPERM {
		t.Errorf("send to a socket connected elsewhere: %v, want EPERM", err)
	}
	// After its peer closes, the first send is refused, then unconnected.
	a, b := pair(t, linux.SOCK_DGRAM)
	b.Release()
	if _, err := a.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("x")}, nb); err != linux.ECONNREFUSED {
		t.Errorf("first send after the peer closed: %v, want ECONNREFUSED", err)
	}
	if _, err := a.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes("x")}, nb); err != linux.ENOTCONN {
		t.Errorf("second send: %v, want ENOTCONN", err)
	}
}

func TestReadinessAndWakeups(t *testing.T) {
	a, b := pair(t, linux.SOCK_STREAM)
	if r := b.Readiness(allEvents); r != waiter.EventOut|waiter.EventWrNorm|eventWrBand {
		t.Errorf("idle connected socket: %#x, want only writable", r)
	}
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	b.EventRegister(e)
	defer b.EventUnregister(e)
	send(t, a, "x", 0)
	select {
	case <-ch:
	default:
		t.Fatal("no EventIn notification when data arrived")
	}
	if r := b.Readiness(waiter.EventIn); r&waiter.EventIn == 0 {
		t.Errorf("readiness %#x with data queued", r)
	}
	// Fill a's send buffer: a stops being writable, and a blocked
	// writer finishes once b reads.
	a.Common.SetSockOpt(newCtx(1, 0), a, linux.SO_SNDBUF, []byte{0, 0x10, 0, 0}, func(string) {})
	big := make([]byte, 64<<10)
	n, _ := a.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes(big)}, nb)
	if n == 0 || n == len(big) {
		t.Fatalf("non-blocking send of 64K into a small buffer sent %d", n)
	}
	if r := a.Readiness(waiter.EventOut); r != 0 {
		t.Errorf("full send buffer: readiness %#x, want not writable", r)
	}
	done := make(chan int, 1)
	go func() {
		n, _ := a.SendMsg(newCtx(1, 0), &socket.SendMsg{Data: socket.Bytes(big[:1000])}, forever)
		done <- n
	}()
	drained := 0
	for drained < n+1+1000 {
		got, _, err := recv(b, 1<<20, 0, socket.Wait{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("draining: %v after %d bytes", err, drained)
		}
		drained += len(got)
	}
	if got := <-done; got != 1000 {
		t.Errorf("blocked writer sent %d, want 1000", got)
	}
}

func TestInterruptAndTimeout(t *testing.T) {
	_, b := pair(t, linux.SOCK_STREAM)
	c := newCtx(1, 0)
	go func() { time.Sleep(20 * time.Millisecond); close(c.Interrupt) }()
	buf := make([]byte, 4)
	_, err := b.RecvMsg(c, &socket.RecvMsg{Data: socket.Bytes(buf)}, forever)
	if !errors.Is(err, syserr.ErrInterrupted) {
		t.Errorf("interrupted recv: %v, want ERESTARTSYS", err)
	}
	c2 := newCtx(1, 0)
	go func() { time.Sleep(20 * time.Millisecond); close(c2.Interrupt) }()
	_, err = b.RecvMsg(c2, &socket.RecvMsg{Data: socket.Bytes(buf)}, socket.Wait{Timeout: time.Minute})
	if err != linux.EINTR {
		t.Errorf("interrupted recv with SO_RCVTIMEO: %v, want EINTR", err)
	}
	_, err = b.RecvMsg(newCtx(1, 0), &socket.RecvMsg{Data: socket.Bytes(buf)}, socket.Wait{Timeout: time.Millisecond})
	if err != linux.EAGAIN {
		t.Errorf("recv past SO_RCVTIMEO: %v, want EAGAIN", err)
	}
}

func TestListenerCloseResetsPending(t *testing.T) {
	st := socket.NewStack()
	ep, _ := family{}.Socket(newCtx(5, 0), st, linux.SOCK_SEQPACKET, 0)
	l := ep.(*endpoint)
	l.Bind(newCtx(5, 0), sockaddr("\x00gone"))
	l.Listen(newCtx(5, 0), 5)
	c := client(t, st, linux.SOCK_SEQPACKET)
	if err := c.Connect(newCtx(7, 0), sockaddr("\x00gone"), nb); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, _, err := recv(c, 10, 0, nb); err != linux.ECONNRESET {
		t.Errorf("recv on a connection its listener dropped: %v, want ECONNRESET", err)
	}
	if _, err := c.SendMsg(newCtx(7, 0), &socket.SendMsg{Data: socket.Bytes("x")}, nb); err != linux.EPIPE {
		t.Errorf("send: %v, want EPIPE", err)
	}
}

func TestQueueIoctls(t *testing.T) {
	a, b := pair(t, linux.SOCK_DGRAM)
	mem := &vfstest.Memory{Base: 0x1000, Data: make([]byte, 4)}
	read := func(e *endpoint, cmd uint32) int {
		t.Helper()
		if _, err := e.Ioctl(nil, mem, cmd, 0x1000); err != nil {
			t.Fatalf("ioctl %#x: %v", cmd, err)
		}
		return int(binary.LittleEndian.Uint32(mem.Data))
	}
	send(t, a, "12345", 0)
	send(t, a, "12", 0)
	if n := read(b, linux.SIOCINQ); n != 5 {
		t.Errorf("FIONREAD of a datagram socket %d, want the first datagram's 5", n)
	}
	if n := read(a, linux.SIOCOUTQ); n <= 7 {
		t.Errorf("TIOCOUTQ %d, want at least the bytes in flight", n)
	}
	mustRecv(t, b, 10, 0, "12345")
	mustRecv(t, b, 10, 0, "12")
	if n := read(a, linux.SIOCOUTQ); n != 0 {
		t.Errorf("TIOCOUTQ %d once everything was read", n)
	}
	s, r := pair(t, linux.SOCK_STREAM)
	send(t, s, "12345", 0)
	send(t, s, "12", 0)
	if n := read(r, linux.SIOCINQ); n != 7 {
		t.Errorf("FIONREAD of a stream %d, want 7", n)
	}
}

func TestProcNetUnix(t *testing.T) {
	st := socket.NewStack()
	l := listener(t, st, linux.SOCK_STREAM, "\x00proc\x00name", 1)
	l.SetInode(nil, 4242)
	c := client(t, st, linux.SOCK_STREAM)
	if err := c.Connect(newCtx(7, 0), sockaddr("\x00proc\x00name"), nb); err != nil {
		t.Fatal(err)
	}
	c.SetInode(nil, 4243)
	lines := strings.Split(procNetUnix(st), "\n")
	if lines[0] != "Num       RefCount Protocol Flags    Type St Inode Path" {
		t.Errorf("header %q", lines[0])
	}
	want := []string{
		"0000000000000000: 00000002 00000000 00010000 0001 01  4242 @proc@name",
		"0000000000000000: 00000002 00000000 00000000 0001 03  4243",
		// The connection the listener has not accepted yet: no inode.
		"0000000000000000: 00000002 00000000 00000000 0001 02     0 @proc@name",
	}
	for i, w := range want {
		if i+1 >= len(lines) || lines[i+1] != w {
			t.Errorf("/proc/net/unix line %d:\n got %q\nwant %q", i+1, lines[min(i+1, len(lines)-1)], w)
		}
	}
}
