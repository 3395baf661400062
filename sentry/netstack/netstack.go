// Package netstack is the Sentry's TCP/IP engine: one gVisor tcpip stack
// (gvisor.dev/gvisor/pkg/tcpip, used as a library) per network namespace,
// with IPv4, IPv6, ARP, TCP, UDP and ICMPv4/v6, and a loopback NIC.
//
// API (stable; the network modes build on it):
//
//   - New() (*Netstack, error) makes a stack with "lo" (NIC 1,
//     127.0.0.1/8 and ::1/128, routes to both). Netstack.Stack is the
//     *stack.Stack: add NICs with Stack.CreateNICWithOptions (NIC ids
//     from Netstack.NextNICID), addresses with Stack.AddProtocolAddress
//     and routes with Netstack.AddRoute; they show up at once in
//     rtnetlink, /proc/net and the SIOCGIF* ioctls.
//   - Attach(st) gives a socket.Stack its Netstack (New, then
//     st.SetEngine and st.SetNetwork); Of(st) returns it again. The
//     inet family (sentry/socket/inet) finds its stack with Of.
//   - Netstack implements socket.Network: Interfaces() describes every
//     NIC with its addresses, Routes() the route table as Linux's main
//     and local tables show it. SetInterfaceInfo records what tcpip does
//     not know about a NIC (its ARPHRD type, qdisc, txqueuelen).
package netstack

import (
	"fmt"
	"sort"
	"sync"

	"github.com/veil-sandbox/veil/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// LoopbackNIC is the NIC id (and interface index) of "lo".
const LoopbackNIC tcpip.NICID = 1

// DefaultTTL is net.ipv4.ip_default_ttl and net.ipv6.conf.all.hop_limit.
const DefaultTTL = 64

// TCPDefaultSndBuf and TCPDefaultRcvBuf are the middle values of
// Linux's tcp_wmem and tcp_rmem: a TCP socket's initial SO_SNDBUF and
// SO_RCVBUF.
const (
	TCPDefaultSndBuf = 16384
	TCPDefaultRcvBuf = 131072
)

// The per-namespace sysctls' defaults: Linux's port limit, and ping
// sockets open to every group (Linux's default "1 0" opens them to none;
// systemd, and so Debian, sets this range).
var (
	DefaultUnprivilegedPortStart = 1024
	DefaultPingGroups            = [2]uint32{0, 2147483647}
)

// loopbackMTU is Linux's MTU for lo.
const loopbackMTU = 65536

// Netstack is the TCP/IP stack of one network namespace.
type Netstack struct {
	Stack *stack.Stack
	// AllowRawSockets lets applications with CAP_NET_RAW make SOCK_RAW
	// sockets (runsc --net-raw); without it they get EPERM.
	AllowRawSockets bool
	// UnprivilegedPortStart is net.ipv4.ip_unprivileged_port_start:
	// binding a port below it needs CAP_NET_BIND_SERVICE.
	UnprivilegedPortStart int
	// PingGroups is net.ipv4.ping_group_range: the groups whose members
	// may make ICMP ping sockets (SOCK_DGRAM, IPPROTO_ICMP).
	PingGroups [2]uint32

	mu     sync.Mutex
	info   map[tcpip.NICID]InterfaceInfo
	nextID tcpip.NICID
}

// InterfaceInfo is what rtnetlink shows of a NIC that tcpip does not
// keep: its link type and queueing details.
type InterfaceInfo struct {
	Type       uint16 // ARPHRD_*
	TxQueueLen uint32
	Qdisc      string
}

// New returns a stack with only the loopback interface up.
func New() (*Netstack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		// Raw sockets are only made when runsc is given --net-raw
		// (the inet family checks); the factory is what makes them.
		RawFactory: raw.EndpointFactory{},
		// HandleLocal delivers packets to the stack's own addresses
		// without a trip through a link (Linux's local table).
		HandleLocal: true,
	})
	ns := &Netstack{Stack: s, UnprivilegedPortStart: DefaultUnprivilegedPortStart, PingGroups: DefaultPingGroups, info: make(map[tcpip.NICID]InterfaceInfo), nextID: LoopbackNIC + 1}
	if err := ns.configure(); err != nil {
		s.Close()
		return nil, err
	}
	return ns, nil
}

