// Package unix implements AF_UNIX sockets (unix(7)): SOCK_STREAM,
// SOCK_DGRAM and SOCK_SEQPACKET, socketpair(2), names in the filesystem
// and in the abstract namespace, autobind, SCM_RIGHTS and SCM_CREDENTIALS,
// and the readiness poll, select and epoll report. It follows Linux's
// net/unix/af_unix.c for the errors and corner cases.
//
// Names. A socket bound to a path has an S_IFSOCK node in the filesystem
// (tmpfs in Sentry memory, or a real socket node the gofer made on the
// host as a marker); the endpoint is found from the node's vfs.Inode in
// the Namespace, so the host never carries the traffic, and connecting to
// a socket node some host process made gives ECONNREFUSED. Unlinking the
// node while the socket is bound makes it unreachable but leaves it bound,
// as on Linux. Abstract names (a leading NUL) live in the Namespace only,
// one table per socket type as in Linux.
//
// Locking. One mutex per Namespace (Namespace.mu) protects the state of
// all its endpoints: operations touch two endpoints (sender and receiver,
// connector and listener), and a single lock keeps that simple and free of
// lock-order problems at the cost of serializing unix socket traffic in a
// sandbox (data is copied under it). Waiter notifications, releases of
// passed files (which may be sockets of the same namespace) and anything
// that calls into the VFS happen without it.
//
// Limits. A socket's sent data counts against its SO_SNDBUF in Linux's
// units (an estimate of skb truesize), so writers block or get EAGAIN at
// about the same point as on Linux; a datagram socket's queue holds at
// most net.unix.max_dgram_qlen (512) messages from senders other than its
// peer. Not implemented: MSG_OOB (EOPNOTSUPP), SO_PEEK_OFF, SCM_PIDFD, and
// the garbage collection of sockets that are only referenced by messages
// in flight on each other (such cycles are never freed).
package unix

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
)

// Linux ABI values.
const (
	// sunPathOffset is offsetof(struct sockaddr_un, sun_path).
	sunPathOffset = 2
	// sizeofSockaddrUn is sizeof(struct sockaddr_un).
	sizeofSockaddrUn = 110
	// maxDgramQlen is net.unix.max_dgram_qlen.
	maxDgramQlen = 512

	shutRcv  = 1 // RCV_SHUTDOWN
	shutSend = 2 // SEND_SHUTDOWN
	shutBoth = shutRcv | shutSend
)

// Events that wake everyone when a socket changes state.
const allEvents = waiter.EventIn | waiter.EventOut | waiter.EventErr | waiter.EventHUp |
	waiter.EventRdNorm | waiter.EventWrNorm | waiter.EventRdHUp | eventWrBand

const eventWrBand waiter.EventMask = 0x200 // EPOLLWRBAND

func init() {
	socket.RegisterFamily(linux.AF_UNIX, family{})
	socket.RegisterProcNet("unix", procNetUnix)
}

// Namespace holds the unix sockets of one network namespace: the abstract
// names, the sockets bound to filesystem nodes and every live socket (for
// /proc/net/unix).
type Namespace struct {
	mu       sync.Mutex
	abstract map[abstractKey]*endpoint
	inodes   map[vfs.Inode]*endpoint
	all      map[*endpoint]struct{}
	// autobind is the next autobind name to try (Linux starts at a
	// random value; a fixed start is as good inside a sandbox).
	autobind uint32
	nextID   uint64
}

type abstractKey struct {
	typ  int
	name string
}

// NewNamespace returns an empty namespace.
func NewNamespace() *Namespace {
	return &Namespace{
		abstract: make(map[abstractKey]*endpoint),
		inodes:   make(map[vfs.Inode]*endpoint),
		all:      make(map[*endpoint]struct{}),
	}
}

// NamespaceOf returns the unix namespace of a stack.
func NamespaceOf(st *socket.Stack) *Namespace {
	return st.FamilyState(linux.AF_UNIX, func() any { return NewNamespace() }).(*Namespace)
}

type family struct{}

// Socket implements socket.Family (unix_create): SOCK_RAW is taken for
// SOCK_DGRAM as Linux does; the protocol must be 0 or PF_UNIX.
func (family) Socket(ctx vfs.Context, st *socket.Stack, typ, protocol int) (socket.Endpoint, error) {
	if protocol != 0 && protocol != linux.AF_UNIX {
		return nil, linux.EPROTONOSUPPORT
	}
	switch typ {
	case linux.SOCK_STREAM, linux.SOCK_SEQPACKET, linux.SOCK_DGRAM:
	case linux.SOCK_RAW:
		typ = linux.SOCK_DGRAM
	default:
		return nil, linux.ESOCKTNOSUPPORT
	}
	return NamespaceOf(st).newEndpoint(typ), nil
}

