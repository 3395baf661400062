package inet

import (
	"encoding/binary"
	"strconv"
	"time"
	"unsafe"

	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	linux "golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	gwaiter "gvisor.dev/gvisor/pkg/waiter"
)

// Linux ABI values x/sys/unix lacks.
const (
	// tcpCANameMax is TCP_CA_NAME_MAX, the size of TCP_CONGESTION.
	tcpCANameMax = 16
	// maxTCPKeepIdle, maxTCPKeepIntvl and maxTCPKeepCnt bound the
	// keepalive options (EINVAL outside 1..max).
	maxTCPKeepIdle  = 32767
	maxTCPKeepIntvl = 32767
	maxTCPKeepCnt   = 127
)

// OptionChanged implements socket.OptionObserver: the SOL_SOCKET options
// the engine acts on are handed to it.
func (e *endpoint) OptionChanged(name int) {
	so := e.ep.SocketOptions()
	switch name {
	case linux.SO_REUSEADDR:
		so.SetReuseAddress(e.Flag(name))
	case linux.SO_REUSEPORT:
		so.SetReusePort(e.Flag(name))
	case linux.SO_KEEPALIVE:
		so.SetKeepAlive(e.Flag(name))
	case linux.SO_BROADCAST:
		so.SetBroadcast(e.Flag(name))
	case linux.SO_NO_CHECK:
		so.SetNoChecksum(e.Flag(name))
	case linux.SO_LINGER:
		on, secs := e.Linger()
		so.SetLinger(tcpip.LingerOption{Enabled: on, Timeout: time.Duration(secs) * time.Second})
	case linux.SO_RCVLOWAT:
		so.SetRcvlowat(int32(e.RcvLowat()))
	}
}

// BufferSizeChanged implements socket.BufferSizeObserver: the engine
// gets the size Common keeps (already doubled, as Linux keeps it). The
// defaults are not handed over at creation, so that TCP's receive
// buffer stays auto-tuned until the application sets one.
func (e *endpoint) BufferSizeChanged() {
	so := e.ep.SocketOptions()
	so.SetSendBufferSize(int64(e.SndBuf()), true)
	so.SetReceiveBufferSize(int64(e.RcvBuf()), true)
	e.queue.Notify(waiterOut)
}

const waiterOut = 0x4 | 0x100 // EPOLLOUT | EPOLLWRNORM

// getInt reads an int option value (EINVAL if shorter than an int).
func getInt(val []byte) (int32, error) {
	if len(val) < 4 {
		return 0, linux.EINVAL
	}
	return int32(binary.LittleEndian.Uint32(val)), nil
}

// getIPInt reads an SOL_IP/SOL_IPV6 value, which Linux also takes as one
// byte (do_ip_setsockopt).
func getIPInt(val []byte) (int32, error) {
	switch {
	case len(val) >= 4:
		return int32(binary.LittleEndian.Uint32(val)), nil
	case len(val) >= 1:
		return int32(val[0]), nil
	}
	return 0, linux.EINVAL
}

func boolInt(b bool) []byte {
	if b {
		return intBytes(1)
	}
	return intBytes(0)
}

func unsupportedOpt(ctx vfs.Context, level string, name int) error {
	socket.CountUnsupported(ctx, "setsockopt("+level+", option "+strconv.Itoa(name)+")")
	return linux.ENOPROTOOPT
}

// SetSockOpt implements socket.Endpoint: SOL_TCP, SOL_IP and SOL_IPV6.
func (e *endpoint) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	switch level {
	case linux.SOL_TCP:
		if !e.stream() {
			return linux.ENOPROTOOPT
		}
		return e.setTCP(ctx, name, val)
	case linux.SOL_IP:
		return e.setIP(ctx, name, val)
	case linux.SOL_IPV6:
		if e.Family != linux.AF_INET6 {
			return linux.ENOPROTOOPT
		}
		return e.setIPv6(ctx, name, val)
	case linux.SOL_UDP:
		if e.transProto == 0 || e.stream() {
			return linux.ENOPROTOOPT
		}
		return unsupportedOpt(ctx, "SOL_UDP", name)
	}
	return linux.ENOPROTOOPT
}

