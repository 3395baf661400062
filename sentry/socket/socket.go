// Package socket is the Sentry's socket layer: the open file description
// of a socket (File), the generic part of every socket (Common: type,
// SOL_SOCKET options, pending error, peer credentials) and the small
// interfaces a protocol family implements to plug in (Family, Endpoint).
// The families live in sub-packages: sentry/socket/unix (AF_UNIX) and
// sentry/socket/netlink (AF_NETLINK, NETLINK_ROUTE) and sentry/socket/inet
// (AF_INET, AF_INET6, over the stack's engine, see Stack.SetEngine); each
// registers itself with RegisterFamily from init. A family that is not
// registered (AF_PACKET, ...)
// makes socket(2) fail with EAFNOSUPPORT, as a Linux kernel built without
// it does.
//
// Adding a family (IP networking):
//
//   - implement Family (Socket, and Pair for socketpair(2)) and Endpoint
//     (one per socket: bind, listen, accept, connect, shutdown, sendmsg,
//     recvmsg, names, options at levels other than SOL_SOCKET, ioctls,
//     readiness, release), embedding *Common for the generic state;
//   - call RegisterFamily(AF_INET, f) from init and import the package
//     from syscalls (syscalls/sys_socket.go does the decoding, control
//     messages, descriptor passing and SIGPIPE for every family);
//   - give the Stack the interfaces and routes it has (Stack.SetNetwork):
//     rtnetlink dumps and the SIOCGIF* ioctls read them from there;
//   - optionally add /proc/net files with RegisterProcNet.
//
// Nothing here knows system call numbers; errors are the errno values
// the socket calls return.
package socket

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
)

// Linux ABI values golang.org/x/sys/unix lacks.
const (
	// SockMax is SOCK_MAX: socket(2) types at or above it are EINVAL.
	SockMax = 11
	// SockTypeMask is SOCK_TYPE_MASK.
	SockTypeMask = 0xf
	// SCMMaxFD is SCM_MAX_FD: the most descriptors one message carries.
	SCMMaxFD = 253
	// SizeofSockaddrStorage is sizeof(struct sockaddr_storage).
	SizeofSockaddrStorage = 128
	// SizeofUcred is sizeof(struct ucred).
	SizeofUcred = 12

	// DefaultBufSize is net.core.wmem_default and rmem_default, the
	// default SO_SNDBUF and SO_RCVBUF.
	DefaultBufSize = 212992
	// MaxBufSize is net.core.wmem_max and rmem_max: SO_SNDBUF and
	// SO_RCVBUF requests are capped there before being doubled.
	MaxBufSize = 212992
	// MinSndBuf and MinRcvBuf are SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF
	// (2 * and 1 * (2048 + the aligned size of struct sk_buff)).
	MinSndBuf = 4608
	MinRcvBuf = 2304
	// SoMaxConn is net.core.somaxconn: listen(2) backlogs are capped there.
	SoMaxConn = 4096

	// overflowID is what a uid or gid without a mapping reads as
	// (/proc/sys/kernel/overflowuid).
	overflowID = 65534
)

// Creds are what a socket tells its peer about a process (struct ucred):
// SO_PEERCRED and SCM_CREDENTIALS.
type Creds struct {
	PID      int32
	UID, GID uint32
}

// NoCreds is what a receiver with SO_PASSCRED reads for a message that
// carries no credentials: pid 0 and the invalid uid and gid, which
// user space sees as the overflow ids (SO_PEERCRED without a peer gives
// -1 for them instead, as Linux's cred_to_ucred does).
var NoCreds = Creds{PID: 0, UID: overflowID, GID: overflowID}

// Wait says how an operation may block: not at all (O_NONBLOCK or
// MSG_DONTWAIT), or for at most Timeout (SO_RCVTIMEO / SO_SNDTIMEO; 0
// means no limit).
type Wait struct {
	Nonblock bool
	Timeout  time.Duration
}

// IO is the application's side of one send or receive: its buffers
// (iovecs) seen as one run of Len bytes. CopyIn and CopyOut copy at byte
// offset off and return how much they copied (less on a fault, with the
// error).
type IO interface {
	Len() int
	CopyIn(off int, dst []byte) (int, error)
	CopyOut(off int, src []byte) (int, error)
}

// Bytes is an IO over a Sentry buffer (read(2) and write(2) on a socket,
// tests).
type Bytes []byte

// Len implements IO.
func (b Bytes) Len() int { return len(b) }

// CopyIn implements IO.
func (b Bytes) CopyIn(off int, dst []byte) (int, error) { return copy(dst, b[off:]), nil }

// CopyOut implements IO.
func (b Bytes) CopyOut(off int, src []byte) (int, error) { return copy(b[off:], src), nil }

// Cmsg is a control message a family adds to a received message besides
// credentials and descriptors (e.g. NETLINK_PKTINFO).
type Cmsg struct {
	Level, Type int32
	Data        []byte
}

// SendMsg is one sendmsg(2) (or send, sendto, write) after decoding.
type SendMsg struct {
	Data IO
	// To is the destination address (msg_name), nil if none.
	To []byte
	// Flags are the MSG_* flags.
	Flags int
	// Rights are the files of an SCM_RIGHTS message. The caller keeps its
	// references; an endpoint that queues them takes its own.
	Rights []*vfs.FileDescription
	// Creds are credentials given with SCM_CREDENTIALS (already checked
	// against the sender's identity), nil if none.
	Creds *Creds
	// Control are the control messages at levels other than SOL_SOCKET
	// (IP_TTL, IPV6_HOPLIMIT, ...); families without such messages
	// ignore them, as Linux's unix sockets do.
	Control []Cmsg
}