func (ns *Netstack) configure() error {
	s := ns.Stack
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("netstack: enable TCP SACK: %s", err)
	}
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate); err != nil {
		return fmt.Errorf("netstack: enable receive buffer moderation: %s", err)
	}
	// Linux's tcp_rmem and tcp_wmem (min, default, max), so that
	// SO_RCVBUF/SO_SNDBUF and autotuning have the room they have there.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: TCPDefaultRcvBuf, Max: 6291456}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return fmt.Errorf("netstack: TCP receive buffer range: %s", err)
	}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: TCPDefaultSndBuf, Max: 4194304}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return fmt.Errorf("netstack: TCP send buffer range: %s", err)
	}
	ttl := tcpip.DefaultTTLOption(DefaultTTL)
	for _, p := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
		if err := s.SetNetworkProtocolOption(p, &ttl); err != nil {
			return fmt.Errorf("netstack: default TTL: %s", err)
		}
	}
	// Linux's ephemeral range (net.ipv4.ip_local_port_range).
	if err := s.SetPortRange(32768, 60999); err != nil {
		return fmt.Errorf("netstack: port range: %s", err)
	}
	if err := s.CreateNICWithOptions(LoopbackNIC, loopback.New(), stack.NICOptions{Name: "lo"}); err != nil {
		return fmt.Errorf("netstack: create lo: %s", err)
	}
	ns.info[LoopbackNIC] = InterfaceInfo{Type: unix.ARPHRD_LOOPBACK, TxQueueLen: 1000, Qdisc: "noqueue"}
	addrs := []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8}},
		{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16([16]byte{15: 1}), PrefixLen: 128}},
	}
	for _, a := range addrs {
		if err := s.AddProtocolAddress(LoopbackNIC, a, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("netstack: add %s to lo: %s", a.AddressWithPrefix, err)
		}
		ns.AddRoute(tcpip.Route{Destination: a.AddressWithPrefix.Subnet(), NIC: LoopbackNIC})
	}
	return nil
}

// AddRoute adds a route to the stack's table.
func (ns *Netstack) AddRoute(r tcpip.Route) {
	ns.Stack.AddRoute(r)
}

// NextNICID returns a NIC id no NIC has yet (interface indexes after
// lo's), for a NIC another mode adds.
func (ns *Netstack) NextNICID() tcpip.NICID {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	id := ns.nextID
	ns.nextID++
	return id
}

// SetInterfaceInfo records the link details of NIC id (an Ethernet NIC
// is ARPHRD_ETHER with qdisc "noqueue" unless told otherwise).
func (ns *Netstack) SetInterfaceInfo(id tcpip.NICID, info InterfaceInfo) {
	ns.mu.Lock()
	ns.info[id] = info
	ns.mu.Unlock()
}

// Close stops the stack's protocol goroutines and timers.
func (ns *Netstack) Close() {
	ns.Stack.Close()
}

// Attach makes a new Netstack the engine and the network of st.
func Attach(st *socket.Stack) (*Netstack, error) {
	ns, err := New()
	if err != nil {
		return nil, err
	}
	st.SetEngine(ns)
	st.SetNetwork(ns)
	return ns, nil
}

// Of returns the Netstack of st, or nil if it has none.
func Of(st *socket.Stack) *Netstack {
	ns, _ := st.Engine().(*Netstack)
	return ns
}

