// Package hostinet serves AF_INET and AF_INET6 sockets with host sockets
// (--network=host): each socket of the application is a non-blocking host
// socket the Sentry opens on its behalf. The Sentry still decodes every
// call, blocks the task itself (waking on host readiness through
// sentry/fdnotify, so signals interrupt it as for any socket) and passes
// on only the options in an allowlist; the host kernel does the
// protocols. The application thus talks to the host's network stack:
// weaker isolation than the Sentry's own stack, documented in
// docs/networking.md.
//
// Install gives a socket.Stack the family, the host's interfaces and
// routes (read once at start, by ReadHost, before the Sentry confines
// itself) and the host's /proc/net files.
package hostinet

import (
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Family is the socket.Family of host sockets, for AF_INET and AF_INET6.
type Family struct {
	// Domain is AF_INET or AF_INET6.
	Domain int
}

// Socket implements socket.Family: TCP and UDP sockets, and ICMP "ping"
// datagram sockets (which the host allows as its net.ipv4.ping_group_range
// says). Raw sockets need CAP_NET_RAW, which the Sentry does not give
// (EPERM, as Linux without it); other types have no IP protocol
// (ESOCKTNOSUPPORT).
func (f Family) Socket(ctx vfs.Context, st *socket.Stack, typ, protocol int) (socket.Endpoint, error) {
	switch typ {
	case unix.SOCK_STREAM:
		if protocol != 0 && protocol != unix.IPPROTO_TCP {
			return nil, unix.EPROTONOSUPPORT
		}
	case unix.SOCK_DGRAM:
		icmp := unix.IPPROTO_ICMP
		if f.Domain == unix.AF_INET6 {
			icmp = unix.IPPROTO_ICMPV6
		}
		if protocol != 0 && protocol != unix.IPPROTO_UDP && protocol != icmp {
			return nil, unix.EPROTONOSUPPORT
		}
	case unix.SOCK_RAW:
		socket.CountUnsupported(ctx, "socket(SOCK_RAW) with --network=host")
		return nil, unix.EPERM
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	fd, err := unix.Socket(f.Domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return nil, err
	}
	if protocol == 0 {
		protocol = unix.IPPROTO_TCP
		if typ == unix.SOCK_DGRAM {
			protocol = unix.IPPROTO_UDP
		}
	}
	return newEndpoint(fd, f.Domain, typ, protocol)
}

// Pair implements socket.Family: IP has no socketpair(2).
func (Family) Pair(vfs.Context, *socket.Stack, int, int) (socket.Endpoint, socket.Endpoint, error) {
	return nil, nil, unix.EOPNOTSUPP
}

// Install makes st serve AF_INET and AF_INET6 with host sockets, see h's
// interfaces and routes, and show h's /proc/net files.
func Install(st *socket.Stack, h *Host) {
	st.SetFamily(unix.AF_INET, Family{Domain: unix.AF_INET})
	st.SetFamily(unix.AF_INET6, Family{Domain: unix.AF_INET6})
	st.SetNetwork(h.Network)
	for name, fd := range h.procNet {
		st.SetProcNet(name, func() string { return readProcNet(fd) })
	}
}
