// Package netlink implements AF_NETLINK sockets (netlink(7)) with the
// NETLINK_ROUTE protocol (rtnetlink(7)): enough for iproute2's `ip addr`,
// `ip link` and `ip route` and for glibc's getifaddrs, if_nameindex and
// getaddrinfo's AI_ADDRCONFIG. Requests are answered at once from the
// stack's socket.Network (only the loopback interface until the sandbox
// has IP networking): RTM_GETLINK, RTM_GETADDR and RTM_GETROUTE dumps,
// RTM_GETLINK of one interface, empty RTM_GETNEIGH dumps, with
// NLMSG_DONE, NLMSG_ERROR and acknowledgements as Linux sends them.
//
// There is no network stack to change yet: requests that would change
// links, addresses, routes or anything else fail with EPERM without
// CAP_NET_ADMIN (as on Linux) and EOPNOTSUPP with it, except a link
// request that asks for nothing the link does not already have (`ip link
// set lo up`), which succeeds. No multicast events are ever sent (nothing
// changes). Other netlink protocols give EPROTONOSUPPORT, as a kernel
// built without them. Sockets may also unicast to each other by port id.
package netlink

import (
	"encoding/binary"
	"sync"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
)

// Linux ABI values.
const (
	// maxLinks is MAX_LINKS: protocols at or above it are
	// EPROTONOSUPPORT.
	maxLinks = 32
	// sizeofSockaddrNl is sizeof(struct sockaddr_nl).
	sizeofSockaddrNl = 12
	// maxGroups is how many multicast groups a NETLINK_ROUTE socket may
	// join (RTNLGRP_MAX).
	maxGroups = 64
	// dumpChunk bounds the messages packed in one datagram of a dump
	// (Linux sizes dump skbs to the reader's buffer, at most 32 KiB).
	dumpChunk = 16 << 10
	// netlinkListenAllNSID is NETLINK_LISTEN_ALL_NSID.
	netlinkListenAllNSID = 8
	// netlinkNoENOBUFS is NETLINK_NO_ENOBUFS.
	netlinkNoENOBUFS = 5
	// netlinkBroadcastError is NETLINK_BROADCAST_ERROR.
	netlinkBroadcastError = 4
)

func init() {
	socket.RegisterFamily(linux.AF_NETLINK, family{})
}

type family struct{}

// Socket implements socket.Family (netlink_create).
func (family) Socket(ctx vfs.Context, st *socket.Stack, typ, protocol int) (socket.Endpoint, error) {
	if typ != linux.SOCK_RAW && typ != linux.SOCK_DGRAM {
		return nil, linux.ESOCKTNOSUPPORT
	}
	if protocol < 0 || protocol >= maxLinks || protocol != linux.NETLINK_ROUTE {
		return nil, linux.EPROTONOSUPPORT
	}
	return &endpoint{
		Common:   socket.NewCommon(linux.AF_NETLINK, typ, protocol),
		st:       st,
		ports:    portsOf(st),
		protocol: protocol,
	}, nil
}

// Pair implements socket.Family: netlink has no socketpair.
func (family) Pair(vfs.Context, *socket.Stack, int, int) (socket.Endpoint, socket.Endpoint, error) {
	return nil, nil, linux.EOPNOTSUPP
}

// ports are the port ids of one stack's netlink sockets, by protocol.
type ports struct {
	mu    sync.Mutex
	ids   map[int]map[uint32]*endpoint
	rover int32
}

func portsOf(st *socket.Stack) *ports {
	return st.FamilyState(linux.AF_NETLINK, func() any {
		return &ports{ids: make(map[int]map[uint32]*endpoint), rover: -4096}
	}).(*ports)
}

// endpoint is one netlink socket.
type endpoint struct {
	*socket.Common
	st       *socket.Stack
	ports    *ports
	protocol int
	queue    waiter.Queue

	mu       sync.Mutex
	bound    bool
	portID   uint32
	groups   [maxGroups / 32]uint32
	dstPort  uint32
	dstGroup uint32
	recvQ    []datagram
	recvLen  int
	opts     map[int]bool // NETLINK_* flag options
	dead     bool
}

// datagram is one message queued for the socket.
type datagram struct {
	data []byte
	from uint32 // sender's port id (0: the kernel)
}

var _ socket.Endpoint = (*endpoint)(nil)

// Sock implements socket.Endpoint.
func (e *endpoint) Sock() *socket.Common { return e.Common }

