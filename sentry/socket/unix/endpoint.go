package unix

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
)

type state int

// Socket states (Linux keeps TCP state names in sk_state).
const (
	stateClosed    state = iota // TCP_CLOSE: not connected
	stateListen                 // TCP_LISTEN
	stateConnected              // TCP_ESTABLISHED
)

// endpoint is one unix socket.
type endpoint struct {
	*socket.Common
	ns  *Namespace
	typ int
	id  uint64 // creation order, for /proc/net/unix

	// queue reports this socket's readiness. peerWait wakes those
	// waiting for room in this socket: datagram senders blocked on its
	// queue length, connectors blocked on its backlog (Linux's
	// peer_wait).
	queue    waiter.Queue
	peerWait waiter.Queue

	// Set once by NewFile (never for a connection not yet accepted).
	inode vfs.Inode
	ino   uint64

	// The rest is protected by ns.mu.
	state    state
	addr     *address
	bound    vfs.Inode // the node of a filesystem name
	peer     *endpoint
	recvQ    []*message
	recvLen  int // bytes unread in recvQ
	pending  []*endpoint
	backlog  int
	shutdown int
	dead     bool
	// inflight is what this socket sent that is still queued somewhere,
	// in truesize units (sk_wmem_alloc).
	inflight int
	// peerWaiters are datagram sockets that polled this one's queue full
	// (unix_dgram_peer_wake_me): they are told when it drains.
	peerWaiters map[*endpoint]struct{}
}

var (
	_ socket.Endpoint           = (*endpoint)(nil)
	_ socket.InodeSetter        = (*endpoint)(nil)
	_ socket.BufferSizeObserver = (*endpoint)(nil)
)

// message is one skb: a datagram, or a piece of a stream.
type message struct {
	data   []byte
	off    int // stream: bytes already read
	from   *endpoint
	creds  *socket.Creds
	rights []*vfs.FileDescription
	charge int
}

func (m *message) unread() int { return len(m.data) - m.off }

// truesize estimates what an skb holding n bytes costs Linux (the data
// rounded to cache lines, the sk_buff and skb_shared_info): a 1-byte
// datagram costs 768, like kmalloc-512 plus the sk_buff.
func truesize(n int) int { return (n+63)&^63 + 704 }

// Sock implements socket.Endpoint.
func (e *endpoint) Sock() *socket.Common { return e.Common }

// SetInode implements socket.InodeSetter.
func (e *endpoint) SetInode(ino vfs.Inode, number uint64) {
	e.ns.mu.Lock()
	e.inode, e.ino = ino, number
	e.ns.mu.Unlock()
}

// Listening implements socket.Endpoint.
func (e *endpoint) Listening() bool {
	e.ns.mu.Lock()
	defer e.ns.mu.Unlock()
	return e.state == stateListen
}

func (e *endpoint) connectionBased() bool { return e.typ != linux.SOCK_DGRAM }

// Bind implements socket.Endpoint (unix_bind): an address with only the
// family autobinds; a path gets a socket node (EADDRINUSE if the name
// exists); an abstract name must be free. A bound socket cannot be bound
// again (EINVAL).
func (e *endpoint) Bind(ctx vfs.Context, b []byte) error {
	if len(b) == sunPathOffset && binary.LittleEndian.Uint16(b) == linux.AF_UNIX {
		return e.autobind()
	}
	a, err := parseAddress(b)
	if err != nil {
		return err
	}
	ns := e.ns
	if a.abstract {
		ns.mu.Lock()
		defer ns.mu.Unlock()
		if e.addr != nil {
			return linux.EINVAL
		}
		k := abstractKey{e.typ, a.name}
		if ns.abstract[k] != nil {
			return linux.EADDRINUSE
		}
		ns.abstract[k] = e
		e.addr = a
		return nil
	}
	// unix_bind_bsd: make the node first (its errors win), with the
	// mode of the socket's inode less the umask.
	h := socket.CurrentHooks()
	if h.BindPath == nil {
		return linux.EOPNOTSUPP
	}
	perm := uint32(0o777)
	if e.inode != nil {
		if st, err := e.inode.Stat(ctx); err == nil {
			perm = st.Mode & 0o777
		}
	}
	ino, err := h.BindPath(ctx, a.name, perm)
	if err == linux.EEXIST {
		return linux.EADDRINUSE
	}
	if err != nil {
		return err
	}
	ns.mu.Lock()
	if e.addr != nil || e.dead {
		ns.mu.Unlock()
		if h.UnlinkPath != nil {
			h.UnlinkPath(ctx, a.name)
		}
		return linux.EINVAL
	}
	e.addr, e.bound = a, ino
	ns.inodes[ino] = e
	ns.mu.Unlock()
	return nil
}