func (e *endpoint) setTCP(ctx vfs.Context, name int, val []byte) error {
	so := e.ep.SocketOptions()
	if name == linux.TCP_CONGESTION {
		cc := tcpip.CongestionControlOption(cString(val))
		return errno(e.ep.SetSockOpt(&cc))
	}
	v, err := getInt(val)
	if err != nil {
		return err
	}
	switch name {
	case linux.TCP_NODELAY:
		so.SetDelayOption(v == 0)
	case linux.TCP_CORK:
		so.SetCorkOption(v != 0)
	case linux.TCP_QUICKACK:
		so.SetQuickAck(v != 0)
	case linux.TCP_KEEPIDLE:
		if v < 1 || v > maxTCPKeepIdle {
			return linux.EINVAL
		}
		o := tcpip.KeepaliveIdleOption(time.Duration(v) * time.Second)
		return errno(e.ep.SetSockOpt(&o))
	case linux.TCP_KEEPINTVL:
		if v < 1 || v > maxTCPKeepIntvl {
			return linux.EINVAL
		}
		o := tcpip.KeepaliveIntervalOption(time.Duration(v) * time.Second)
		return errno(e.ep.SetSockOpt(&o))
	case linux.TCP_KEEPCNT:
		if v < 1 || v > maxTCPKeepCnt {
			return linux.EINVAL
		}
		return errno(e.ep.SetSockOptInt(tcpip.KeepaliveCountOption, int(v)))
	case linux.TCP_USER_TIMEOUT:
		if v < 0 {
			return linux.EINVAL
		}
		o := tcpip.TCPUserTimeoutOption(time.Duration(v) * time.Millisecond)
		return errno(e.ep.SetSockOpt(&o))
	case linux.TCP_MAXSEG:
		return errno(e.ep.SetSockOptInt(tcpip.MaxSegOption, int(v)))
	case linux.TCP_SYNCNT:
		return errno(e.ep.SetSockOptInt(tcpip.TCPSynCountOption, int(v)))
	case linux.TCP_WINDOW_CLAMP:
		return errno(e.ep.SetSockOptInt(tcpip.TCPWindowClampOption, int(v)))
	case linux.TCP_DEFER_ACCEPT:
		o := tcpip.TCPDeferAcceptOption(time.Duration(max(v, 0)) * time.Second)
		return errno(e.ep.SetSockOpt(&o))
	case linux.TCP_LINGER2:
		o := tcpip.TCPLingerTimeoutOption(time.Duration(v) * time.Second)
		return errno(e.ep.SetSockOpt(&o))
	default:
		return unsupportedOpt(ctx, "SOL_TCP", name)
	}
	return nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (e *endpoint) setIP(ctx vfs.Context, name int, val []byte) error {
	so := e.ep.SocketOptions()
	switch name {
	case linux.IP_ADD_MEMBERSHIP, linux.IP_DROP_MEMBERSHIP:
		m, err := parseMreq(val)
		if err != nil {
			return err
		}
		if name == linux.IP_ADD_MEMBERSHIP {
			o := tcpip.AddMembershipOption(m)
			return errno(e.ep.SetSockOpt(&o))
		}
		o := tcpip.RemoveMembershipOption(m)
		return errno(e.ep.SetSockOpt(&o))
	case linux.IP_MULTICAST_IF:
		if len(val) < 4 {
			return linux.EINVAL
		}
		o := tcpip.MulticastInterfaceOption{InterfaceAddr: tcpip.AddrFrom4Slice(val[:4])}
		if len(val) >= 12 { // struct ip_mreqn
			o.InterfaceAddr = tcpip.AddrFrom4Slice(val[4:8])
			o.NIC = tcpip.NICID(binary.LittleEndian.Uint32(val[8:]))
		}
		if o.InterfaceAddr == (tcpip.AddrFrom4([4]byte{})) {
			o.InterfaceAddr = tcpip.Address{}
		}
		return errno(e.ep.SetSockOpt(&o))
	}
	v, err := getIPInt(val)
	if err != nil {
		return err
	}
	switch name {
	case linux.IP_TTL:
		if v == -1 {
			v = 0 // the stack's default
		} else if v < 1 || v > 255 {
			return linux.EINVAL
		}
		return errno(e.ep.SetSockOptInt(tcpip.IPv4TTLOption, int(v)))
	case linux.IP_TOS:
		return errno(e.ep.SetSockOptInt(tcpip.IPv4TOSOption, int(v&0xff)))
	case linux.IP_MULTICAST_TTL:
		if v == -1 {
			v = 1
		} else if v < 0 || v > 255 {
			return linux.EINVAL
		}
		return errno(e.ep.SetSockOptInt(tcpip.MulticastTTLOption, int(v)))
	case linux.IP_MULTICAST_LOOP:
		so.SetMulticastLoop(v != 0)
	case linux.IP_PKTINFO:
		so.SetReceivePacketInfo(v != 0)
	case linux.IP_RECVTTL:
		so.SetReceiveTTL(v != 0)
	case linux.IP_RECVTOS:
		so.SetReceiveTOS(v != 0)
	case linux.IP_RECVERR:
		so.SetIPv4RecvError(v != 0)
	case linux.IP_MTU_DISCOVER:
		return errno(e.ep.SetSockOptInt(tcpip.MTUDiscoverOption, int(v)))
	case linux.IP_HDRINCL:
		if e.Type != linux.SOCK_RAW {
			return linux.ENOPROTOOPT
		}
		so.SetHeaderIncluded(v != 0)
	default:
		return unsupportedOpt(ctx, "SOL_IP", name)
	}
	return nil
}

// parseMreq decodes struct ip_mreq (group, interface address) or struct
// ip_mreqn (group, address, interface index).
func parseMreq(val []byte) (tcpip.MembershipOption, error) {
	if len(val) < 8 {
		return tcpip.MembershipOption{}, linux.EINVAL
	}
	m := tcpip.MembershipOption{MulticastAddr: tcpip.AddrFrom4Slice(val[:4]), InterfaceAddr: tcpip.AddrFrom4Slice(val[4:8])}
	if len(val) >= 12 {
		m.NIC = tcpip.NICID(binary.LittleEndian.Uint32(val[8:]))
	}
	if m.InterfaceAddr == (tcpip.AddrFrom4([4]byte{})) {
		m.InterfaceAddr = tcpip.Address{}
	}
	return m, nil
}

func (e *endpoint) setIPv6(ctx vfs.Context, name int, val []byte) error {
	so := e.ep.SocketOptions()
	switch name {
	case linux.IPV6_JOIN_GROUP, linux.IPV6_LEAVE_GROUP:
		if len(val) < 20 { // struct ipv6_mreq
			return linux.EINVAL
		}
		m := tcpip.MembershipOption{MulticastAddr: tcpip.AddrFrom16Slice(val[:16]), NIC: tcpip.NICID(binary.LittleEndian.Uint32(val[16:]))}
		if name == linux.IPV6_JOIN_GROUP {
			o := tcpip.AddMembershipOption(m)
			return errno(e.ep.SetSockOpt(&o))
		}
		o := tcpip.RemoveMembershipOption(m)
		return errno(e.ep.SetSockOpt(&o))
	}
	v, err := getInt(val)
	if err != nil {
		return err
	}
	switch name {
	case linux.IPV6_V6ONLY:
		if _, err := e.ep.GetLocalAddress(); err == nil && e.bound() {
			// Linux refuses to change it once bound.
			return linux.EINVAL
		}
		so.SetV6Only(v != 0)
	case linux.IPV6_UNICAST_HOPS:
		if v == -1 {
			v = 0
		} else if v < 0 || v > 255 {
			return linux.EINVAL
		}
		return errno(e.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, int(v)))
	case linux.IPV6_MULTICAST_HOPS:
		if v == -1 {
			v = 1
		} else if v < 0 || v > 255 {
			return linux.EINVAL
		}
		return errno(e.ep.SetSockOptInt(tcpip.MulticastTTLOption, int(v)))
	case linux.IPV6_MULTICAST_LOOP:
		so.SetMulticastLoop(v != 0)
	case linux.IPV6_MULTICAST_IF:
		return errno(e.ep.SetSockOptInt(tcpip.IPv6MulticastInterfaceOption, int(v)))
	case linux.IPV6_RECVPKTINFO:
		so.SetIPv6ReceivePacketInfo(v != 0)
	case linux.IPV6_RECVHOPLIMIT:
		so.SetReceiveHopLimit(v != 0)
	case linux.IPV6_RECVTCLASS:
		so.SetReceiveTClass(v != 0)
	case linux.IPV6_TCLASS:
		if v == -1 {
			v = 0
		} else if v < 0 || v > 255 {
			return linux.EINVAL
		}
		return errno(e.ep.SetSockOptInt(tcpip.IPv6TrafficClassOption, int(v)))
	case linux.IPV6_RECVERR:
		so.SetIPv6RecvError(v != 0)
	default:
		return unsupportedOpt(ctx, "SOL_IPV6", name)
	}
	return nil
}