func (e *endpoint) opt(o int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opts[o]
}

// insert binds the socket to port id (netlink_insert): EADDRINUSE if taken.
func (e *endpoint) insertLocked(id uint32) error {
	p := e.ports
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.ids[e.protocol]
	if m == nil {
		m = make(map[uint32]*endpoint)
		p.ids[e.protocol] = m
	}
	if m[id] != nil {
		return linux.EADDRINUSE
	}
	m[id] = e
	e.portID, e.bound = id, true
	return nil
}

// autobindLocked gives the socket a port id (netlink_autobind): the
// caller's tgid if free, else a negative one.
func (e *endpoint) autobindLocked(ctx vfs.Context) error {
	if e.bound {
		return nil
	}
	if err := e.insertLocked(uint32(ctx.ProcessID())); err == nil {
		return nil
	}
	for range 1 << 16 {
		p := e.ports
		p.mu.Lock()
		id := p.rover
		p.rover--
		if p.rover > -4096 {
			p.rover = -4096
		}
		p.mu.Unlock()
		if err := e.insertLocked(uint32(id)); err == nil {
			return nil
		}
	}
	return linux.EADDRINUSE
}

func groupMask(g uint32) uint32 {
	if g == 0 || g > 32 {
		return 0
	}
	return 1 << (g - 1)
}

// ffs is the group number of the lowest bit of a groups mask.
func ffs(mask uint32) uint32 {
	for i := uint32(0); i < 32; i++ {
		if mask&(1<<i) != 0 {
			return i + 1
		}
	}
	return 0
}

func parseSockaddr(b []byte) (pid, groups uint32, err error) {
	if len(b) < sizeofSockaddrNl || binary.LittleEndian.Uint16(b) != linux.AF_NETLINK {
		return 0, 0, linux.EINVAL
	}
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:]), nil
}

func sockaddr(pid, groups uint32) []byte {
	b := make([]byte, sizeofSockaddrNl)
	binary.LittleEndian.PutUint16(b, linux.AF_NETLINK)
	binary.LittleEndian.PutUint32(b[4:], pid)
	binary.LittleEndian.PutUint32(b[8:], groups)
	return b
}

// Bind implements socket.Endpoint (netlink_bind): nl_pid 0 picks a port
// id; a bound socket may only "rebind" to its own id (to change groups).
func (e *endpoint) Bind(ctx vfs.Context, b []byte) error {
	pid, groups, err := parseSockaddr(b)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bound {
		if pid != e.portID {
			return linux.EINVAL
		}
	} else if pid != 0 {
		if err := e.insertLocked(pid); err != nil {
			return err
		}
	} else if err := e.autobindLocked(ctx); err != nil {
		return err
	}
	e.groups[0] = groups
	return nil
}

// Listen implements socket.Endpoint.
func (e *endpoint) Listen(vfs.Context, int) error { return linux.EOPNOTSUPP }

// Accept implements socket.Endpoint.
func (e *endpoint) Accept(vfs.Context, socket.Wait) (socket.Endpoint, error) {
	return nil, linux.EOPNOTSUPP
}

// Connect implements socket.Endpoint (netlink_connect): sets the default
// destination; sending to anything but the kernel needs CAP_NET_ADMIN
// for NETLINK_ROUTE.
func (e *endpoint) Connect(ctx vfs.Context, b []byte, _ socket.Wait) error {
	if len(b) < 2 {
		return linux.EINVAL
	}
	if binary.LittleEndian.Uint16(b) == linux.AF_UNSPEC {
		e.mu.Lock()
		e.dstPort, e.dstGroup = 0, 0
		e.mu.Unlock()
		return nil
	}
	pid, groups, err := parseSockaddr(b)
	if err != nil {
		return err
	}
	if (pid != 0 || groups != 0) && !socket.HasCapability(ctx, linux.CAP_NET_ADMIN) {
		return linux.EPERM
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.autobindLocked(ctx); err != nil {
		return err
	}
	e.dstPort, e.dstGroup = pid, ffs(groups)
	return nil
}

// Shutdown implements socket.Endpoint: netlink has none.
func (e *endpoint) Shutdown(vfs.Context, int) error { return linux.EOPNOTSUPP }

// SockName implements socket.Endpoint.
func (e *endpoint) SockName() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sockaddr(e.portID, e.groups[0])
}