// Pair implements socket.Family (unix_socketpair): two connected
// sockets, each with the creator's credentials as SO_PEERCRED.
func (f family) Pair(ctx vfs.Context, st *socket.Stack, typ, protocol int) (socket.Endpoint, socket.Endpoint, error) {
	a, err := f.Socket(ctx, st, typ, protocol)
	if err != nil {
		return nil, nil, err
	}
	b, _ := f.Socket(ctx, st, typ, protocol)
	ea, eb := a.(*endpoint), b.(*endpoint)
	_, peer := socket.CallerCreds(ctx)
	ns := ea.ns
	ns.mu.Lock()
	ea.peer, eb.peer = eb, ea
	if typ != linux.SOCK_DGRAM {
		ea.state, eb.state = stateConnected, stateConnected
	}
	ns.mu.Unlock()
	ea.SetPeerCred(peer)
	eb.SetPeerCred(peer)
	return a, b, nil
}

func (ns *Namespace) newEndpoint(typ int) *endpoint {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.newEndpointLocked(typ)
}

func (ns *Namespace) newEndpointLocked(typ int) *endpoint {
	ns.nextID++
	e := &endpoint{Common: socket.NewCommon(linux.AF_UNIX, typ, 0), ns: ns, typ: typ, id: ns.nextID}
	ns.all[e] = struct{}{}
	return e
}

// address is a bound name.
type address struct {
	raw      []byte // the sockaddr_un getsockname returns
	abstract bool
	name     string // abstract: the bytes after the NUL; else the path
}

// parseAddress decodes a sockaddr_un for bind, connect and sendto
// (unix_validate_addr, unix_mkname_bsd): EINVAL unless it is AF_UNIX with
// a name; a path ends at its first NUL.
func parseAddress(b []byte) (*address, error) {
	if len(b) <= sunPathOffset || len(b) > sizeofSockaddrUn {
		return nil, linux.EINVAL
	}
	if binary.LittleEndian.Uint16(b) != linux.AF_UNIX {
		return nil, linux.EINVAL
	}
	path := b[sunPathOffset:]
	if path[0] == 0 {
		return &address{raw: append([]byte(nil), b...), abstract: true, name: string(path[1:])}, nil
	}
	n := 0
	for n < len(path) && path[n] != 0 {
		n++
	}
	a := &address{abstract: false, name: string(path[:n])}
	// getsockname gives the path with its NUL (unix_bind_bsd's addr_len).
	a.raw = make([]byte, sunPathOffset+n+1)
	binary.LittleEndian.PutUint16(a.raw, linux.AF_UNIX)
	copy(a.raw[sunPathOffset:], path[:n])
	return a, nil
}

// unnamed is the address of a socket without a name.
func unnamed() []byte {
	b := make([]byte, sunPathOffset)
	binary.LittleEndian.PutUint16(b, linux.AF_UNIX)
	return b
}

// String is how /proc/net/unix shows the name: abstract names with '@'
// for the leading NUL (and for NULs in them).
func (a *address) String() string {
	if !a.abstract {
		return a.name
	}
	b := []byte("@" + a.name)
	for i := range b {
		if b[i] == 0 {
			b[i] = '@'
		}
	}
	return string(b)
}

// notes collects what must happen once Namespace.mu is released:
// notifications, and the release of passed files and of connections that
// will never be accepted.
type notes struct {
	events  []note
	files   []*vfs.FileDescription
	release []*endpoint
}

type note struct {
	q    *waiter.Queue
	mask waiter.EventMask
}

func (n *notes) notify(q *waiter.Queue, mask waiter.EventMask) {
	for i := range n.events {
		if n.events[i].q == q {
			n.events[i].mask |= mask
			return
		}
	}
	n.events = append(n.events, note{q, mask})
}

// flush runs the collected actions; Namespace.mu must not be held.
func (n *notes) flush() {
	for _, e := range n.events {
		e.q.Notify(e.mask)
	}
	for _, f := range n.files {
		f.DecRef()
	}
	for _, e := range n.release {
		e.Release()
	}
	*n = notes{}
}

// procNetUnix generates /proc/net/unix (unix_seq_show): the kernel
// address column is zero, as for an unprivileged reader.
func procNetUnix(st *socket.Stack) string {
	ns := NamespaceOf(st)
	ns.mu.Lock()
	var rows []*endpoint
	for e := range ns.all {
		rows = append(rows, e)
	}
	ns.mu.Unlock()
	sortEndpoints(rows)
	out := "Num       RefCount Protocol Flags    Type St Inode Path\n"
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, e := range rows {
		if e.dead {
			continue
		}
		flags := 0
		if e.state == stateListen {
			flags = 1 << 16 // __SO_ACCEPTCON
		}
		// SS_UNCONNECTED 1, SS_CONNECTING 2, SS_CONNECTED 3; a
		// connection not accepted yet has no socket.
		st := 1
		switch {
		case e.ino == 0 && e.state == stateConnected:
			st = 2
		case e.state == stateConnected:
			st = 3
		}
		out += fmt.Sprintf("%016x: %08X %08X %08X %04X %02X %5d", 0, 2, 0, flags, e.typ, st, e.ino)
		if e.addr != nil {
			out += " " + e.addr.String()
		}
		out += "\n"
	}
	return out
}
