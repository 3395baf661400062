package inet

import (
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	gwaiter "gvisor.dev/gvisor/pkg/waiter"
)

// allEvents are the events the engine's queue forwards.
const allEvents = gwaiter.EventIn | gwaiter.EventPri | gwaiter.EventOut | gwaiter.EventErr |
	gwaiter.EventHUp | gwaiter.EventRdNorm | gwaiter.EventWrNorm | gwaiter.EventRdHUp

// endpoint is one IP socket: a tcpip endpoint and the Sentry's side of
// it. The tcpip endpoint does its own locking; the fields here are set
// once at creation, or atomic.
type endpoint struct {
	*socket.Common
	st         *socket.Stack
	ns         *netstack.Netstack
	netProto   tcpip.NetworkProtocolNumber
	transProto tcpip.TransportProtocolNumber
	ep         tcpip.Endpoint

	// wq is the engine's queue; entry, registered on it, forwards its
	// events to queue, the one poll and blocked calls wait on.
	wq    *gwaiter.Queue
	entry gwaiter.Entry
	queue waiter.Queue

	// uid is the creator's, as /proc/net shows it.
	uid      uint32
	ino      atomic.Uint64
	released atomic.Bool
}

var (
	_ socket.Endpoint           = (*endpoint)(nil)
	_ socket.OptionObserver     = (*endpoint)(nil)
	_ socket.ErrorReporter      = (*endpoint)(nil)
	_ socket.BufferSizeObserver = (*endpoint)(nil)
	_ socket.InodeSetter        = (*endpoint)(nil)
)

func (e *endpoint) init() {
	e.entry.Init(e, allEvents)
	e.wq.EventRegister(&e.entry)
	if e.stream() {
		// Nagle's algorithm is on by default on Linux (TCP_NODELAY 0).
		e.ep.SocketOptions().SetDelayOption(true)
	}
	socketsOf(e.st).add(e)
}

// NotifyEvent implements gVisor's waiter.EventListener: the bridge from
// the engine's queue to the Sentry's.
func (e *endpoint) NotifyEvent(m gwaiter.EventMask) {
	e.queue.Notify(waiter.EventMask(m))
}

func (e *endpoint) stream() bool { return e.Type == linux.SOCK_STREAM }

// Sock implements socket.Endpoint.
func (e *endpoint) Sock() *socket.Common { return e.Common }

// SetInode implements socket.InodeSetter (/proc/net shows the number).
func (e *endpoint) SetInode(_ vfs.Inode, number uint64) { e.ino.Store(number) }

// Listening implements socket.Endpoint.
func (e *endpoint) Listening() bool { return e.ep.SocketOptions().GetAcceptConn() }

// Bind implements socket.Endpoint (inet_bind, inet6_bind): ports below
// the namespace's ip_unprivileged_port_start need CAP_NET_BIND_SERVICE
// (EACCES).
func (e *endpoint) Bind(ctx vfs.Context, b []byte) error {
	a, err := parseAddr(e.Family, b)
	if err != nil {
		return err
	}
	if a.Port != 0 && int(a.Port) < e.ns.UnprivilegedPortStart && e.transProto != 0 && !socket.HasCapability(ctx, linux.CAP_NET_BIND_SERVICE) {
		return linux.EACCES
	}
	return errno(e.ep.Bind(a))
}

// Listen implements socket.Endpoint.
func (e *endpoint) Listen(_ vfs.Context, backlog int) error {
	if !e.stream() {
		return linux.EOPNOTSUPP
	}
	return errno(e.ep.Listen(backlog))
}

// Accept implements socket.Endpoint.
func (e *endpoint) Accept(ctx vfs.Context, w socket.Wait) (socket.Endpoint, error) {
	if !e.stream() {
		return nil, linux.EOPNOTSUPP
	}
	var b *socket.Blocker
	for {
		nep, nwq, err := e.ep.Accept(nil)
		if err == nil {
			return e.accepted(nep, nwq), nil
		}
		if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
			return nil, errno(err)
		}
		if w.Nonblock {
			return nil, linux.EAGAIN
		}
		if b == nil {
			// Register, then try again: a connection that came in
			// between is not missed.
			b = socket.NewBlocker(ctx, w)
			defer b.Close()
			b.Register(&e.queue, waiter.EventIn)
			continue
		}
		if err := b.Wait(); err != nil {
			return nil, err
		}
	}
}

func (e *endpoint) accepted(nep tcpip.Endpoint, nwq *gwaiter.Queue) *endpoint {
	n := &endpoint{
		Common: socket.NewCommon(e.Family, e.Type, e.Protocol),
		st:     e.st, ns: e.ns, netProto: e.netProto, transProto: e.transProto,
		ep: nep, wq: nwq, uid: e.uid,
	}
	// The engine's accepted endpoint has its listener's options; the
	// Common that reports them gets the same.
	n.Common.Clone(e.Common)
	n.entry.Init(n, allEvents)
	n.wq.EventRegister(&n.entry)
	socketsOf(n.st).add(n)
	return n
}