// PeerName implements socket.Endpoint: the default destination (the
// kernel, 0, when unconnected).
func (e *endpoint) PeerName() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sockaddr(e.dstPort, groupMask(e.dstGroup)), nil
}

// Listening implements socket.Endpoint.
func (e *endpoint) Listening() bool { return false }

// SendMsg implements socket.Endpoint (netlink_sendmsg): a message to the
// kernel (port 0) is handled before the call returns; the replies wait in
// the socket's queue.
func (e *endpoint) SendMsg(ctx vfs.Context, m *socket.SendMsg, w socket.Wait) (int, error) {
	if m.Flags&linux.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	e.mu.Lock()
	dstPort, dstGroup := e.dstPort, e.dstGroup
	e.mu.Unlock()
	if len(m.To) > 0 {
		pid, groups, err := parseSockaddr(m.To)
		if err != nil {
			return 0, err
		}
		dstPort, dstGroup = pid, ffs(groups)
		if (dstPort != 0 || dstGroup != 0) && !socket.HasCapability(ctx, linux.CAP_NET_ADMIN) {
			return 0, linux.EPERM
		}
	}
	e.mu.Lock()
	err := e.autobindLocked(ctx)
	src := e.portID
	e.mu.Unlock()
	if err != nil {
		return 0, err
	}
	size := m.Data.Len()
	if size > e.SndBuf()-32 {
		return 0, linux.EMSGSIZE
	}
	buf := make([]byte, size)
	if n, err := m.Data.CopyIn(0, buf); err != nil || n < size {
		return 0, linux.EFAULT
	}
	// Multicast to other sockets is not delivered: NETLINK_ROUTE groups
	// only carry kernel events, and no one sends those here.
	if dstPort != 0 {
		e.ports.mu.Lock()
		t := e.ports.ids[e.protocol][dstPort]
		e.ports.mu.Unlock()
		if t == nil {
			return 0, linux.ECONNREFUSED
		}
		t.deliver(datagram{data: buf, from: src})
		return size, nil
	}
	e.kernelReceive(ctx, buf)
	return size, nil
}

// deliver queues a datagram, or drops it and sets ENOBUFS when the
// receive buffer is full (netlink_overrun), unless NETLINK_NO_ENOBUFS.
func (e *endpoint) deliver(d datagram) {
	e.mu.Lock()
	if e.dead {
		e.mu.Unlock()
		return
	}
	if e.recvLen > e.RcvBuf() {
		noENOBUFS := e.opts[netlinkNoENOBUFS]
		e.mu.Unlock()
		if !noENOBUFS {
			e.SetError(linux.ENOBUFS)
			e.queue.Notify(waiter.EventErr)
		}
		return
	}
	e.recvQ = append(e.recvQ, d)
	e.recvLen += len(d.data)
	e.mu.Unlock()
	e.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
}

// RecvMsg implements socket.Endpoint (netlink_recvmsg): one datagram per
// call, from sockaddr_nl of its sender (the kernel is port 0).
func (e *endpoint) RecvMsg(ctx vfs.Context, m *socket.RecvMsg, w socket.Wait) (int, error) {
	if m.Flags&linux.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	e.mu.Lock()
	for {
		if err := e.TakeError(); err != nil {
			e.mu.Unlock()
			return 0, err
		}
		if len(e.recvQ) > 0 {
			break
		}
		if bl.Nonblock() {
			e.mu.Unlock()
			return 0, linux.EAGAIN
		}
		bl.Register(&e.queue, waiter.EventIn|waiter.EventErr)
		e.mu.Unlock()
		if err := bl.Wait(); err != nil {
			return 0, err
		}
		e.mu.Lock()
	}
	d := e.recvQ[0]
	if m.Flags&linux.MSG_PEEK == 0 {
		e.recvQ = e.recvQ[1:]
		e.recvLen -= len(d.data)
	}
	pktinfo := e.opts[linux.NETLINK_PKTINFO]
	e.mu.Unlock()

	m.From = sockaddr(d.from, 0)
	size := min(len(d.data), m.Data.Len())
	if size < len(d.data) {
		m.OutFlags |= linux.MSG_TRUNC
	}
	if got, err := m.Data.CopyOut(0, d.data[:size]); err != nil && got < size {
		return 0, linux.EFAULT
	}
	if pktinfo {
		// struct nl_pktinfo: the multicast group, 0 for unicast.
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_NETLINK, Type: linux.NETLINK_PKTINFO, Data: make([]byte, 4)})
	}
	if e.PassCred() {
		// NETLINK_CREDS: the kernel's messages come from pid 0, root.
		m.Creds = &socket.Creds{}
	}
	if m.Flags&linux.MSG_TRUNC != 0 {
		return len(d.data), nil
	}
	return size, nil
}

