package netlink

import (
	"encoding/binary"
	"errors"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	linux "golang.org/x/sys/unix"
)

// Linux ABI values x/sys/unix lacks.
const (
	nlmsgHdrLen = linux.SizeofNlMsghdr // 16
	rtaAlignTo  = 4

	// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (IFLA_EXT_MASK).
	rtextFilterSkipStats = 1 << 3
	// ifLinkModeDefault is IF_LINK_MODE_DEFAULT.
	ifLinkModeDefault = 0
	// sizeofIfmap is sizeof(struct rtnl_link_ifmap).
	sizeofIfmap = 32
	// rtnlLinkStats are the counters of struct rtnl_link_stats (u32)
	// and struct rtnl_link_stats64 (u64).
	rtnlLinkStats   = 24
	rtnlLinkStats64 = 25
	// sizeofRtaCacheinfo is sizeof(struct rta_cacheinfo).
	sizeofRtaCacheinfo = 32
	// ifaProto is IFA_PROTO.
	ifaProto = 11
	// changeableFlags are the interface flags dev_change_flags changes.
	changeableFlags = linux.IFF_UP | linux.IFF_DEBUG | linux.IFF_NOTRAILERS | linux.IFF_NOARP |
		linux.IFF_DYNAMIC | linux.IFF_MULTICAST | linux.IFF_PORTSEL | linux.IFF_AUTOMEDIA |
		linux.IFF_PROMISC | linux.IFF_ALLMULTI
)

func align4(n int) int { return (n + rtaAlignTo - 1) &^ (rtaAlignTo - 1) }

// header is a struct nlmsghdr.
type header struct {
	len   uint32
	typ   uint16
	flags uint16
	seq   uint32
	pid   uint32
}

func parseHeader(b []byte) header {
	le := binary.LittleEndian
	return header{le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), le.Uint32(b[8:]), le.Uint32(b[12:])}
}

// message builds one netlink message.
type message struct{ b []byte }

func newMessage(typ, flags uint16, seq, pid uint32) *message {
	m := &message{b: make([]byte, nlmsgHdrLen, 256)}
	le := binary.LittleEndian
	le.PutUint16(m.b[4:], typ)
	le.PutUint16(m.b[6:], flags)
	le.PutUint32(m.b[8:], seq)
	le.PutUint32(m.b[12:], pid)
	return m
}

func (m *message) put(b []byte) { m.b = append(m.b, b...) }

func (m *message) pad() {
	for len(m.b)%rtaAlignTo != 0 {
		m.b = append(m.b, 0)
	}
}

func (m *message) attr(typ uint16, data []byte) {
	var h [4]byte
	binary.LittleEndian.PutUint16(h[:], uint16(4+len(data)))
	binary.LittleEndian.PutUint16(h[2:], typ)
	m.b = append(m.b, h[:]...)
	m.b = append(m.b, data...)
	m.pad()
}

func (m *message) u8(typ uint16, v uint8) { m.attr(typ, []byte{v}) }

func (m *message) u32(typ uint16, v uint32) {
	m.attr(typ, binary.LittleEndian.AppendUint32(nil, v))
}

func (m *message) str(typ uint16, s string) { m.attr(typ, append([]byte(s), 0)) }

// nest adds a nested attribute holding what fn adds.
func (m *message) nest(typ uint16, fn func()) {
	start := len(m.b)
	m.attr(typ, nil)
	fn()
	binary.LittleEndian.PutUint16(m.b[start:], uint16(len(m.b)-start))
}

func (m *message) bytes() []byte {
	binary.LittleEndian.PutUint32(m.b, uint32(len(m.b)))
	return m.b
}

// attrs splits the attributes of a request (after its fixed header).
func attrs(b []byte) map[uint16][]byte {
	out := make(map[uint16][]byte)
	for len(b) >= 4 {
		l := int(binary.LittleEndian.Uint16(b))
		typ := binary.LittleEndian.Uint16(b[2:]) &^ (linux.NLA_F_NESTED | linux.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			break
		}
		out[typ] = b[4:l]
		b = b[min(align4(l), len(b)):]
	}
	return out
}