// bound reports whether the socket has a local port.
func (e *endpoint) bound() bool {
	a, err := e.ep.GetLocalAddress()
	return err == nil && a.Port != 0
}

// GetSockOpt implements socket.Endpoint.
func (e *endpoint) GetSockOpt(ctx vfs.Context, level, name, size int) ([]byte, error) {
	switch level {
	case linux.SOL_TCP:
		if !e.stream() {
			return nil, linux.ENOPROTOOPT
		}
		return e.getTCP(ctx, name)
	case linux.SOL_IP:
		return e.getIP(ctx, name)
	case linux.SOL_IPV6:
		if e.Family != linux.AF_INET6 {
			// ip_getsockopt: another level is EOPNOTSUPP.
			return nil, linux.EOPNOTSUPP
		}
		return e.getIPv6(ctx, name)
	}
	return nil, linux.ENOPROTOOPT
}

func (e *endpoint) getTCP(ctx vfs.Context, name int) ([]byte, error) {
	so := e.ep.SocketOptions()
	switch name {
	case linux.TCP_NODELAY:
		return boolInt(!so.GetDelayOption()), nil
	case linux.TCP_CORK:
		return boolInt(so.GetCorkOption()), nil
	case linux.TCP_QUICKACK:
		return boolInt(so.GetQuickAck()), nil
	case linux.TCP_KEEPIDLE:
		var o tcpip.KeepaliveIdleOption
		if err := e.ep.GetSockOpt(&o); err != nil {
			return nil, errno(err)
		}
		return intBytes(int32(time.Duration(o) / time.Second)), nil
	case linux.TCP_KEEPINTVL:
		var o tcpip.KeepaliveIntervalOption
		if err := e.ep.GetSockOpt(&o); err != nil {
			return nil, errno(err)
		}
		return intBytes(int32(time.Duration(o) / time.Second)), nil
	case linux.TCP_USER_TIMEOUT:
		var o tcpip.TCPUserTimeoutOption
		if err := e.ep.GetSockOpt(&o); err != nil {
			return nil, errno(err)
		}
		return intBytes(int32(time.Duration(o) / time.Millisecond)), nil
	case linux.TCP_DEFER_ACCEPT:
		var o tcpip.TCPDeferAcceptOption
		if err := e.ep.GetSockOpt(&o); err != nil {
			return nil, errno(err)
		}
		return intBytes(int32(time.Duration(o) / time.Second)), nil
	case linux.TCP_LINGER2:
		var o tcpip.TCPLingerTimeoutOption
		if err := e.ep.GetSockOpt(&o); err != nil {
			return nil, errno(err)
		}
		return intBytes(int32(time.Duration(o) / time.Second)), nil
	case linux.TCP_CONGESTION:
		var o tcpip.CongestionControlOption
		if err := e.ep.GetSockOpt(&o); err != nil {
			return nil, errno(err)
		}
		b := make([]byte, tcpCANameMax)
		copy(b, o)
		return b, nil
	case linux.TCP_INFO:
		return e.tcpInfo()
	}
	var opt tcpip.SockOptInt
	switch name {
	case linux.TCP_KEEPCNT:
		opt = tcpip.KeepaliveCountOption
	case linux.TCP_MAXSEG:
		opt = tcpip.MaxSegOption
	case linux.TCP_SYNCNT:
		opt = tcpip.TCPSynCountOption
	case linux.TCP_WINDOW_CLAMP:
		opt = tcpip.TCPWindowClampOption
	default:
		socket.CountUnsupported(ctx, "getsockopt(SOL_TCP, option "+strconv.Itoa(name)+")")
		return nil, linux.ENOPROTOOPT
	}
	v, err := e.ep.GetSockOptInt(opt)
	if err != nil {
		return nil, errno(err)
	}
	return intBytes(int32(v)), nil
}

