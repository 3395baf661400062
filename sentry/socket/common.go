package socket

import (
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Timeouts are kept in jiffies of a HZ=250 kernel (Debian's), so that
// SO_RCVTIMEO and SO_SNDTIMEO read back the value Linux rounds them to.
const (
	hz = 250
	// maxScheduleTimeout is MAX_SCHEDULE_TIMEOUT: no timeout.
	maxScheduleTimeout = int64(^uint64(0) >> 1)
)

var cookies atomic.Uint64

// Common is the generic state of every socket (Linux's struct sock
// fields that sock_setsockopt and sock_getsockopt manage): its type, the
// SOL_SOCKET options, the pending error (SO_ERROR) and the peer's
// credentials (SO_PEERCRED). Families embed a *Common in their endpoints
// and read the options they act on (SndBuf, PassCred, ...) from it. Its
// lock is a leaf: nothing is called with it held.
type Common struct {
	Family, Type, Protocol int

	cookie uint64

	mu       sync.Mutex
	sndBuf   int
	rcvBuf   int
	rcvTimeo int64 // jiffies; maxScheduleTimeout: none
	sndTimeo int64
	linger   bool
	lingerS  int32
	err      unix.Errno
	peerCred *Creds
	rcvLowat int32
	priority int32
	// flags are the boolean options (SO_REUSEADDR, SO_PASSCRED, ...),
	// by option number.
	flags map[int]bool
}

// NewCommon returns the generic state of a new socket.
func NewCommon(family, typ, protocol int) *Common {
	return &Common{
		Family: family, Type: typ, Protocol: protocol,
		cookie:   cookies.Add(1),
		sndBuf:   DefaultBufSize,
		rcvBuf:   DefaultBufSize,
		rcvTimeo: maxScheduleTimeout,
		sndTimeo: maxScheduleTimeout,
		rcvLowat: 1,
		flags:    make(map[int]bool),
	}
}

// Inherit copies to an accepted socket the options it takes from its
// listener: SO_PASSCRED and SO_PASSSEC (unix_sock_inherit_flags; the rest
// of an accepted unix socket is made fresh at connect time).
func (c *Common) Inherit(from *Common) {
	from.mu.Lock()
	pass, sec := from.flags[unix.SO_PASSCRED], from.flags[unix.SO_PASSSEC]
	from.mu.Unlock()
	c.mu.Lock()
	c.flags[unix.SO_PASSCRED], c.flags[unix.SO_PASSSEC] = pass, sec
	c.mu.Unlock()
}

// Linger returns SO_LINGER: whether it is on and its time in seconds.
func (c *Common) Linger() (bool, int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.linger, c.lingerS
}

// Clone copies every SOL_SOCKET option of from to c: an accepted IP
// socket is a copy of its listener (sk_clone_lock), pending error and
// peer credentials aside.
func (c *Common) Clone(from *Common) {
	from.mu.Lock()
	sndBuf, rcvBuf, rcvTimeo, sndTimeo := from.sndBuf, from.rcvBuf, from.rcvTimeo, from.sndTimeo
	linger, lingerS, rcvLowat, priority := from.linger, from.lingerS, from.rcvLowat, from.priority
	flags := make(map[int]bool, len(from.flags))
	for k, v := range from.flags {
		flags[k] = v
	}
	from.mu.Unlock()
	c.mu.Lock()
	c.sndBuf, c.rcvBuf, c.rcvTimeo, c.sndTimeo = sndBuf, rcvBuf, rcvTimeo, sndTimeo
	c.linger, c.lingerS, c.rcvLowat, c.priority = linger, lingerS, rcvLowat, priority
	c.flags = flags
	c.mu.Unlock()
}

// SetDefaultBufSizes sets SO_SNDBUF and SO_RCVBUF of a new socket whose
// protocol has defaults of its own (TCP's tcp_wmem and tcp_rmem).
func (c *Common) SetDefaultBufSizes(snd, rcv int) {
	c.mu.Lock()
	c.sndBuf, c.rcvBuf = snd, rcv
	c.mu.Unlock()
}

// SndBuf returns SO_SNDBUF.
func (c *Common) SndBuf() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sndBuf
}

// RcvBuf returns SO_RCVBUF.
func (c *Common) RcvBuf() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rcvBuf
}

// RcvLowat returns SO_RCVLOWAT.
func (c *Common) RcvLowat() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.rcvLowat)
}

// Flag returns a boolean SOL_SOCKET option (SO_PASSCRED, ...).
func (c *Common) Flag(opt int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flags[opt]
}

// PassCred reports SO_PASSCRED.
func (c *Common) PassCred() bool { return c.Flag(unix.SO_PASSCRED) }

