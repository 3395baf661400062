package hostinet

import (
	"strconv"
	"unsafe"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Options passed on to the host socket, by level: the common ones of
// socket(7), ip(7), ipv6(7), tcp(7) and udp(7). Others fail with
// ENOPROTOOPT (and are counted for --debug) rather than reach the host.
// The Sentry keeps SO_RCVTIMEO and SO_SNDTIMEO itself (it does the
// blocking), and the socket's identity (SO_TYPE, SO_DOMAIN, ...).
var (
	// socketOpts are the SOL_SOCKET options the host acts on; get marks
	// those only read (set gives ENOPROTOOPT, as on Linux).
	socketOpts = map[int]access{
		unix.SO_REUSEADDR: rw, unix.SO_REUSEPORT: rw, unix.SO_KEEPALIVE: rw, unix.SO_LINGER: rw,
		unix.SO_SNDBUF: rw, unix.SO_RCVBUF: rw, unix.SO_BROADCAST: rw, unix.SO_OOBINLINE: rw,
		unix.SO_DONTROUTE: rw, unix.SO_RCVLOWAT: rw, unix.SO_PRIORITY: rw, unix.SO_ERROR: get,
		unix.SO_ACCEPTCONN: get,
	}
	levelOpts = map[int]map[int]access{
		unix.IPPROTO_IP: {
			unix.IP_TOS: rw, unix.IP_TTL: rw, unix.IP_MTU_DISCOVER: rw, unix.IP_MTU: get,
			unix.IP_MULTICAST_IF: rw, unix.IP_MULTICAST_TTL: rw, unix.IP_MULTICAST_LOOP: rw,
			unix.IP_ADD_MEMBERSHIP: rw, unix.IP_DROP_MEMBERSHIP: rw, unix.IP_FREEBIND: rw,
			unix.IP_BIND_ADDRESS_NO_PORT: rw,
		},
		unix.IPPROTO_IPV6: {
			unix.IPV6_V6ONLY: rw, unix.IPV6_UNICAST_HOPS: rw, unix.IPV6_MULTICAST_IF: rw,
			unix.IPV6_MULTICAST_HOPS: rw, unix.IPV6_MULTICAST_LOOP: rw, unix.IPV6_ADD_MEMBERSHIP: rw,
			unix.IPV6_DROP_MEMBERSHIP: rw, unix.IPV6_TCLASS: rw, unix.IPV6_MTU_DISCOVER: rw,
			unix.IPV6_MTU: get,
		},
		unix.IPPROTO_TCP: {
			unix.TCP_NODELAY: rw, unix.TCP_MAXSEG: rw, unix.TCP_CORK: rw, unix.TCP_KEEPIDLE: rw,
			unix.TCP_KEEPINTVL: rw, unix.TCP_KEEPCNT: rw, unix.TCP_SYNCNT: rw, unix.TCP_LINGER2: rw,
			unix.TCP_DEFER_ACCEPT: rw, unix.TCP_WINDOW_CLAMP: rw, unix.TCP_INFO: get,
			unix.TCP_QUICKACK: rw, unix.TCP_CONGESTION: rw, unix.TCP_USER_TIMEOUT: rw,
			unix.TCP_NOTSENT_LOWAT: rw, unix.TCP_FASTOPEN: rw, unix.TCP_FASTOPEN_CONNECT: rw,
		},
		unix.IPPROTO_UDP: {
			unix.UDP_CORK: rw,
		},
	}
)

type access int

const (
	get access = iota + 1
	rw
)

// maxOptLen bounds a value read from the host (TCP_INFO, the largest
// allowed, is about 250 bytes).
const maxOptLen = 512

func (e *endpoint) setsockopt(level, name int, val []byte) error {
	var p unsafe.Pointer
	if len(val) > 0 {
		p = unsafe.Pointer(&val[0])
	}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(e.fd), uintptr(level), uintptr(name), uintptr(p), uintptr(len(val)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (e *endpoint) getsockopt(level, name, size int) ([]byte, error) {
	buf := make([]byte, max(min(size, maxOptLen), 0)+1) // +1: never a null pointer
	n := uint32(len(buf) - 1)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(e.fd), uintptr(level), uintptr(name),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return nil, errno
	}
	return buf[:min(int(n), len(buf)-1)], nil
}

// SetSocketOption implements socket.SocketLevelOptions: the options the
// host acts on go to the host socket.
func (e *endpoint) SetSocketOption(ctx vfs.Context, name int, val []byte) (bool, error) {
	switch socketOpts[name] {
	case rw:
		return true, e.setsockopt(unix.SOL_SOCKET, name, val)
	case get:
		return true, unix.ENOPROTOOPT
	}
	return false, nil
}

// GetSocketOption implements socket.SocketLevelOptions.
func (e *endpoint) GetSocketOption(name int, size int) ([]byte, bool, error) {
	if socketOpts[name] == 0 {
		return nil, false, nil
	}
	v, err := e.getsockopt(unix.SOL_SOCKET, name, size)
	return v, true, err
}

// SetSockOpt implements socket.Endpoint.
func (e *endpoint) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	switch levelOpts[level][name] {
	case rw:
		return e.setsockopt(level, name, val)
	case get:
		return unix.ENOPROTOOPT
	}
	return e.refuse(ctx, "setsockopt", level, name)
}

// GetSockOpt implements socket.Endpoint.
func (e *endpoint) GetSockOpt(ctx vfs.Context, level, name int, size int) ([]byte, error) {
	if levelOpts[level][name] == 0 {
		return nil, e.refuse(ctx, "getsockopt", level, name)
	}
	return e.getsockopt(level, name, size)
}

// refuse answers an option outside the allowlist with ENOPROTOOPT (what
// Linux's ip_setsockopt gives for a level it does not know, too); an
// option of an IP level is counted for --debug.
func (e *endpoint) refuse(ctx vfs.Context, call string, level, name int) error {
	if _, ok := levelOpts[level]; ok {
		socket.CountUnsupported(ctx, call+"(level "+strconv.Itoa(level)+", option "+strconv.Itoa(name)+") with --network=host")
	}
	return unix.ENOPROTOOPT
}