// autobind gives the socket an abstract name of five hex digits
// (unix_autobind); nothing if it has a name already.
func (e *endpoint) autobind() error {
	ns := e.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return e.autobindLocked()
}

func (e *endpoint) autobindLocked() error {
	if e.addr != nil {
		return nil
	}
	ns := e.ns
	for range 1 << 20 {
		n := ns.autobind & 0xfffff
		ns.autobind++
		name := fmt.Sprintf("\x00%05x", n)
		k := abstractKey{e.typ, name[1:]}
		if ns.abstract[k] != nil {
			continue
		}
		raw := unnamed()
		raw = append(raw, name...)
		e.addr = &address{raw: raw, abstract: true, name: name[1:]}
		ns.abstract[k] = e
		return nil
	}
	return linux.ENOSPC
}

// Listen implements socket.Endpoint (unix_listen): stream and seqpacket
// sockets that are bound and not connected. SO_PEERCRED of those who
// connect will be the listener's credentials now.
func (e *endpoint) Listen(ctx vfs.Context, backlog int) error {
	if !e.connectionBased() {
		return linux.EOPNOTSUPP
	}
	ns := e.ns
	ns.mu.Lock()
	if e.addr == nil || (e.state != stateClosed && e.state != stateListen) {
		ns.mu.Unlock()
		return linux.EINVAL
	}
	var n notes
	if backlog > e.backlog {
		n.notify(&e.peerWait, waiter.EventOut)
	}
	e.backlog = backlog
	e.state = stateListen
	_, peer := socket.CallerCreds(ctx)
	e.SetPeerCred(peer)
	ns.mu.Unlock()
	n.flush()
	return nil
}

