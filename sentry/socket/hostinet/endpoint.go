package hostinet

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/veil-sandbox/veil/sentry/fdnotify"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Sizes of the Sentry's buffers between the application and a host
// socket: one host call moves at most maxChunk bytes of a stream (a
// blocking send loops until all is sent, as Linux's does); a datagram is
// at most maxDatagram (IP's limit; larger ones are EMSGSIZE).
const (
	maxChunk    = 1 << 20
	maxDatagram = 65535
)

// The MSG_* flags passed on to the host; the host call always gets
// MSG_DONTWAIT (the Sentry blocks the task itself) and, on sends,
// MSG_NOSIGNAL (SIGPIPE is the application's, sent by the Sentry).
const (
	sendFlags = unix.MSG_OOB | unix.MSG_DONTROUTE | unix.MSG_EOR | unix.MSG_MORE | unix.MSG_CONFIRM
	recvFlags = unix.MSG_OOB | unix.MSG_PEEK | unix.MSG_TRUNC
)

// Buffers between the application and host calls are reused: a stream
// moves up to maxChunk per call, and making that afresh each time would
// keep the garbage collector busy.
var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, maxChunk); return &b }}
)

// getBuf returns a buffer of size bytes and the function that gives it
// back.
func getBuf(size int) ([]byte, func()) {
	pool := &smallBufs
	switch {
	case size <= 4096:
		return make([]byte, size), func() {}
	case size > maxChunk:
		return make([]byte, size), func() {}
	case size > maxDatagram:
		pool = &largeBufs
	}
	p := pool.Get().(*[]byte)
	return (*p)[:size], func() { pool.Put(p) }
}

// endpoint is one host socket.
type endpoint struct {
	*socket.Common
	fd int
	q  waiter.Queue

	listening atomic.Bool
	release   sync.Once
}

var _ socket.Endpoint = (*endpoint)(nil)
var _ socket.SocketLevelOptions = (*endpoint)(nil)

// newEndpoint takes ownership of fd, a non-blocking host socket.
func newEndpoint(fd, family, typ, protocol int) (*endpoint, error) {
	e := &endpoint{Common: socket.NewCommon(family, typ, protocol), fd: fd}
	if err := fdnotify.Add(fd, &e.q); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return e, nil
}

func (e *endpoint) stream() bool { return e.Type == unix.SOCK_STREAM }

// Sock implements socket.Endpoint.
func (e *endpoint) Sock() *socket.Common { return e.Common }

// Readiness implements waiter.Waitable.
func (e *endpoint) Readiness(mask waiter.EventMask) waiter.EventMask {
	return fdnotify.Poll(e.fd, mask)
}

// EventRegister implements waiter.Waitable.
func (e *endpoint) EventRegister(w *waiter.Entry) { e.q.EventRegister(w) }

// EventUnregister implements waiter.Waitable.
func (e *endpoint) EventUnregister(w *waiter.Entry) { e.q.EventUnregister(w) }

// Release implements socket.Endpoint.
func (e *endpoint) Release() {
	e.release.Do(func() {
		fdnotify.Remove(e.fd)
		unix.Close(e.fd)
	})
}

// addrCall makes a host call taking (fd, sockaddr, len): the address
// bytes are the application's, in the same Linux format; the host
// checks them.
func (e *endpoint) addrCall(nr uintptr, addr []byte) error {
	var p unsafe.Pointer
	if len(addr) > 0 {
		p = unsafe.Pointer(&addr[0])
	}
	_, _, errno := unix.Syscall(nr, uintptr(e.fd), uintptr(p), uintptr(len(addr)))
	if errno != 0 {
		return errno
	}
	return nil
}

// Bind implements socket.Endpoint.
func (e *endpoint) Bind(ctx vfs.Context, addr []byte) error {
	return e.addrCall(unix.SYS_BIND, addr)
}

// Listen implements socket.Endpoint.
func (e *endpoint) Listen(ctx vfs.Context, backlog int) error {
	if err := unix.Listen(e.fd, backlog); err != nil {
		return err
	}
	e.listening.Store(true)
	return nil
}