// boolOpts are the NETLINK_* options that are flags.
var boolOpts = map[int]bool{
	linux.NETLINK_PKTINFO: true, netlinkBroadcastError: true, netlinkNoENOBUFS: true,
	netlinkListenAllNSID: true, linux.NETLINK_CAP_ACK: true, linux.NETLINK_EXT_ACK: true,
	linux.NETLINK_GET_STRICT_CHK: true,
}

// SetSockOpt implements socket.Endpoint (netlink_setsockopt).
func (e *endpoint) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if level != linux.SOL_NETLINK {
		return linux.ENOPROTOOPT
	}
	var v uint32
	if len(val) >= 4 {
		v = binary.LittleEndian.Uint32(val)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case name == linux.NETLINK_ADD_MEMBERSHIP || name == linux.NETLINK_DROP_MEMBERSHIP:
		if v == 0 || v > maxGroups {
			return linux.EINVAL
		}
		if err := e.autobindLocked(ctx); err != nil {
			return err
		}
		bit := v - 1
		if name == linux.NETLINK_ADD_MEMBERSHIP {
			e.groups[bit/32] |= 1 << (bit % 32)
		} else {
			e.groups[bit/32] &^= 1 << (bit % 32)
		}
		return nil
	case boolOpts[name]:
		if name == netlinkListenAllNSID && v != 0 && !socket.HasCapability(ctx, linux.CAP_NET_BROADCAST) {
			return linux.EPERM
		}
		if e.opts == nil {
			e.opts = make(map[int]bool)
		}
		e.opts[name] = v != 0
		return nil
	}
	return linux.ENOPROTOOPT
}

// GetSockOpt implements socket.Endpoint (netlink_getsockopt).
func (e *endpoint) GetSockOpt(ctx vfs.Context, level, name, size int) ([]byte, error) {
	if level != linux.SOL_NETLINK {
		return nil, linux.ENOPROTOOPT
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case name == linux.NETLINK_LIST_MEMBERSHIPS:
		b := make([]byte, 4*len(e.groups))
		for i, g := range e.groups {
			binary.LittleEndian.PutUint32(b[4*i:], g)
		}
		return b, nil
	case boolOpts[name]:
		if size < 4 {
			return nil, linux.EINVAL
		}
		b := make([]byte, 4)
		if e.opts[name] {
			b[0] = 1
		}
		return b, nil
	}
	return nil, linux.ENOPROTOOPT
}

// Ioctl implements socket.Endpoint: netlink has no ioctls of its own
// (netlink_ioctl hands everything to the device ioctls, so even FIONREAD
// is ENOTTY).
func (e *endpoint) Ioctl(vfs.Context, vfs.UserMemory, uint32, uint64) (uint64, error) {
	return 0, linux.ENOTTY
}

// Readiness implements waiter.Waitable (datagram_poll).
func (e *endpoint) Readiness(mask waiter.EventMask) waiter.EventMask {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := waiter.EventOut | waiter.EventWrNorm | 0x200
	if len(e.recvQ) > 0 {
		r |= waiter.EventIn | waiter.EventRdNorm
	}
	if e.PendingError() != 0 {
		r |= waiter.EventErr
	}
	return r & mask
}

// EventRegister implements waiter.Waitable.
func (e *endpoint) EventRegister(w *waiter.Entry) { e.queue.EventRegister(w) }

// EventUnregister implements waiter.Waitable.
func (e *endpoint) EventUnregister(w *waiter.Entry) { e.queue.EventUnregister(w) }

// Release implements socket.Endpoint.
func (e *endpoint) Release() {
	e.mu.Lock()
	e.dead = true
	e.recvQ = nil
	bound, id := e.bound, e.portID
	e.mu.Unlock()
	if bound {
		p := e.ports
		p.mu.Lock()
		if p.ids[e.protocol][id] == e {
			delete(p.ids[e.protocol], id)
		}
		p.mu.Unlock()
	}
	e.queue.Notify(waiter.EventIn | waiter.EventOut | waiter.EventHUp)
}