// resolve finds the socket bound to a, of type typ: ECONNREFUSED when
// nothing is bound there (or only a socket of another type, for abstract
// names, which are per type), EPROTOTYPE for a filesystem name bound by a
// socket of another type, and the path lookup errors.
func (ns *Namespace) resolve(ctx vfs.Context, a *address, typ int) (*endpoint, error) {
	if a.abstract {
		ns.mu.Lock()
		defer ns.mu.Unlock()
		if t := ns.abstract[abstractKey{typ, a.name}]; t != nil {
			return t, nil
		}
		return nil, linux.ECONNREFUSED
	}
	h := socket.CurrentHooks()
	if h.ConnectPath == nil {
		return nil, linux.ECONNREFUSED
	}
	ino, err := h.ConnectPath(ctx, a.name)
	if err != nil {
		return nil, err
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	t := ns.inodes[ino]
	if t == nil {
		return nil, linux.ECONNREFUSED
	}
	if t.typ != typ {
		return nil, linux.EPROTOTYPE
	}
	return t, nil
}

// Connect implements socket.Endpoint.
func (e *endpoint) Connect(ctx vfs.Context, b []byte, w socket.Wait) error {
	if e.typ == linux.SOCK_DGRAM {
		return e.connectDgram(ctx, b)
	}
	return e.connectStream(ctx, b, w)
}

// connectStream is unix_stream_connect: the connection is complete once
// queued on the listener (the connector may send at once), or waits while
// the backlog is full (EAGAIN without leave to wait).
func (e *endpoint) connectStream(ctx vfs.Context, b []byte, w socket.Wait) error {
	a, err := parseAddress(b)
	if err != nil {
		return err
	}
	if e.PassCred() {
		if err := e.autobind(); err != nil {
			return err
		}
	}
	ns := e.ns
	_, creds := socket.CallerCreds(ctx)
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	for {
		t, err := ns.resolve(ctx, a, e.typ)
		if err != nil {
			return err
		}
		ns.mu.Lock()
		if t.dead {
			// Released since we found it: look again.
			ns.mu.Unlock()
			continue
		}
		if t.state != stateListen || t.shutdown&shutRcv != 0 {
			ns.mu.Unlock()
			return linux.ECONNREFUSED
		}
		if len(t.pending) > t.backlog {
			if bl.Nonblock() {
				ns.mu.Unlock()
				return linux.EAGAIN
			}
			bl.Register(&t.peerWait, waiter.EventOut)
			ns.mu.Unlock()
			if err := bl.Wait(); err != nil {
				return err
			}
			continue
		}
		switch e.state {
		case stateConnected:
			ns.mu.Unlock()
			return linux.EISCONN
		case stateListen:
			ns.mu.Unlock()
			return linux.EINVAL
		}
		if e.dead {
			ns.mu.Unlock()
			return linux.EBADF
		}
		// The server side of the connection, until accept(2) takes it.
		s := ns.newEndpointLocked(e.typ)
		s.state, s.peer, s.addr = stateConnected, e, t.addr
		s.SetPeerCred(creds)
		e.state, e.peer = stateConnected, s
		if lc, ok := t.PeerCred(); ok {
			e.SetPeerCred(lc)
		}
		t.pending = append(t.pending, s)
		ns.mu.Unlock()
		t.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
		return nil
	}
}

// connectDgram is unix_dgram_connect: AF_UNSPEC dissolves the
// association; otherwise the socket sends to (and only receives from) the
// named one, which must not be associated with another (EPERM).
func (e *endpoint) connectDgram(ctx vfs.Context, b []byte) error {
	if len(b) < 2 {
		return linux.EINVAL
	}
	ns := e.ns
	var n notes
	defer n.flush()
	if binary.LittleEndian.Uint16(b) == linux.AF_UNSPEC {
		ns.mu.Lock()
		defer ns.mu.Unlock()
		if old := e.peer; old != nil {
			e.peer = nil
			e.state = stateClosed
			ns.dgramDisconnectedLocked(e, old, &n)
		}
		return nil
	}
	a, err := parseAddress(b)
	if err != nil {
		return err
	}
	if e.PassCred() {
		if err := e.autobind(); err != nil {
			return err
		}
	}
	for {
		t, err := ns.resolve(ctx, a, e.typ)
		if err != nil {
			return err
		}
		ns.mu.Lock()
		if t.dead {
			ns.mu.Unlock()
			continue
		}
		if t.peer != nil && t.peer != e {
			ns.mu.Unlock()
			return linux.EPERM
		}
		e.state, t.state = stateConnected, stateConnected
		old := e.peer
		e.peer = t
		if old != nil {
			ns.wakePeerWaitersLocked(old, &n)
			if old != t {
				ns.dgramDisconnectedLocked(e, old, &n)
			}
		}
		ns.mu.Unlock()
		return nil
	}
}

// dgramDisconnectedLocked is unix_dgram_disconnected: e stopped talking to
// old, so what e had received is dropped, and old, if it was talking to
// e, learns that messages were lost (ECONNRESET).
func (ns *Namespace) dgramDisconnectedLocked(e, old *endpoint, n *notes) {
	if len(e.recvQ) > 0 {
		ns.purgeLocked(e, n)
		n.notify(&e.peerWait, allEvents)
		if !old.dead && old.peer == e {
			old.SetError(linux.ECONNRESET)
			n.notify(&old.queue, waiter.EventErr)
		}
	}
	old.state = stateClosed
}

// purgeLocked drops everything queued on e.
func (ns *Namespace) purgeLocked(e *endpoint, n *notes) {
	for _, m := range e.recvQ {
		ns.dropLocked(m, n)
	}
	e.recvQ, e.recvLen = nil, 0
	ns.wakePeerWaitersLocked(e, n)
}

// dropLocked frees a dequeued message: its files are released and its
// sender's buffer space returned.
func (ns *Namespace) dropLocked(m *message, n *notes) {
	n.files = append(n.files, m.rights...)
	m.rights = nil
	ns.refundLocked(m, n)
}

// refundLocked gives back the send buffer space m held (sock_wfree); a
// sender that became writable (unix_writable) is told.
func (ns *Namespace) refundLocked(m *message, n *notes) {
	f := m.from
	if f == nil || m.charge == 0 {
		return
	}
	f.inflight -= m.charge
	m.charge = 0
	if f.inflight*4 <= f.SndBuf() {
		n.notify(&f.queue, waiter.EventOut|waiter.EventWrNorm|eventWrBand)
	}
}

// wakePeerWaitersLocked tells those waiting for room in e.
func (ns *Namespace) wakePeerWaitersLocked(e *endpoint, n *notes) {
	n.notify(&e.peerWait, waiter.EventOut)
	for w := range e.peerWaiters {
		n.notify(&w.queue, waiter.EventOut|waiter.EventWrNorm|eventWrBand)
	}
	e.peerWaiters = nil
}

// Accept implements socket.Endpoint (unix_accept).
func (e *endpoint) Accept(ctx vfs.Context, w socket.Wait) (socket.Endpoint, error) {
	if !e.connectionBased() {
		return nil, linux.EOPNOTSUPP
	}
	ns := e.ns
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	ns.mu.Lock()
	for {
		if e.state != stateListen {
			ns.mu.Unlock()
			return nil, linux.EINVAL
		}
		if len(e.pending) > 0 {
			break
		}
		if err := e.TakeError(); err != nil {
			ns.mu.Unlock()
			return nil, err
		}
		if e.shutdown&shutRcv != 0 {
			ns.mu.Unlock()
			return nil, linux.EINVAL
		}
		bl.Register(&e.queue, waiter.EventIn)
		ns.mu.Unlock()
		if err := bl.Wait(); err != nil {
			return nil, err
		}
		ns.mu.Lock()
	}
	s := e.pending[0]
	e.pending = e.pending[1:]
	ns.mu.Unlock()
	s.Inherit(e.Common)
	e.peerWait.Notify(waiter.EventOut)
	return s, nil
}

// Shutdown implements socket.Endpoint (unix_shutdown): a connected
// stream or seqpacket peer sees the mirror image (our SHUT_WR is its end
// of input).
func (e *endpoint) Shutdown(ctx vfs.Context, how int) error {
	mode := how + 1
	ns := e.ns
	var n notes
	ns.mu.Lock()
	e.shutdown |= mode
	n.notify(&e.queue, allEvents)
	if p := e.peer; p != nil && e.connectionBased() {
		pm := 0
		if mode&shutRcv != 0 {
			pm |= shutSend
		}
		if mode&shutSend != 0 {
			pm |= shutRcv
		}
		p.shutdown |= pm
		n.notify(&p.queue, allEvents)
	}
	ns.mu.Unlock()
	n.flush()
	return nil
}

// Release implements socket.Endpoint (unix_release_sock).
func (e *endpoint) Release() {
	var n notes
	e.ns.mu.Lock()
	e.ns.releaseLocked(e, false, &n)
	e.ns.mu.Unlock()
	n.flush()
}

// releaseLocked closes e; embryo says e is a connection its listener
// never accepted (its peer then sees ECONNRESET).
func (ns *Namespace) releaseLocked(e *endpoint, embryo bool, n *notes) {
	if e.dead {
		return
	}
	e.dead = true
	e.shutdown = shutBoth
	delete(ns.all, e)
	if e.addr != nil {
		if e.addr.abstract {
			k := abstractKey{e.typ, e.addr.name}
			if ns.abstract[k] == e {
				delete(ns.abstract, k)
			}
		} else if e.bound != nil && ns.inodes[e.bound] == e {
			delete(ns.inodes, e.bound)
		}
	}
	listening := e.state == stateListen
	e.state = stateClosed
	peer := e.peer
	e.peer = nil
	n.notify(&e.queue, allEvents)
	n.notify(&e.peerWait, allEvents)
	if peer != nil {
		if e.connectionBased() {
			peer.shutdown = shutBoth
			if len(e.recvQ) > 0 || embryo {
				peer.SetError(linux.ECONNRESET)
			}
			n.notify(&peer.queue, allEvents)
		}
		delete(peer.peerWaiters, e)
		ns.wakePeerWaitersLocked(e, n)
	}
	ns.purgeLocked(e, n)
	if listening {
		for _, s := range e.pending {
			ns.releaseLocked(s, true, n)
		}
		e.pending = nil
	}
}

// SockName implements socket.Endpoint.
func (e *endpoint) SockName() []byte {
	e.ns.mu.Lock()
	defer e.ns.mu.Unlock()
	if e.addr == nil {
		return unnamed()
	}
	return append([]byte(nil), e.addr.raw...)
}

// PeerName implements socket.Endpoint: the peer's name, also after the
// peer closed (Linux keeps the pointer).
func (e *endpoint) PeerName() ([]byte, error) {
	e.ns.mu.Lock()
	defer e.ns.mu.Unlock()
	p := e.peer
	if p == nil {
		return nil, linux.ENOTCONN
	}
	if p.addr == nil {
		return unnamed(), nil
	}
	return append([]byte(nil), p.addr.raw...), nil
}

// GetSockOpt implements socket.Endpoint: AF_UNIX has no options of its
// own level.
func (e *endpoint) GetSockOpt(ctx vfs.Context, level, name, size int) ([]byte, error) {
	return nil, linux.EOPNOTSUPP
}

// SetSockOpt implements socket.Endpoint.
func (e *endpoint) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	return linux.EOPNOTSUPP
}

