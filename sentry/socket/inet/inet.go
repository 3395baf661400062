// Package inet implements AF_INET and AF_INET6 sockets (ip(7), ipv6(7),
// tcp(7), udp(7), icmp ping sockets and, with --net-raw, raw(7)) over the
// Sentry's TCP/IP stack (sentry/netstack, a gVisor tcpip stack used as a
// protocol engine). The socket layer itself — addresses, blocking,
// readiness, options, errno values — is this package's, following
// Linux's net/ipv4 and net/ipv6 for the errors callers see.
//
// Blocking. Each socket has one gVisor waiter.Queue that the engine
// notifies and one Sentry waiter.Queue that poll, epoll and blocked
// calls wait on; a single entry registered on the first forwards every
// event to the second, so there is no goroutine per socket.
//
// Copies. A send copies the application's bytes once, from its memory
// into the engine's buffer (the engine reads through an io.Reader over
// the iovecs); a receive copies once, from the engine's buffer into the
// application's memory. Loopback traffic moves the buffers between
// endpoints without copying.
//
// Not implemented: MSG_OOB (EOPNOTSUPP), IP_RECVERR's error queue
// (MSG_ERRQUEUE gives EAGAIN), multicast routing, IP_TRANSPARENT,
// SO_BINDTODEVICE, TCP_FASTOPEN and TCP_REPAIR (ENOPROTOOPT).
package inet

import (
	"encoding/binary"
	"sync"

	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	linux "golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	gwaiter "gvisor.dev/gvisor/pkg/waiter"
)

// Linux ABI values.
const (
	sizeofSockaddrIn  = 16 // sizeof(struct sockaddr_in)
	sizeofSockaddrIn6 = 28 // sizeof(struct sockaddr_in6)
	// sin6LenRFC2133 is SIN6_LEN_RFC2133: the shortest sockaddr_in6
	// Linux takes (without sin6_scope_id).
	sin6LenRFC2133 = 24
)

// Family is the socket.Family of AF_INET or AF_INET6 (Domain) over a
// stack's Netstack. Both are registered from init; a network mode may
// set another on a stack (socket.Stack.SetFamily).
type Family struct {
	Domain int
}

func init() {
	socket.RegisterFamily(linux.AF_INET, Family{linux.AF_INET})
	socket.RegisterFamily(linux.AF_INET6, Family{linux.AF_INET6})
	socket.RegisterProcNet("tcp", procNetTCP(linux.AF_INET))
	socket.RegisterProcNet("tcp6", procNetTCP(linux.AF_INET6))
	socket.RegisterProcNet("udp", procNetUDP(linux.AF_INET))
	socket.RegisterProcNet("udp6", procNetUDP(linux.AF_INET6))
	socket.RegisterProcNet("dev", procNetDev)
	socket.RegisterProcNet("if_inet6", procNetIfInet6)
	socket.RegisterProcNet("route", procNetRoute)
}

// sockets are the live IP sockets of one stack, for /proc/net.
type sockets struct {
	mu  sync.Mutex
	all map[*endpoint]struct{}
}

func socketsOf(st *socket.Stack) *sockets {
	return st.FamilyState(linux.AF_INET, func() any {
		return &sockets{all: make(map[*endpoint]struct{})}
	}).(*sockets)
}

func (s *sockets) add(e *endpoint) {
	s.mu.Lock()
	s.all[e] = struct{}{}
	s.mu.Unlock()
}

func (s *sockets) remove(e *endpoint) {
	s.mu.Lock()
	delete(s.all, e)
	s.mu.Unlock()
}

func (s *sockets) list() []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*endpoint, 0, len(s.all))
	for e := range s.all {
		out = append(out, e)
	}
	return out
}