// Connect implements socket.Endpoint: a TCP connect blocks until the
// handshake ends (EINPROGRESS without leave to block or when
// SO_SNDTIMEO passes; the result is then in SO_ERROR). AF_UNSPEC
// dissolves a datagram socket's association.
func (e *endpoint) Connect(ctx vfs.Context, b []byte, w socket.Wait) error {
	if len(b) >= 2 && b[0] == linux.AF_UNSPEC && b[1] == 0 && !e.stream() {
		e.ep.Disconnect()
		return nil
	}
	a, err := parseAddr(e.Family, b)
	if err != nil {
		return err
	}
	if e.Family == linux.AF_INET6 && header.IsV4MappedAddress(a.Addr) && e.ep.SocketOptions().GetV6Only() {
		// tcp_v6_connect, ip6_datagram_connect.
		return linux.ENETUNREACH
	}
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	if e.stream() {
		bl.Register(&e.queue, waiter.EventOut|waiter.EventErr|waiter.EventHUp)
	}
	terr := e.ep.Connect(a)
	switch terr.(type) {
	case *tcpip.ErrConnectStarted:
		if w.Nonblock {
			return linux.EINPROGRESS
		}
	case *tcpip.ErrAlreadyConnecting:
		// A blocking connect restarted after a signal, or one made
		// while a non-blocking one is under way, waits for the
		// handshake as inet_stream_connect does.
		if w.Nonblock {
			return linux.EALREADY
		}
	default:
		return errno(terr)
	}
	for e.ep.Readiness(gwaiter.EventOut|gwaiter.EventErr|gwaiter.EventHUp) == 0 {
		if err := bl.Wait(); err != nil {
			if err == linux.EAGAIN {
				return linux.EINPROGRESS
			}
			return err
		}
	}
	// Connecting again reports how the handshake ended.
	return errno(e.ep.Connect(a))
}

// Shutdown implements socket.Endpoint.
func (e *endpoint) Shutdown(_ vfs.Context, how int) error {
	var f tcpip.ShutdownFlags
	switch how {
	case linux.SHUT_RD:
		f = tcpip.ShutdownRead
	case linux.SHUT_WR:
		f = tcpip.ShutdownWrite
	default:
		f = tcpip.ShutdownRead | tcpip.ShutdownWrite
	}
	return errno(e.ep.Shutdown(f))
}

// SockName implements socket.Endpoint.
func (e *endpoint) SockName() []byte {
	a, err := e.ep.GetLocalAddress()
	if err != nil {
		return sockaddr(e.Family, tcpip.FullAddress{})
	}
	return sockaddr(e.Family, a)
}

// PeerName implements socket.Endpoint.
func (e *endpoint) PeerName() ([]byte, error) {
	if e.stream() {
		// Linux's socket is TCP_CLOSE once the connection ended (its
		// TIME_WAIT lives on without it): no peer any more.
		switch tcp.EndpointState(e.ep.State()) {
		case tcp.StateTimeWait, tcp.StateClose, tcp.StateError:
			return nil, linux.ENOTCONN
		}
	}
	a, err := e.ep.GetRemoteAddress()
	if err != nil {
		return nil, errno(err)
	}
	return sockaddr(e.Family, a), nil
}

// Readiness implements waiter.Waitable.
func (e *endpoint) Readiness(mask waiter.EventMask) waiter.EventMask {
	r := waiter.EventMask(e.ep.Readiness(gwaiter.EventMask(mask)))
	if e.PendingError() != 0 {
		r |= waiter.EventErr
	}
	return r & (mask | waiter.EventErr | waiter.EventHUp)
}

// EventRegister implements waiter.Waitable.
func (e *endpoint) EventRegister(w *waiter.Entry) { e.queue.EventRegister(w) }

// EventUnregister implements waiter.Waitable.
func (e *endpoint) EventUnregister(w *waiter.Entry) { e.queue.EventUnregister(w) }

// TakeSocketError implements socket.ErrorReporter: the engine's pending
// error (a refused non-blocking connect, an ICMP error).
func (e *endpoint) TakeSocketError() linux.Errno {
	err := e.ep.LastError()
	if err == nil {
		return 0
	}
	// The engine may keep the same failure twice (as the connection's
	// hard error and as the last error); Linux has one sk_err.
	for i := 0; i < 2 && e.ep.LastError() != nil; i++ {
	}
	if en, ok := errno(err).(linux.Errno); ok {
		return en
	}
	return 0
}

// Release implements socket.Endpoint: SO_LINGER with a zero time aborts
// (RST) instead of closing gracefully, as on Linux.
func (e *endpoint) Release() {
	if e.released.Swap(true) {
		return
	}
	socketsOf(e.st).remove(e)
	e.wq.EventUnregister(&e.entry)
	if on, secs := e.Linger(); on && secs == 0 && e.stream() {
		e.ep.Abort()
		return
	}
	e.ep.Close()
}