// Listening implements socket.Endpoint.
func (e *endpoint) Listening() bool { return e.listening.Load() }

// Accept implements socket.Endpoint.
func (e *endpoint) Accept(ctx vfs.Context, w socket.Wait) (socket.Endpoint, error) {
	b := socket.NewBlocker(ctx, w)
	defer b.Close()
	for {
		// Registered before trying, so a connection arriving between
		// the try and the wait is not missed.
		b.Register(&e.q, waiter.EventIn)
		nfd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(e.fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
			return newEndpoint(int(nfd), e.Family, e.Type, e.Protocol)
		case unix.EAGAIN:
			if err := b.Wait(); err != nil {
				return nil, err
			}
		default:
			return nil, errno
		}
	}
}

// Connect implements socket.Endpoint. A stream connect that the host
// starts (EINPROGRESS), or one already under way (EALREADY: a blocking
// connect restarted after a signal), is waited for unless non-blocking;
// its result is the host's SO_ERROR. A connect whose SO_SNDTIMEO passes
// returns EINPROGRESS, as Linux's does.
func (e *endpoint) Connect(ctx vfs.Context, addr []byte, w socket.Wait) error {
	b := socket.NewBlocker(ctx, w)
	defer b.Close()
	b.Register(&e.q, waiter.EventOut)
	err := e.addrCall(unix.SYS_CONNECT, addr)
	if (err != unix.EINPROGRESS && err != unix.EALREADY) || w.Nonblock {
		return err
	}
	for fdnotify.Poll(e.fd, waiter.EventOut) == 0 {
		if werr := b.Wait(); werr != nil {
			if werr == unix.EAGAIN {
				return unix.EINPROGRESS
			}
			return werr
		}
	}
	v, gerr := unix.GetsockoptInt(e.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if gerr != nil {
		return gerr
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// Shutdown implements socket.Endpoint.
func (e *endpoint) Shutdown(ctx vfs.Context, how int) error {
	return unix.Shutdown(e.fd, how)
}

// sockaddr returns the address one of getsockname and getpeername gives.
func (e *endpoint) sockaddr(nr uintptr) ([]byte, error) {
	buf := make([]byte, socket.SizeofSockaddrStorage)
	n := uint32(len(buf))
	_, _, errno := unix.Syscall(nr, uintptr(e.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)))
	if errno != 0 {
		return nil, errno
	}
	return buf[:min(int(n), len(buf))], nil
}

// SockName implements socket.Endpoint.
func (e *endpoint) SockName() []byte {
	a, err := e.sockaddr(unix.SYS_GETSOCKNAME)
	if err != nil {
		b := make([]byte, 2)
		*(*uint16)(unsafe.Pointer(&b[0])) = uint16(e.Family)
		return b
	}
	return a
}

// PeerName implements socket.Endpoint.
func (e *endpoint) PeerName() ([]byte, error) { return e.sockaddr(unix.SYS_GETPEERNAME) }

// msg makes one host sendmsg or recvmsg on buf and name.
func (e *endpoint) msg(nr uintptr, buf, name []byte, flags int) (int, *unix.Msghdr, error) {
	var h unix.Msghdr
	var iov unix.Iovec
	if len(buf) > 0 {
		iov.Base = &buf[0]
		iov.SetLen(len(buf))
		h.Iov = &iov
		h.SetIovlen(1)
	}
	if len(name) > 0 {
		h.Name = &name[0]
		h.Namelen = uint32(len(name))
	}
	n, _, errno := unix.Syscall(nr, uintptr(e.fd), uintptr(unsafe.Pointer(&h)), uintptr(flags))
	if errno != 0 {
		return 0, &h, errno
	}
	return int(n), &h, nil
}

// SendMsg implements socket.Endpoint.
func (e *endpoint) SendMsg(ctx vfs.Context, m *socket.SendMsg, w socket.Wait) (int, error) {
	if len(m.Rights) > 0 || m.Creds != nil {
		return 0, unix.EINVAL
	}
	total := m.Data.Len()
	if !e.stream() && total > maxDatagram {
		return 0, unix.EMSGSIZE
	}
	flags := m.Flags&sendFlags | unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	size := total
	if e.stream() {
		size = min(total, maxChunk)
	}
	buf, put := getBuf(size)
	defer put()
	b := socket.NewBlocker(ctx, w)
	defer b.Close()
	sent := 0
	// pending is buf[:n] copied from the application but not yet sent.
	var pending []byte
	for {
		if len(pending) == 0 {
			n, cerr := m.Data.CopyIn(sent, buf[:min(size, total-sent)])
			if n == 0 && cerr != nil {
				return partial(sent, unix.EFAULT)
			}
			pending = buf[:n]
		}
		b.Register(&e.q, waiter.EventOut)
		n, _, err := e.msg(unix.SYS_SENDMSG, pending, m.To, flags)
		switch {
		case err == unix.EAGAIN:
			if werr := b.Wait(); werr != nil {
				return partial(sent, werr)
			}
			continue
		case err == unix.EPIPE && e.stream() && m.Flags&unix.MSG_NOSIGNAL == 0:
			socket.SignalPipe(ctx)
			return partial(sent, err)
		case err != nil:
			return partial(sent, err)
		}
		sent += n
		pending = pending[n:]
		if sent >= total || !e.stream() {
			return sent, nil
		}
	}
}

// partial is what a send or receive returns after moving done bytes and
// then meeting err: the bytes if any, else the error.
func partial(done int, err error) (int, error) {
	if done > 0 {
		return done, nil
	}
	return 0, err
}

// RecvMsg implements socket.Endpoint. MSG_WAITALL on a stream is done
// here (the host call never waits).
func (e *endpoint) RecvMsg(ctx vfs.Context, m *socket.RecvMsg, w socket.Wait) (int, error) {
	total := m.Data.Len()
	flags := m.Flags&recvFlags | unix.MSG_DONTWAIT
	size := min(total, maxDatagram)
	waitAll := false
	if e.stream() {
		size = min(total, maxChunk)
		waitAll = m.Flags&unix.MSG_WAITALL != 0 && m.Flags&unix.MSG_PEEK == 0
	}
	buf, put := getBuf(size)
	defer put()
	var name []byte
	if !e.stream() {
		name = make([]byte, socket.SizeofSockaddrStorage)
	}
	b := socket.NewBlocker(ctx, w)
	defer b.Close()
	got := 0
	for {
		b.Register(&e.q, waiter.EventIn)
		n, h, err := e.msg(unix.SYS_RECVMSG, buf[:min(size, total-got)], name, flags)
		if err == unix.EAGAIN {
			if werr := b.Wait(); werr != nil {
				return partial(got, werr)
			}
			continue
		}
		if err != nil {
			return partial(got, err)
		}
		c := min(n, len(buf))
		if c > 0 {
			if k, cerr := m.Data.CopyOut(got, buf[:c]); cerr != nil {
				return partial(got+k, unix.EFAULT)
			}
		}
		if !e.stream() {
			if h.Namelen > 0 {
				m.From = append([]byte(nil), name[:min(int(h.Namelen), len(name))]...)
			}
			m.OutFlags = int(h.Flags)
			return n, nil
		}
		got += n
		if n == 0 || !waitAll || got >= total {
			m.OutFlags = int(h.Flags)
			return got, nil
		}
	}
}

// Ioctl implements socket.Endpoint: the queue sizes, from the host.
func (e *endpoint) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	switch cmd {
	case unix.SIOCINQ, unix.SIOCOUTQ:
		v, err := unix.IoctlGetInt(e.fd, uint(cmd))
		if err != nil {
			return 0, err
		}
		var b [4]byte
		*(*int32)(unsafe.Pointer(&b[0])) = int32(v)
		if err := io.CopyOut(uintptr(arg), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	}
	return 0, unix.ENOTTY
}