// linuxTCPState is the TCP_* state Linux reports for an engine state.
func linuxTCPState(s tcp.EndpointState) uint8 {
	switch {
	case s == tcp.StateConnecting:
		return linux.BPF_TCP_SYN_SENT
	case s >= tcp.StateEstablished && s <= tcp.StateClosing:
		return uint8(s)
	}
	return linux.BPF_TCP_CLOSE
}

// tcpInfo is TCP_INFO: struct tcp_info with what the engine knows.
func (e *endpoint) tcpInfo() ([]byte, error) {
	var o tcpip.TCPInfoOption
	if err := e.ep.GetSockOpt(&o); err != nil {
		return nil, errno(err)
	}
	info := linux.TCPInfo{
		State:        linuxTCPState(tcp.EndpointState(e.ep.State())),
		Ca_state:     uint8(o.CcState),
		Rto:          uint32(o.RTO / time.Microsecond),
		Rtt:          uint32(o.RTT / time.Microsecond),
		Rttvar:       uint32(o.RTTVar / time.Microsecond),
		Snd_ssthresh: o.SndSsthresh,
		Snd_cwnd:     o.SndCwnd,
	}
	if o.ReorderSeen {
		info.Reordering = 1
	}
	if mss, err := e.ep.GetSockOptInt(tcpip.MaxSegOption); err == nil {
		info.Snd_mss, info.Rcv_mss, info.Advmss = uint32(mss), uint32(mss), uint32(mss)
	}
	b := make([]byte, linux.SizeofTCPInfo)
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&info)), linux.SizeofTCPInfo))
	return b, nil
}