// kernelReceive handles the messages of one datagram sent to the kernel
// (netlink_rcv_skb): requests are answered, other messages only
// acknowledged when asked (NLM_F_ACK); an error always gets an
// NLMSG_ERROR. Processing stops at a malformed header.
func (e *endpoint) kernelReceive(ctx vfs.Context, buf []byte) {
	for len(buf) >= nlmsgHdrLen {
		h := parseHeader(buf)
		if h.len < nlmsgHdrLen || int(h.len) > len(buf) {
			return
		}
		msg := buf[:h.len]
		var err error
		dump := false
		if h.flags&linux.NLM_F_REQUEST != 0 && h.typ >= linux.NLMSG_MIN_TYPE {
			dump, err = e.rtnetlink(ctx, h, msg[nlmsgHdrLen:])
		}
		if !dump && (h.flags&linux.NLM_F_ACK != 0 || err != nil) {
			e.ack(msg, err)
		}
		buf = buf[min(align4(int(h.len)), len(buf)):]
	}
}

// ack sends NLMSG_ERROR for request msg: error 0 is an acknowledgement.
// Errors carry the whole request unless NETLINK_CAP_ACK (netlink_ack).
func (e *endpoint) ack(msg []byte, err error) {
	h := parseHeader(msg)
	var errno int32
	if err != nil {
		if en, ok := err.(linux.Errno); ok {
			errno = -int32(en)
		} else {
			errno = -int32(linux.EINVAL)
		}
	}
	var flags uint16
	body := msg[:nlmsgHdrLen]
	if errno != 0 && !e.opt(linux.NETLINK_CAP_ACK) {
		body = msg
	} else {
		flags |= linux.NLM_F_CAPPED
	}
	m := newMessage(linux.NLMSG_ERROR, flags, h.seq, e.portIDNow())
	m.put(binary.LittleEndian.AppendUint32(nil, uint32(errno)))
	m.put(body)
	m.pad()
	e.deliver(datagram{data: m.bytes()})
}

func (e *endpoint) portIDNow() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.portID
}

// rtnetlink handles one NETLINK_ROUTE request (rtnetlink_rcv_msg). It
// reports whether it started a dump (which ends with NLMSG_DONE and is
// never acknowledged).
func (e *endpoint) rtnetlink(ctx vfs.Context, h header, payload []byte) (bool, error) {
	if h.typ > linux.RTM_MAX {
		return false, linux.EOPNOTSUPP
	}
	if len(payload) < 1 {
		// "All the messages must have at least 1 byte length."
		return false, nil
	}
	kind := (h.typ - linux.RTM_BASE) & 3
	const kindGet = 2
	if kind != kindGet && !socket.HasCapability(ctx, linux.CAP_NET_ADMIN) {
		return false, linux.EPERM
	}
	net := e.st.Network()
	if kind == kindGet && h.flags&linux.NLM_F_DUMP != 0 {
		var msgs [][]byte
		switch h.typ {
		case linux.RTM_GETLINK:
			msgs = e.dumpLinks(h, payload, net)
		case linux.RTM_GETADDR:
			msgs = e.dumpAddrs(h, payload, net)
		case linux.RTM_GETROUTE:
			msgs = e.dumpRoutes(h, payload, net)
		case linux.RTM_GETNEIGH:
			// No neighbours: loopback resolves nothing.
		default:
			return false, linux.EOPNOTSUPP
		}
		e.sendDump(h, msgs)
		return true, nil
	}
	switch h.typ {
	case linux.RTM_GETLINK:
		return false, e.getLink(h, payload, net)
	case linux.RTM_NEWLINK, linux.RTM_SETLINK:
		return false, setLink(h, payload, net)
	}
	// No network stack to change (RTM_NEWADDR, RTM_NEWROUTE, ...) and
	// no other queries.
	return false, linux.EOPNOTSUPP
}

// sendDump queues a dump's messages, packed into datagrams, then
// NLMSG_DONE in a datagram of its own, as Linux's netlink_dump does.
func (e *endpoint) sendDump(h header, msgs [][]byte) {
	var d []byte
	for _, m := range msgs {
		if len(d) > 0 && len(d)+len(m) > dumpChunk {
			e.deliver(datagram{data: d})
			d = nil
		}
		d = append(d, m...)
	}
	if len(d) > 0 {
		e.deliver(datagram{data: d})
	}
	done := newMessage(linux.NLMSG_DONE, linux.NLM_F_MULTI, h.seq, e.portIDNow())
	done.put(make([]byte, 4))
	e.deliver(datagram{data: done.bytes()})
}

func (e *endpoint) dumpFlags() uint16 {
	f := uint16(linux.NLM_F_MULTI)
	if e.opt(linux.NETLINK_GET_STRICT_CHK) {
		f |= linux.NLM_F_DUMP_FILTERED
	}
	return f
}