// Socket implements socket.Family (inet_create, inet6_create): the
// protocol must match the type (EPROTONOSUPPORT); types other than
// stream, datagram and raw are ESOCKTNOSUPPORT; raw sockets need runsc's
// --net-raw and CAP_NET_RAW (EPERM otherwise, as Linux without the
// capability). Ping sockets need the caller's effective group in the
// namespace's ping_group_range (EACCES, as ping_init_sock).
func (f Family) Socket(ctx vfs.Context, st *socket.Stack, typ, protocol int) (socket.Endpoint, error) {
	ns := netstack.Of(st)
	if ns == nil {
		return nil, linux.EAFNOSUPPORT
	}
	netProto := ipv4.ProtocolNumber
	if f.Domain == linux.AF_INET6 {
		netProto = ipv6.ProtocolNumber
	}
	var trans tcpip.TransportProtocolNumber
	raw := false
	switch typ {
	case linux.SOCK_STREAM:
		if protocol != 0 && protocol != linux.IPPROTO_TCP {
			return nil, linux.EPROTONOSUPPORT
		}
		trans, protocol = tcp.ProtocolNumber, linux.IPPROTO_TCP
	case linux.SOCK_DGRAM:
		switch {
		case protocol == 0 || protocol == linux.IPPROTO_UDP:
			trans, protocol = udp.ProtocolNumber, linux.IPPROTO_UDP
		case protocol == linux.IPPROTO_ICMP && f.Domain == linux.AF_INET:
			if !mayPing(ctx, ns) {
				return nil, linux.EACCES
			}
			trans = icmp.ProtocolNumber4
		case protocol == linux.IPPROTO_ICMPV6 && f.Domain == linux.AF_INET6:
			if !mayPing(ctx, ns) {
				return nil, linux.EACCES
			}
			trans = icmp.ProtocolNumber6
		default:
			return nil, linux.EPROTONOSUPPORT
		}
	case linux.SOCK_RAW:
		if !ns.AllowRawSockets || !socket.HasCapability(ctx, linux.CAP_NET_RAW) {
			return nil, linux.EPERM
		}
		if protocol <= 0 || protocol >= 255 {
			return nil, linux.EPROTONOSUPPORT
		}
		trans, raw = tcpip.TransportProtocolNumber(protocol), true
	default:
		return nil, linux.ESOCKTNOSUPPORT
	}
	e := &endpoint{
		Common: socket.NewCommon(f.Domain, typ, protocol),
		st:     st, ns: ns, netProto: netProto, transProto: trans,
		wq: new(gwaiter.Queue), uid: ctx.FSUID(),
	}
	if e.stream() {
		e.Common.SetDefaultBufSizes(netstack.TCPDefaultSndBuf, netstack.TCPDefaultRcvBuf)
	}
	var err tcpip.Error
	if raw {
		e.ep, err = ns.Stack.NewRawEndpoint(trans, netProto, e.wq, true)
	} else {
		e.ep, err = ns.Stack.NewEndpoint(trans, netProto, e.wq)
	}
	if err != nil {
		return nil, errno(err)
	}
	e.init()
	return e, nil
}

// Pair implements socket.Family: IP has no socketpair (inet's ops have
// sock_no_socketpair).
func (Family) Pair(vfs.Context, *socket.Stack, int, int) (socket.Endpoint, socket.Endpoint, error) {
	return nil, nil, linux.EOPNOTSUPP
}

// parseAddr decodes a sockaddr_in or sockaddr_in6 given to a socket of
// domain (inet_bind, inet6_bind, __ip4_datagram_connect, ...): too short
// is EINVAL, another family EAFNOSUPPORT (AF_UNSPEC with INADDR_ANY is
// taken by AF_INET sockets, as Linux does for old programs). The any
// address becomes tcpip's unspecified one; an AF_INET6 socket's
// v4-mapped address stays 16 bytes (the engine maps it).
func parseAddr(domain int, b []byte) (tcpip.FullAddress, error) {
	if len(b) < 2 {
		return tcpip.FullAddress{}, linux.EINVAL
	}
	fam := int(binary.LittleEndian.Uint16(b))
	switch domain {
	case linux.AF_INET:
		if len(b) < sizeofSockaddrIn {
			return tcpip.FullAddress{}, linux.EINVAL
		}
		addr := tcpip.AddrFrom4Slice(b[4:8])
		if fam != linux.AF_INET && !(fam == linux.AF_UNSPEC && addr == header.IPv4Any) {
			return tcpip.FullAddress{}, linux.EAFNOSUPPORT
		}
		fa := tcpip.FullAddress{Port: binary.BigEndian.Uint16(b[2:4]), Addr: addr}
		if addr == header.IPv4Any {
			fa.Addr = tcpip.Address{}
		}
		return fa, nil
	default:
		if len(b) < sin6LenRFC2133 {
			return tcpip.FullAddress{}, linux.EINVAL
		}
		if fam != linux.AF_INET6 {
			return tcpip.FullAddress{}, linux.EAFNOSUPPORT
		}
		addr := tcpip.AddrFrom16Slice(b[8:24])
		fa := tcpip.FullAddress{Port: binary.BigEndian.Uint16(b[2:4]), Addr: addr}
		if len(b) >= sizeofSockaddrIn6 {
			fa.NIC = tcpip.NICID(binary.LittleEndian.Uint32(b[24:28]))
			if !header.IsV6LinkLocalUnicastAddress(addr) && !header.IsV6LinkLocalMulticastAddress(addr) {
				fa.NIC = 0
			}
		}
		if addr == header.IPv6Any {
			fa.Addr = tcpip.Address{}
		}
		return fa, nil
	}
}