// SetError sets the pending error (sk_err) reported by SO_ERROR and by
// the family's next operation.
func (c *Common) SetError(e unix.Errno) {
	c.mu.Lock()
	c.err = e
	c.mu.Unlock()
}

// PendingError returns the pending error without clearing it (poll's
// EPOLLERR).
func (c *Common) PendingError() unix.Errno {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// TakeError returns and clears the pending error (sock_error).
func (c *Common) TakeError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.err
	c.err = 0
	if e == 0 {
		return nil
	}
	return e
}

// SetPeerCred records the credentials SO_PEERCRED reports.
func (c *Common) SetPeerCred(cr Creds) {
	c.mu.Lock()
	c.peerCred = &cr
	c.mu.Unlock()
}

// PeerCred returns the SO_PEERCRED credentials; ok is false when none
// were recorded.
func (c *Common) PeerCred() (cr Creds, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peerCred == nil {
		return Creds{}, false
	}
	return *c.peerCred, true
}

func jiffiesToWait(j int64, nonblock bool) Wait {
	switch {
	case nonblock || j == 0:
		return Wait{Nonblock: true}
	case j == maxScheduleTimeout:
		return Wait{}
	}
	return Wait{Timeout: time.Duration(j) * (time.Second / hz)}
}

// RecvWait is how a receive (or accept) may block: not at all when
// nonblock (O_NONBLOCK or MSG_DONTWAIT), else for at most SO_RCVTIMEO.
func (c *Common) RecvWait(nonblock bool) Wait {
	c.mu.Lock()
	defer c.mu.Unlock()
	return jiffiesToWait(c.rcvTimeo, nonblock)
}

// SendWait is how a send (or connect) may block (SO_SNDTIMEO).
func (c *Common) SendWait(nonblock bool) Wait {
	c.mu.Lock()
	defer c.mu.Unlock()
	return jiffiesToWait(c.sndTimeo, nonblock)
}

// Boolean options sock_setsockopt stores and sock_getsockopt reports as
// 0 or 1 (the Sentry acts on SO_PASSCRED; the others only matter to IP
// sockets or to nothing the Sentry does, as for a unix socket on Linux).
var boolOpts = map[int]bool{
	unix.SO_DEBUG:     true,
	unix.SO_REUSEADDR: true,
	unix.SO_REUSEPORT: true,
	unix.SO_KEEPALIVE: true,
	unix.SO_DONTROUTE: true,
	unix.SO_BROADCAST: true,
	unix.SO_OOBINLINE: true,
	unix.SO_NO_CHECK:  true,
	unix.SO_PASSCRED:  true,
	unix.SO_PASSSEC:   true,
}

func getInt(val []byte) (int32, error) {
	if len(val) < 4 {
		return 0, unix.EINVAL
	}
	return int32(binary.LittleEndian.Uint32(val)), nil
}

func putInt(v int32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(v))
	return b
}

func hasCap(ctx vfs.Context, cp int) bool {
	if c, ok := ctx.(vfs.Capable); ok {
		return c.HasCapability(cp)
	}
	return ctx.FSUID() == 0
}

// HasCapability reports whether the caller holds capability cp (the
// task's effective set; a context without capabilities is privileged
// when its fsuid is 0).
func HasCapability(ctx vfs.Context, cp int) bool { return hasCap(ctx, cp) }