// extMask is the IFLA_EXT_MASK of a link request.
func extMask(payload []byte) uint32 {
	if len(payload) < linux.SizeofIfInfomsg {
		return 0
	}
	if v := attrs(payload[linux.SizeofIfInfomsg:])[linux.IFLA_EXT_MASK]; len(v) >= 4 {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (e *endpoint) dumpLinks(h header, payload []byte, net socket.Network) [][]byte {
	mask := extMask(payload)
	var out [][]byte
	for _, ifc := range net.Interfaces() {
		out = append(out, linkMessage(&ifc, linux.NLM_F_MULTI, h.seq, e.portIDNow(), mask))
	}
	return out
}

// linkMessage is the RTM_NEWLINK describing ifc (rtnl_fill_ifinfo), with
// the attributes iproute2 shows.
func linkMessage(ifc *socket.Interface, flags uint16, seq, pid, mask uint32) []byte {
	m := newMessage(linux.RTM_NEWLINK, flags, seq, pid)
	hdr := make([]byte, linux.SizeofIfInfomsg)
	binary.LittleEndian.PutUint16(hdr[2:], ifc.Type)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(ifc.Index))
	binary.LittleEndian.PutUint32(hdr[8:], ifc.Flags)
	m.put(hdr)
	m.str(linux.IFLA_IFNAME, ifc.Name)
	m.u32(linux.IFLA_TXQLEN, ifc.TxQueueLen)
	m.u8(linux.IFLA_OPERSTATE, ifc.OperState)
	m.u8(linux.IFLA_LINKMODE, ifLinkModeDefault)
	m.u32(linux.IFLA_MTU, ifc.MTU)
	m.u32(linux.IFLA_MIN_MTU, 0)
	m.u32(linux.IFLA_MAX_MTU, 0)
	m.u32(linux.IFLA_GROUP, 0)
	m.u32(linux.IFLA_PROMISCUITY, 0)
	m.u32(linux.IFLA_NUM_TX_QUEUES, 1)
	m.u32(linux.IFLA_GSO_MAX_SEGS, 65535)
	m.u32(linux.IFLA_GSO_MAX_SIZE, 65536)
	m.u32(linux.IFLA_NUM_RX_QUEUES, 1)
	carrier := uint8(0)
	if ifc.Flags&linux.IFF_LOWER_UP != 0 {
		carrier = 1
	}
	m.u8(linux.IFLA_CARRIER, carrier)
	m.u32(linux.IFLA_CARRIER_CHANGES, 0)
	m.u8(linux.IFLA_PROTO_DOWN, 0)
	if ifc.HWAddr != nil {
		m.attr(linux.IFLA_ADDRESS, ifc.HWAddr)
	}
	if ifc.Broadcast != nil {
		m.attr(linux.IFLA_BROADCAST, ifc.Broadcast)
	}
	if mask&rtextFilterSkipStats == 0 {
		m.attr(linux.IFLA_STATS64, make([]byte, 8*rtnlLinkStats64))
		m.attr(linux.IFLA_STATS, make([]byte, 4*rtnlLinkStats))
	}
	m.nest(linux.IFLA_XDP, func() { m.u8(linux.IFLA_XDP_ATTACHED, 0) })
	if ifc.Qdisc != "" {
		m.str(linux.IFLA_QDISC, ifc.Qdisc)
	}
	m.attr(linux.IFLA_MAP, make([]byte, sizeofIfmap))
	return m.bytes()
}

// errNoLink is findLink's error for a request that names no link:
// EINVAL for RTM_GETLINK and RTM_SETLINK, ENODEV for RTM_NEWLINK.
var errNoLink = errors.New("no link named")

// findLink finds the interface a link request names: by ifi_index, else
// IFLA_IFNAME or IFLA_ALT_IFNAME (errNoLink with neither, ENODEV if there
// is no such link, EINVAL for a negative index).
func findLink(payload []byte, net socket.Network) (*socket.Interface, map[uint16][]byte, error) {
	if len(payload) < linux.SizeofIfInfomsg {
		return nil, nil, linux.EINVAL
	}
	idx := int32(binary.LittleEndian.Uint32(payload[4:]))
	at := attrs(payload[linux.SizeofIfInfomsg:])
	name, hasName := at[linux.IFLA_IFNAME]
	if !hasName {
		name, hasName = at[linux.IFLA_ALT_IFNAME]
	}
	for len(name) > 0 && name[len(name)-1] == 0 {
		name = name[:len(name)-1]
	}
	if idx < 0 {
		return nil, at, linux.EINVAL
	}
	if idx == 0 && !hasName {
		return nil, at, errNoLink
	}
	for _, ifc := range net.Interfaces() {
		if (idx > 0 && ifc.Index == idx) || (idx <= 0 && ifc.Name == string(name)) {
			return &ifc, at, nil
		}
	}
	return nil, at, linux.ENODEV
}

// getLink answers RTM_GETLINK for one interface (rtnl_getlink).
func (e *endpoint) getLink(h header, payload []byte, net socket.Network) error {
	ifc, _, err := findLink(payload, net)
	if err == errNoLink {
		return linux.EINVAL
	}
	if err != nil {
		return err
	}
	e.deliver(datagram{data: linkMessage(ifc, 0, h.seq, e.portIDNow(), extMask(payload))})
	return nil
}

// setLink answers RTM_NEWLINK and RTM_SETLINK: a request that leaves the
// link as it is succeeds (`ip link set lo up` on an up lo); changing
// anything is EOPNOTSUPP, there being no network stack to change.
func setLink(h header, payload []byte, net socket.Network) error {
	ifc, at, err := findLink(payload, net)
	if h.typ == linux.RTM_NEWLINK && (err == errNoLink || err == linux.ENODEV) {
		// __rtnl_newlink: no such link; making one needs a stack.
		// (iproute2 probes with an empty request and takes
		// EOPNOTSUPP or EINVAL for "no RTM_NEWLINK support".)
		if h.flags&linux.NLM_F_CREATE != 0 {
			return linux.EOPNOTSUPP
		}
		return linux.ENODEV
	}
	if err == errNoLink {
		return linux.EINVAL
	}
	if err != nil {
		return err
	}
	if h.typ == linux.RTM_NEWLINK && h.flags&linux.NLM_F_EXCL != 0 {
		return linux.EEXIST
	}
	for typ := range at {
		switch typ {
		case linux.IFLA_IFNAME, linux.IFLA_ALT_IFNAME, linux.IFLA_EXT_MASK:
		default:
			return linux.EOPNOTSUPP
		}
	}
	flags := binary.LittleEndian.Uint32(payload[8:])
	change := binary.LittleEndian.Uint32(payload[12:])
	if flags == 0 && change == 0 {
		return nil
	}
	want := flags
	if change != 0 {
		want = flags&change | ifc.Flags&^change
	}
	if want&changeableFlags != ifc.Flags&changeableFlags {
		return linux.EOPNOTSUPP
	}
	return nil
}

// strict reports NETLINK_GET_STRICT_CHK: dump requests' headers filter.
func (e *endpoint) strict() bool { return e.opt(linux.NETLINK_GET_STRICT_CHK) }

// familyOrder is the order rtnl_dump_all walks the families.
var familyOrder = []int{linux.AF_INET, linux.AF_INET6}

func wantFamily(req uint8, f int) bool {
	return req == linux.AF_UNSPEC || int(req) == f ||
		(req != linux.AF_INET && req != linux.AF_INET6)
}

func (e *endpoint) dumpAddrs(h header, payload []byte, net socket.Network) [][]byte {
	fam := payload[0]
	var index int32
	if e.strict() && len(payload) >= linux.SizeofIfAddrmsg {
		index = int32(binary.LittleEndian.Uint32(payload[4:]))
	}
	pid := e.portIDNow()
	ifcs := net.Interfaces()
	var out [][]byte
	for _, f := range familyOrder {
		if !wantFamily(fam, f) {
			continue
		}
		for _, ifc := range ifcs {
			if index != 0 && ifc.Index != index {
				continue
			}
			for _, a := range ifc.Addrs {
				if a.Family == f {
					out = append(out, addrMessage(&ifc, &a, e.dumpFlags(), h.seq, pid))
				}
			}
		}
	}
	return out
}

// addrMessage is the RTM_NEWADDR of one address (inet_fill_ifaddr,
// inet6_fill_ifaddr): permanent, so its lifetimes are infinite.
func addrMessage(ifc *socket.Interface, a *socket.InterfaceAddr, flags uint16, seq, pid uint32) []byte {
	m := newMessage(linux.RTM_NEWADDR, flags&^linux.NLM_F_DUMP_FILTERED, seq, pid)
	hdr := make([]byte, linux.SizeofIfAddrmsg)
	hdr[0] = byte(a.Family)
	hdr[1] = a.PrefixLen
	hdr[2] = byte(a.Flags)
	hdr[3] = a.Scope
	binary.LittleEndian.PutUint32(hdr[4:], uint32(ifc.Index))
	m.put(hdr)
	cache := make([]byte, 16)
	binary.LittleEndian.PutUint32(cache, ^uint32(0))
	binary.LittleEndian.PutUint32(cache[4:], ^uint32(0))
	if a.Family == linux.AF_INET {
		m.attr(linux.IFA_ADDRESS, a.Addr)
		m.attr(linux.IFA_LOCAL, a.Addr)
		if a.Broadcast != nil {
			m.attr(linux.IFA_BROADCAST, a.Broadcast)
		}
		label := a.Label
		if label == "" {
			label = ifc.Name
		}
		m.str(linux.IFA_LABEL, label)
		m.u32(linux.IFA_FLAGS, a.Flags)
		m.attr(linux.IFA_CACHEINFO, cache)
	} else {
		m.attr(linux.IFA_ADDRESS, a.Addr)
		m.attr(linux.IFA_CACHEINFO, cache)
		m.u32(linux.IFA_FLAGS, a.Flags)
		if a.Proto != 0 {
			m.u8(ifaProto, a.Proto)
		}
	}
	return m.bytes()
}

func (e *endpoint) dumpRoutes(h header, payload []byte, net socket.Network) [][]byte {
	fam := payload[0]
	var table uint32
	var proto uint8
	if e.strict() && len(payload) >= linux.SizeofRtMsg {
		table = uint32(payload[4])
		proto = payload[5]
		if v := attrs(payload[linux.SizeofRtMsg:])[linux.RTA_TABLE]; len(v) >= 4 {
			table = binary.LittleEndian.Uint32(v)
		}
	}
	pid := e.portIDNow()
	routes := net.Routes()
	var out [][]byte
	for _, f := range familyOrder {
		if !wantFamily(fam, f) {
			continue
		}
		for _, r := range routes {
			if r.Family != f || (table != 0 && r.Table != table) || (proto != 0 && r.Protocol != proto) {
				continue
			}
			out = append(out, routeMessage(&r, e.dumpFlags(), h.seq, pid))
		}
	}
	return out
}

// routeMessage is the RTM_NEWROUTE of one route (fib_dump_info,
// rt6_fill_node).
func routeMessage(r *socket.Route, flags uint16, seq, pid uint32) []byte {
	m := newMessage(linux.RTM_NEWROUTE, flags, seq, pid)
	hdr := make([]byte, linux.SizeofRtMsg)
	hdr[0] = byte(r.Family)
	hdr[1] = r.DstLen
	tb := r.Table
	if tb > 255 {
		tb = linux.RT_TABLE_COMPAT
	}
	hdr[4] = byte(tb)
	hdr[5] = r.Protocol
	hdr[6] = r.Scope
	hdr[7] = r.Type
	m.put(hdr)
	m.u32(linux.RTA_TABLE, r.Table)
	if r.Dst != nil {
		m.attr(linux.RTA_DST, r.Dst)
	}
	if r.Family == linux.AF_INET {
		if r.HasPriority {
			m.u32(linux.RTA_PRIORITY, r.Priority)
		}
		if r.PrefSrc != nil {
			m.attr(linux.RTA_PREFSRC, r.PrefSrc)
		}
		if r.Gateway != nil {
			m.attr(linux.RTA_GATEWAY, r.Gateway)
		}
		if r.OutIndex != 0 {
			m.u32(linux.RTA_OIF, uint32(r.OutIndex))
		}
		return m.bytes()
	}
	if r.Gateway != nil {
		m.attr(linux.RTA_GATEWAY, r.Gateway)
	}
	if r.PrefSrc != nil {
		m.attr(linux.RTA_PREFSRC, r.PrefSrc)
	}
	m.u32(linux.RTA_PRIORITY, r.Priority)
	if r.OutIndex != 0 {
		m.u32(linux.RTA_OIF, uint32(r.OutIndex))
	}
	m.attr(linux.RTA_CACHEINFO, make([]byte, sizeofRtaCacheinfo))
	if r.HasPref {
		m.u8(linux.RTA_PREF, r.Pref)
	}
	return m.bytes()
}