// sockaddr encodes a as a socket of domain shows it: an AF_INET6
// socket shows IPv4 peers as v4-mapped addresses, the unspecified
// address as 0.0.0.0 or ::.
func sockaddr(domain int, a tcpip.FullAddress) []byte {
	if domain == linux.AF_INET {
		b := make([]byte, sizeofSockaddrIn)
		binary.LittleEndian.PutUint16(b, linux.AF_INET)
		binary.BigEndian.PutUint16(b[2:], a.Port)
		if a.Addr.Len() == 4 {
			v := a.Addr.As4()
			copy(b[4:8], v[:])
		}
		return b
	}
	b := make([]byte, sizeofSockaddrIn6)
	binary.LittleEndian.PutUint16(b, linux.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], a.Port)
	switch a.Addr.Len() {
	case 4:
		v := a.Addr.As4()
		b[18], b[19] = 0xff, 0xff
		copy(b[20:24], v[:])
	case 16:
		v := a.Addr.As16()
		copy(b[8:24], v[:])
		if header.IsV6LinkLocalUnicastAddress(a.Addr) {
			binary.LittleEndian.PutUint32(b[24:], uint32(a.NIC))
		}
	}
	return b
}

// errno is the errno Linux returns where the engine returns err.
func errno(err tcpip.Error) error {
	switch err.(type) {
	case nil:
		return nil
	case *tcpip.ErrUnknownProtocol, *tcpip.ErrInvalidEndpointState, *tcpip.ErrAlreadyBound,
		*tcpip.ErrInvalidOptionValue, *tcpip.ErrMalformedHeader, *tcpip.ErrMissingRequiredFields,
		*tcpip.ErrMulticastInputCannotBeOutput, *tcpip.ErrInvalidNICID, *tcpip.ErrInvalidPortRange:
		return linux.EINVAL
	case *tcpip.ErrUnknownNICID, *tcpip.ErrUnknownDevice:
		return linux.ENODEV
	case *tcpip.ErrUnknownProtocolOption:
		return linux.ENOPROTOOPT
	case *tcpip.ErrDuplicateNICID, *tcpip.ErrDuplicateAddress:
		return linux.EEXIST
	case *tcpip.ErrHostUnreachable:
		return linux.EHOSTUNREACH
	case *tcpip.ErrNetworkUnreachable:
		return linux.ENETUNREACH
	case *tcpip.ErrHostDown:
		return linux.EHOSTDOWN
	case *tcpip.ErrNoNet:
		return linux.ENONET
	case *tcpip.ErrAlreadyConnecting:
		return linux.EALREADY
	case *tcpip.ErrAlreadyConnected:
		return linux.EISCONN
	case *tcpip.ErrNoPortAvailable:
		return linux.EAGAIN
	case *tcpip.ErrPortInUse:
		return linux.EADDRINUSE
	case *tcpip.ErrBadLocalAddress:
		return linux.EADDRNOTAVAIL
	case *tcpip.ErrClosedForSend, *tcpip.ErrAborted:
		return linux.EPIPE
	case *tcpip.ErrClosedForReceive:
		return nil
	case *tcpip.ErrWouldBlock:
		return linux.EAGAIN
	case *tcpip.ErrConnectionRefused:
		return linux.ECONNREFUSED
	case *tcpip.ErrTimeout:
		return linux.ETIMEDOUT
	case *tcpip.ErrConnectStarted:
		return linux.EINPROGRESS
	case *tcpip.ErrDestinationRequired:
		return linux.EDESTADDRREQ
	case *tcpip.ErrNotSupported:
		return linux.EOPNOTSUPP
	case *tcpip.ErrQueueSizeNotSupported:
		return linux.ENOTTY
	case *tcpip.ErrNotConnected:
		return linux.ENOTCONN
	case *tcpip.ErrConnectionReset:
		return linux.ECONNRESET
	case *tcpip.ErrConnectionAborted:
		return linux.ECONNABORTED
	case *tcpip.ErrNoSuchFile:
		return linux.ENOENT
	case *tcpip.ErrBadAddress, *tcpip.ErrBadBuffer:
		return linux.EFAULT
	case *tcpip.ErrMessageTooLong:
		return linux.EMSGSIZE
	case *tcpip.ErrNoBufferSpace:
		return linux.ENOBUFS
	case *tcpip.ErrBroadcastDisabled:
		return linux.EACCES
	case *tcpip.ErrNotPermitted:
		return linux.EPERM
	case *tcpip.ErrAddressFamilyNotSupported:
		return linux.EAFNOSUPPORT
	case *tcpip.ErrEndpointBusy:
		return linux.EBUSY
	}
	return linux.EINVAL
}

// mayPing says whether the caller's effective group is in the
// namespace's ping_group_range.
func mayPing(ctx vfs.Context, ns *netstack.Netstack) bool {
	_, peer := socket.CallerCreds(ctx)
	return peer.GID >= ns.PingGroups[0] && peer.GID <= ns.PingGroups[1]
}