func (e *endpoint) getIP(ctx vfs.Context, name int) ([]byte, error) {
	so := e.ep.SocketOptions()
	switch name {
	case linux.IP_TTL:
		v, err := e.ep.GetSockOptInt(tcpip.IPv4TTLOption)
		if err != nil {
			return nil, errno(err)
		}
		if v == 0 {
			v = netstack.DefaultTTL
		}
		return intBytes(int32(v)), nil
	case linux.IP_TOS:
		return e.getInt(tcpip.IPv4TOSOption)
	case linux.IP_MULTICAST_TTL:
		return e.getInt(tcpip.MulticastTTLOption)
	case linux.IP_MTU_DISCOVER:
		return e.getInt(tcpip.MTUDiscoverOption)
	case linux.IP_MULTICAST_LOOP:
		return boolInt(so.GetMulticastLoop()), nil
	case linux.IP_PKTINFO:
		return boolInt(so.GetReceivePacketInfo()), nil
	case linux.IP_RECVTTL:
		return boolInt(so.GetReceiveTTL()), nil
	case linux.IP_RECVTOS:
		return boolInt(so.GetReceiveTOS()), nil
	case linux.IP_RECVERR:
		return boolInt(so.GetIPv4RecvError()), nil
	case linux.IP_HDRINCL:
		if e.Type != linux.SOCK_RAW {
			return nil, linux.ENOPROTOOPT
		}
		return boolInt(so.GetHeaderIncluded()), nil
	}
	socket.CountUnsupported(ctx, "getsockopt(SOL_IP, option "+strconv.Itoa(name)+")")
	return nil, linux.ENOPROTOOPT
}

func (e *endpoint) getInt(opt tcpip.SockOptInt) ([]byte, error) {
	v, err := e.ep.GetSockOptInt(opt)
	if err != nil {
		return nil, errno(err)
	}
	return intBytes(int32(v)), nil
}

func (e *endpoint) getIPv6(ctx vfs.Context, name int) ([]byte, error) {
	so := e.ep.SocketOptions()
	switch name {
	case linux.IPV6_V6ONLY:
		return boolInt(so.GetV6Only()), nil
	case linux.IPV6_UNICAST_HOPS:
		v, err := e.ep.GetSockOptInt(tcpip.IPv6HopLimitOption)
		if err != nil {
			return nil, errno(err)
		}
		if v <= 0 {
			v = netstack.DefaultTTL
		}
		return intBytes(int32(v)), nil
	case linux.IPV6_MULTICAST_HOPS:
		return e.getInt(tcpip.MulticastTTLOption)
	case linux.IPV6_MULTICAST_IF:
		return e.getInt(tcpip.IPv6MulticastInterfaceOption)
	case linux.IPV6_TCLASS:
		return e.getInt(tcpip.IPv6TrafficClassOption)
	case linux.IPV6_MULTICAST_LOOP:
		return boolInt(so.GetMulticastLoop()), nil
	case linux.IPV6_RECVPKTINFO:
		return boolInt(so.GetIPv6ReceivePacketInfo()), nil
	case linux.IPV6_RECVHOPLIMIT:
		return boolInt(so.GetReceiveHopLimit()), nil
	case linux.IPV6_RECVTCLASS:
		return boolInt(so.GetReceiveTClass()), nil
	case linux.IPV6_RECVERR:
		return boolInt(so.GetIPv6RecvError()), nil
	}
	socket.CountUnsupported(ctx, "getsockopt(SOL_IPV6, option "+strconv.Itoa(name)+")")
	return nil, linux.ENOPROTOOPT
}

var _ = gwaiter.EventOut