// bufSize is what SO_SNDBUF/SO_RCVBUF set: the request (as an unsigned
// value, capped at the sysctl maximum unless forced) doubled for the
// kernel's bookkeeping, and at least min (socket(7)).
func bufSize(v int32, force bool, min int) int {
	var n int64
	if force {
		n = int64(max(v, 0))
		n = min64(n, (1<<31-1)/2)
	} else {
		n = min64(int64(uint32(v)), MaxBufSize)
	}
	return int(max(n*2, int64(min)))
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// setTimeout parses a struct timeval (SO_RCVTIMEO/SO_SNDTIMEO) into
// jiffies as sock_set_timeout does: EDOM for a tv_usec out of range, a
// negative time makes the call never wait, 0 waits forever.
func setTimeout(val []byte) (int64, error) {
	if len(val) < 16 {
		return 0, unix.EINVAL
	}
	sec := int64(binary.LittleEndian.Uint64(val))
	usec := int64(binary.LittleEndian.Uint64(val[8:]))
	if usec < 0 || usec >= 1e6 {
		return 0, unix.EDOM
	}
	if sec < 0 {
		return 0, nil
	}
	if (sec == 0 && usec == 0) || sec >= maxScheduleTimeout/hz-1 {
		return maxScheduleTimeout, nil
	}
	return sec*hz + (usec+(1e6/hz)-1)/(1e6/hz), nil
}

func getTimeout(j int64) []byte {
	b := make([]byte, 16)
	if j != maxScheduleTimeout {
		binary.LittleEndian.PutUint64(b, uint64(j/hz))
		binary.LittleEndian.PutUint64(b[8:], uint64((j%hz)*1e6/hz))
	}
	return b
}

// SocketLevelOptions endpoints act on some SOL_SOCKET options themselves
// (a host socket, whose options the host kernel acts on): Common asks
// them first, and handled false leaves the option to Common.
type SocketLevelOptions interface {
	SetSocketOption(ctx vfs.Context, name int, val []byte) (handled bool, err error)
	GetSocketOption(name int, size int) (val []byte, handled bool, err error)
}

// SetSockOpt implements setsockopt(2) at level SOL_SOCKET (socket(7)).
// unsupported is called for options Linux has that the Sentry does not
// implement (they fail with ENOPROTOOPT).
func (c *Common) SetSockOpt(ctx vfs.Context, ep Endpoint, name int, val []byte, unsupported func(what string)) error {
	if so, ok := ep.(SocketLevelOptions); ok {
		if handled, err := so.SetSocketOption(ctx, name, val); handled {
			return err
		}
	}
	err := c.setSockOpt(ctx, ep, name, val, unsupported)
	if o, ok := ep.(OptionObserver); ok && err == nil {
		o.OptionChanged(name)
	}
	return err
}

func (c *Common) setSockOpt(ctx vfs.Context, ep Endpoint, name int, val []byte, unsupported func(what string)) error {
	switch name {
	case unix.SO_RCVTIMEO, unix.SO_RCVTIMEO_NEW, unix.SO_SNDTIMEO, unix.SO_SNDTIMEO_NEW:
		j, err := setTimeout(val)
		if err != nil {
			return err
		}
		c.mu.Lock()
		if name == unix.SO_RCVTIMEO || name == unix.SO_RCVTIMEO_NEW {
			c.rcvTimeo = j
		} else {
			c.sndTimeo = j
		}
		c.mu.Unlock()
		return nil
	case unix.SO_LINGER:
		if len(val) < 8 {
			return unix.EINVAL
		}
		on := binary.LittleEndian.Uint32(val) != 0
		secs := int32(binary.LittleEndian.Uint32(val[4:]))
		c.mu.Lock()
		c.linger = on
		if on {
			c.lingerS = secs
		}
		c.mu.Unlock()
		return nil
	}
	v, err := getInt(val)
	if err != nil {
		return err
	}
	if boolOpts[name] {
		if name == unix.SO_DEBUG && v != 0 && !hasCap(ctx, unix.CAP_NET_ADMIN) {
			return unix.EACCES
		}
		c.mu.Lock()
		c.flags[name] = v != 0
		c.mu.Unlock()
		return nil
	}
	switch name {
	case unix.SO_SNDBUF, unix.SO_RCVBUF, unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE:
		force := name == unix.SO_SNDBUFFORCE || name == unix.SO_RCVBUFFORCE
		if force && !hasCap(ctx, unix.CAP_NET_ADMIN) {
			return unix.EPERM
		}
		c.mu.Lock()
		if name == unix.SO_SNDBUF || name == unix.SO_SNDBUFFORCE {
			c.sndBuf = bufSize(v, force, MinSndBuf)
		} else {
			c.rcvBuf = bufSize(v, force, MinRcvBuf)
		}
		c.mu.Unlock()
		if o, ok := ep.(BufferSizeObserver); ok {
			o.BufferSizeChanged()
		}
		return nil
	case unix.SO_RCVLOWAT:
		if v < 0 {
			v = 1<<31 - 1
		}
		if v == 0 {
			v = 1
		}
		c.mu.Lock()
		c.rcvLowat = v
		c.mu.Unlock()
		return nil
	case unix.SO_PRIORITY:
		if (v < 0 || v > 6) && !hasCap(ctx, unix.CAP_NET_ADMIN) {
			return unix.EPERM
		}
		c.mu.Lock()
		c.priority = v
		c.mu.Unlock()
		return nil
	case unix.SO_SNDLOWAT:
		// Linux does not let it be changed.
		return unix.ENOPROTOOPT
	case unix.SO_TYPE, unix.SO_PROTOCOL, unix.SO_DOMAIN, unix.SO_ERROR, unix.SO_ACCEPTCONN,
		unix.SO_PEERCRED, unix.SO_PEERNAME, unix.SO_COOKIE, unix.SO_PEERSEC:
		return unix.ENOPROTOOPT
	}
	unsupported("setsockopt(SOL_SOCKET, " + optName(name) + ")")
	return unix.ENOPROTOOPT
}

// GetSockOpt implements getsockopt(2) at level SOL_SOCKET; it returns the
// whole value (the caller truncates it to the user's optlen, as Linux
// does). size is the user's optlen.
func (c *Common) GetSockOpt(ep Endpoint, name int, size int, unsupported func(what string)) ([]byte, error) {
	if so, ok := ep.(SocketLevelOptions); ok {
		if val, handled, err := so.GetSocketOption(name, size); handled {
			return val, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if boolOpts[name] {
		if c.flags[name] {
			return putInt(1), nil
		}
		return putInt(0), nil
	}
	switch name {
	case unix.SO_TYPE:
		return putInt(int32(c.Type)), nil
	case unix.SO_PROTOCOL:
		return putInt(int32(c.Protocol)), nil
	case unix.SO_DOMAIN:
		return putInt(int32(c.Family)), nil
	case unix.SO_SNDBUF:
		return putInt(int32(c.sndBuf)), nil
	case unix.SO_RCVBUF:
		return putInt(int32(c.rcvBuf)), nil
	case unix.SO_RCVLOWAT:
		return putInt(c.rcvLowat), nil
	case unix.SO_SNDLOWAT:
		return putInt(1), nil
	case unix.SO_PRIORITY:
		return putInt(c.priority), nil
	case unix.SO_ERROR:
		e := c.err
		c.err = 0
		if r, ok := ep.(ErrorReporter); ok && e == 0 {
			c.mu.Unlock()
			e = r.TakeSocketError()
			c.mu.Lock()
		}
		return putInt(int32(e)), nil
	case unix.SO_ACCEPTCONN:
		c.mu.Unlock()
		l := ep.Listening()
		c.mu.Lock()
		if l {
			return putInt(1), nil
		}
		return putInt(0), nil
	case unix.SO_RCVTIMEO, unix.SO_RCVTIMEO_NEW:
		return getTimeout(c.rcvTimeo), nil
	case unix.SO_SNDTIMEO, unix.SO_SNDTIMEO_NEW:
		return getTimeout(c.sndTimeo), nil
	case unix.SO_LINGER:
		b := make([]byte, 8)
		if c.linger {
			binary.LittleEndian.PutUint32(b, 1)
		}
		binary.LittleEndian.PutUint32(b[4:], uint32(c.lingerS))
		return b, nil
	case unix.SO_PEERCRED:
		// cred_to_ucred: pid 0 and uid/gid -1 without a peer.
		b := make([]byte, SizeofUcred)
		cr := Creds{PID: 0, UID: ^uint32(0), GID: ^uint32(0)}
		if c.peerCred != nil {
			cr = *c.peerCred
		}
		binary.LittleEndian.PutUint32(b, uint32(cr.PID))
		binary.LittleEndian.PutUint32(b[4:], cr.UID)
		binary.LittleEndian.PutUint32(b[8:], cr.GID)
		return b, nil
	case unix.SO_COOKIE:
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, c.cookie)
		return b, nil
	case unix.SO_PEERNAME:
		c.mu.Unlock()
		addr, err := ep.PeerName()
		c.mu.Lock()
		if err != nil {
			return nil, unix.ENOTCONN
		}
		// Linux refuses a buffer longer than the address.
		if len(addr) < size {
			return nil, unix.EINVAL
		}
		return addr, nil
	case unix.SO_PEERSEC:
		// No security module labels sockets.
		return nil, unix.ENOPROTOOPT
	}
	unsupported("getsockopt(SOL_SOCKET, " + optName(name) + ")")
	return nil, unix.ENOPROTOOPT
}

func optName(name int) string {
	names := map[int]string{
		unix.SO_TIMESTAMP: "SO_TIMESTAMP", unix.SO_TIMESTAMPNS: "SO_TIMESTAMPNS",
		unix.SO_BINDTODEVICE: "SO_BINDTODEVICE", unix.SO_MARK: "SO_MARK",
		unix.SO_PEEK_OFF: "SO_PEEK_OFF", unix.SO_ATTACH_FILTER: "SO_ATTACH_FILTER",
		unix.SO_RXQ_OVFL: "SO_RXQ_OVFL", unix.SO_BUSY_POLL: "SO_BUSY_POLL",
		unix.SO_INCOMING_CPU: "SO_INCOMING_CPU", unix.SO_ZEROCOPY: "SO_ZEROCOPY",
		unix.SO_TIMESTAMPING: "SO_TIMESTAMPING", unix.SO_PEERGROUPS: "SO_PEERGROUPS",
	}
	if n, ok := names[name]; ok {
		return n
	}
	return "option " + strconv.Itoa(name)
}