// BufferSizeChanged implements socket.BufferSizeObserver: a bigger
// SO_SNDBUF may let a blocked writer go on.
func (e *endpoint) BufferSizeChanged() {
	e.queue.Notify(waiter.EventOut | waiter.EventWrNorm | eventWrBand)
}

// Ioctl implements socket.Endpoint: SIOCINQ (FIONREAD) and SIOCOUTQ
// (TIOCOUTQ), unix_ioctl.
func (e *endpoint) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	var v int
	ns := e.ns
	switch cmd {
	case linux.SIOCINQ:
		ns.mu.Lock()
		switch {
		case e.state == stateListen:
			ns.mu.Unlock()
			return 0, linux.EINVAL
		case e.connectionBased():
			v = e.recvLen
		case len(e.recvQ) > 0:
			v = len(e.recvQ[0].data)
		}
		ns.mu.Unlock()
	case linux.SIOCOUTQ:
		ns.mu.Lock()
		v = e.inflight
		ns.mu.Unlock()
	default:
		return 0, linux.ENOTTY
	}
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(v))
	return 0, io.CopyOut(uintptr(arg), b)
}

// Readiness implements waiter.Waitable: unix_poll for stream and
// seqpacket sockets, unix_dgram_poll for datagram ones.
func (e *endpoint) Readiness(mask waiter.EventMask) waiter.EventMask {
	ns := e.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var r waiter.EventMask
	if e.PendingError() != 0 {
		r |= waiter.EventErr
	}
	if e.shutdown == shutBoth {
		r |= waiter.EventHUp
	}
	if e.shutdown&shutRcv != 0 {
		r |= waiter.EventRdHUp | waiter.EventIn | waiter.EventRdNorm
	}
	if len(e.recvQ) > 0 || len(e.pending) > 0 {
		r |= waiter.EventIn | waiter.EventRdNorm
	}
	if e.connectionBased() && e.state == stateClosed {
		r |= waiter.EventHUp
	}
	if mask&(waiter.EventOut|waiter.EventWrNorm|eventWrBand) != 0 {
		writable := e.state != stateListen && e.inflight*4 <= e.SndBuf()
		if writable && e.typ == linux.SOCK_DGRAM {
			if o := e.peer; o != nil && o.peer != e && len(o.recvQ) > maxDgramQlen {
				writable = false
				if o.peerWaiters == nil {
					o.peerWaiters = make(map[*endpoint]struct{})
				}
				o.peerWaiters[e] = struct{}{}
			}
		}
		if writable {
			r |= waiter.EventOut | waiter.EventWrNorm | eventWrBand
		}
	}
	return r & mask
}

// EventRegister implements waiter.Waitable.
func (e *endpoint) EventRegister(w *waiter.Entry) { e.queue.EventRegister(w) }

// EventUnregister implements waiter.Waitable.
func (e *endpoint) EventUnregister(w *waiter.Entry) { e.queue.EventUnregister(w) }

func sortEndpoints(es []*endpoint) {
	sort.Slice(es, func(i, j int) bool { return es[i].id < es[j].id })
}