// RecvMsg is one recvmsg(2) (or recv, recvfrom, read): Data and Flags in,
// the rest filled by the endpoint.
type RecvMsg struct {
	Data IO
	// Flags are the MSG_* flags of the call.
	Flags int
	// From is the sender's address (msg_name), nil if it has none.
	From []byte
	// OutFlags are the msg_flags to report (MSG_TRUNC, MSG_EOR, ...).
	OutFlags int
	// Creds are the sender's credentials, for a receiver with
	// SO_PASSCRED.
	Creds *Creds
	// Rights are received files; the caller owns one reference on each.
	Rights []*vfs.FileDescription
	// Control are other control messages to deliver.
	Control []Cmsg
}

// Family creates the sockets of one protocol family.
type Family interface {
	// Socket implements socket(2) for the family; typ is the socket type
	// without SOCK_NONBLOCK and SOCK_CLOEXEC.
	Socket(ctx vfs.Context, st *Stack, typ, protocol int) (Endpoint, error)
	// Pair implements socketpair(2) (EOPNOTSUPP for families without it).
	Pair(ctx vfs.Context, st *Stack, typ, protocol int) (Endpoint, Endpoint, error)
}

// Endpoint is one socket of some family: what remains of each socket
// system call once the generic layer decoded it. Methods block as w says
// and return the errno Linux's protocol code returns; a wait interrupted
// by a signal returns what Common.Block returns (ERESTARTSYS, or EINTR
// under a timeout). Addresses are raw sockaddr bytes in the family's
// format.
type Endpoint interface {
	waiter.Waitable
	// Sock returns the socket's generic state (its embedded *Common).
	Sock() *Common
	Bind(ctx vfs.Context, addr []byte) error
	Listen(ctx vfs.Context, backlog int) error
	// Accept returns the next connection; its Common is a new one.
	Accept(ctx vfs.Context, w Wait) (Endpoint, error)
	Connect(ctx vfs.Context, addr []byte, w Wait) error
	// Shutdown implements shutdown(2); how is SHUT_RD, SHUT_WR or
	// SHUT_RDWR (the caller checked).
	Shutdown(ctx vfs.Context, how int) error
	// SendMsg returns the number of bytes sent.
	SendMsg(ctx vfs.Context, m *SendMsg, w Wait) (int, error)
	// RecvMsg returns the number of bytes received (for MSG_TRUNC on a
	// message socket, the length of the message).
	RecvMsg(ctx vfs.Context, m *RecvMsg, w Wait) (int, error)
	// SockName returns the bound address (an unbound socket's has just
	// the family).
	SockName() []byte
	// PeerName returns the peer's address; ENOTCONN without a peer.
	PeerName() ([]byte, error)
	// GetSockOpt and SetSockOpt handle the levels other than SOL_SOCKET
	// (EOPNOTSUPP or ENOPROTOOPT as the family answers). GetSockOpt
	// returns the value; the caller truncates it to the user's length.
	GetSockOpt(ctx vfs.Context, level, name int, size int) ([]byte, error)
	SetSockOpt(ctx vfs.Context, level, name int, val []byte) error
	// Ioctl handles the family's ioctls (FIONREAD, TIOCOUTQ...); ENOTTY
	// for others. The generic ones (SIOCGIF*) are the File's.
	Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error)
	// Listening reports whether the socket listens (SO_ACCEPTCONN).
	Listening() bool
	// Release is called once, when the socket's file is released (or for
	// a connection that was never accepted, when its listener goes).
	Release()
}

// BufferSizeObserver endpoints learn when SO_SNDBUF or SO_RCVBUF change
// (a bigger send buffer may make a blocked writer's socket writable).
type BufferSizeObserver interface {
	BufferSizeChanged()
}

// OptionObserver endpoints act on SOL_SOCKET options Common stores
// (an IP socket hands SO_KEEPALIVE, SO_REUSEADDR, SO_LINGER, ... to its
// protocol engine): OptionChanged is called after a successful set.
type OptionObserver interface {
	OptionChanged(name int)
}

// ErrorReporter endpoints keep errors of their own besides Common's
// (an IP socket's failed non-blocking connect): SO_ERROR takes it when
// Common has none.
type ErrorReporter interface {
	TakeSocketError() unix.Errno
}

var families struct {
	mu sync.RWMutex
	m  map[int]Family
}

// RegisterFamily makes socket(2) and socketpair(2) of family use f. Call
// it from init.
func RegisterFamily(family int, f Family) {
	families.mu.Lock()
	defer families.mu.Unlock()
	if families.m == nil {
		families.m = make(map[int]Family)
	}
	if families.m[family] != nil {
		panic("socket: family registered twice")
	}
	families.m[family] = f
}

// LookupFamily returns the implementation of family, or nil (socket(2)
// then fails with EAFNOSUPPORT).
func LookupFamily(family int) Family {
	families.mu.RLock()
	defer families.mu.RUnlock()
	return families.m[family]
}