// Interfaces implements socket.Network: every NIC, by index.
func (ns *Netstack) Interfaces() []socket.Interface {
	nics := ns.Stack.NICInfo()
	ids := make([]int, 0, len(nics))
	for id := range nics {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	out := make([]socket.Interface, 0, len(ids))
	for _, id := range ids {
		n := nics[tcpip.NICID(id)]
		info, ok := ns.info[tcpip.NICID(id)]
		if !ok {
			info = InterfaceInfo{Type: unix.ARPHRD_ETHER, TxQueueLen: 1000, Qdisc: "noqueue"}
		}
		out = append(out, describeNIC(int32(id), n, info))
	}
	return out
}

func describeNIC(id int32, n stack.NICInfo, info InterfaceInfo) socket.Interface {
	ifc := socket.Interface{
		Index: id, Name: n.Name, Type: info.Type, MTU: n.MTU,
		TxQueueLen: info.TxQueueLen, Qdisc: info.Qdisc,
		OperState: ifOperUnknown,
	}
	if n.Flags.Loopback {
		ifc.Flags |= unix.IFF_LOOPBACK
		ifc.MTU = loopbackMTU
		ifc.HWAddr = make([]byte, 6)
		ifc.Broadcast = make([]byte, 6)
	} else {
		ifc.Flags |= unix.IFF_BROADCAST | unix.IFF_MULTICAST
		ifc.HWAddr = []byte(n.LinkAddress)
		if len(ifc.HWAddr) == 0 {
			ifc.HWAddr = make([]byte, 6)
		}
		ifc.Broadcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		ifc.OperState = ifOperUp
	}
	if n.Flags.Up {
		ifc.Flags |= unix.IFF_UP
	}
	if n.Flags.Running {
		ifc.Flags |= unix.IFF_RUNNING | unix.IFF_LOWER_UP
	}
	if n.Flags.Promiscuous {
		ifc.Flags |= unix.IFF_PROMISC
	}
	for _, pa := range n.ProtocolAddresses {
		ifc.Addrs = append(ifc.Addrs, describeAddr(n, pa))
	}
	return ifc
}

// Linux ABI values x/sys/unix lacks.
const (
	ifOperUnknown    = 0 // IF_OPER_UNKNOWN
	ifOperUp         = 6 // IF_OPER_UP
	ifaProtoKernelLo = 1 // IFAPROT_KERNEL_LO
)

func describeAddr(n stack.NICInfo, pa tcpip.ProtocolAddress) socket.InterfaceAddr {
	a := pa.AddressWithPrefix
	ia := socket.InterfaceAddr{
		Addr: a.Address.AsSlice(), PrefixLen: uint8(a.PrefixLen),
		Flags: unix.IFA_F_PERMANENT, Scope: unix.RT_SCOPE_UNIVERSE,
	}
	switch pa.Protocol {
	case ipv4.ProtocolNumber:
		ia.Family = unix.AF_INET
		ia.Label = n.Name
		if n.Flags.Loopback || a.Address.AsSlice()[0] == 127 {
			ia.Scope = unix.RT_SCOPE_HOST
		} else if a.PrefixLen < 31 {
			sub := a.Subnet()
			bc := sub.Broadcast()
			ia.Broadcast = bc.AsSlice()
		}
	case ipv6.ProtocolNumber:
		ia.Family = unix.AF_INET6
		switch {
		case a.Address == header.IPv6Loopback:
			ia.Scope = unix.RT_SCOPE_HOST
			ia.Proto = ifaProtoKernelLo
		case header.IsV6LinkLocalUnicastAddress(a.Address):
			ia.Scope = unix.RT_SCOPE_LINK
		}
	}
	return ia
}

// Routes implements socket.Network: the stack's routes as Linux's main
// table shows them, and the local table's routes to the interfaces' own
// addresses (what `ip route show table all` lists).
func (ns *Netstack) Routes() []socket.Route {
	var out []socket.Route
	nics := ns.Stack.NICInfo()
	for _, r := range ns.Stack.GetRouteTable() {
		n := nics[r.NIC]
		if n.Flags.Loopback {
			// Linux has no main-table routes for lo: its addresses
			// appear below as local routes.
			continue
		}
		out = append(out, mainRoute(r))
	}
	ids := make([]int, 0, len(nics))
	for id := range nics {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for _, id := range ids {
		out = append(out, localRoutes(int32(id), nics[tcpip.NICID(id)])...)
	}
	return out
}

func mainRoute(r tcpip.Route) socket.Route {
	family := unix.AF_INET
	if r.Destination.ID().BitLen() == header.IPv6AddressSizeBits {
		family = unix.AF_INET6
	}
	out := socket.Route{
		Family: family, DstLen: uint8(r.Destination.Prefix()),
		Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_KERNEL,
		Scope: unix.RT_SCOPE_LINK, Type: unix.RTN_UNICAST, OutIndex: int32(r.NIC),
	}
	if out.DstLen > 0 {
		dst := r.Destination.ID()
		out.Dst = dst.AsSlice()
	}
	if !r.Gateway.Unspecified() {
		out.Gateway = r.Gateway.AsSlice()
		out.Scope = unix.RT_SCOPE_UNIVERSE
		out.Protocol = unix.RTPROT_BOOT
	}
	if r.SourceHint.Len() > 0 {
		out.PrefSrc = r.SourceHint.AsSlice()
	}
	if family == unix.AF_INET6 {
		out.HasPriority, out.Priority = true, 1024
		out.HasPref = true
		out.Scope = unix.RT_SCOPE_UNIVERSE
	}
	return out
}

// localRoutes are the local-table routes Linux adds for an interface's
// addresses: each address itself (RTN_LOCAL) and, for IPv4, the
// subnet's broadcast address, and for lo the whole 127.0.0.0/8.
func localRoutes(id int32, n stack.NICInfo) []socket.Route {
	var out []socket.Route
	for _, pa := range n.ProtocolAddresses {
		a := pa.AddressWithPrefix
		addr := a.Address.AsSlice()
		sub := a.Subnet()
		subID, bc := sub.ID(), sub.Broadcast()
		switch pa.Protocol {
		case ipv4.ProtocolNumber:
			if a.PrefixLen < 32 && (n.Flags.Loopback || addr[0] == 127) {
				out = append(out, socket.Route{Family: unix.AF_INET, Dst: subID.AsSlice(), DstLen: uint8(a.PrefixLen),
					Table: unix.RT_TABLE_LOCAL, Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_HOST,
					Type: unix.RTN_LOCAL, PrefSrc: addr, OutIndex: id})
			}
			out = append(out, socket.Route{Family: unix.AF_INET, Dst: addr, DstLen: 32,
				Table: unix.RT_TABLE_LOCAL, Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_HOST,
				Type: unix.RTN_LOCAL, PrefSrc: addr, OutIndex: id})
			if a.PrefixLen < 31 {
				out = append(out, socket.Route{Family: unix.AF_INET, Dst: bc.AsSlice(), DstLen: 32,
					Table: unix.RT_TABLE_LOCAL, Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_LINK,
					Type: unix.RTN_BROADCAST, PrefSrc: addr, OutIndex: id})
			}
		case ipv6.ProtocolNumber:
			out = append(out, socket.Route{Family: unix.AF_INET6, Dst: addr, DstLen: 128,
				Table: unix.RT_TABLE_LOCAL, Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_UNIVERSE,
				Type: unix.RTN_LOCAL, OutIndex: id, HasPriority: true, HasPref: true})
		}
	}
	return out
}
