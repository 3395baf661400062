package inet

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	linux "golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// procAddr formats an address as /proc/net/tcp does: each 32-bit word
// of it printed as a host-order (little-endian) number, then the port.
func procAddr(domain int, a tcpip.FullAddress) string {
	var b []byte
	if domain == linux.AF_INET {
		b = make([]byte, 4)
		if a.Addr.Len() == 4 {
			v := a.Addr.As4()
			b = v[:]
		}
	} else {
		b = make([]byte, 16)
		switch a.Addr.Len() {
		case 4:
			v := a.Addr.As4()
			b[10], b[11] = 0xff, 0xff
			copy(b[12:], v[:])
		case 16:
			v := a.Addr.As16()
			b = v[:]
		}
	}
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&sb, "%08X", binary.LittleEndian.Uint32(b[i:]))
	}
	fmt.Fprintf(&sb, ":%04X", a.Port)
	return sb.String()
}

// socketsFor returns the sockets of st of one family and transport,
// ordered by inode number (Linux lists them by hash bucket; any stable
// order does).
func socketsFor(st *socket.Stack, domain int, trans tcpip.TransportProtocolNumber) []*endpoint {
	var out []*endpoint
	for _, e := range socketsOf(st).list() {
		if e.Family == domain && e.transProto == trans && e.Type != linux.SOCK_RAW {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ino.Load() < out[j].ino.Load() })
	return out
}

func procHeader(domain int, tail string) string {
	if domain == linux.AF_INET {
		return "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode" + tail + "\n"
	}
	return "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode" + tail + "\n"
}

func (e *endpoint) addrs() (local, remote tcpip.FullAddress) {
	local, _ = e.ep.GetLocalAddress()
	remote, _ = e.ep.GetRemoteAddress()
	return local, remote
}

func (e *endpoint) queues() (tx, rx int) {
	tx, _ = e.ep.GetSockOptInt(tcpip.SendQueueSizeOption)
	rx, _ = e.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	return max(tx, 0), max(rx, 0)
}

// procNetTCP generates /proc/net/tcp or tcp6 (only the sockets of
// domain: an AF_INET6 socket with an IPv4 peer is listed in tcp6).
func procNetTCP(domain int) func(st *socket.Stack) string {
	return func(st *socket.Stack) string {
		var sb strings.Builder
		sb.WriteString(procHeader(domain, ""))
		for i, e := range socketsFor(st, domain, tcp.ProtocolNumber) {
			local, remote := e.addrs()
			tx, rx := e.queues()
			state := linuxTCPState(tcp.EndpointState(e.ep.State()))
			if state == linux.BPF_TCP_LISTEN {
				// A listener's rx_queue is its accept backlog; the
				// engine does not say, so 0.
				tx, rx = 0, 0
			}
			fmt.Fprintf(&sb, "%4d: %s %s %02X %08X:%08X %02X:%08X %08X %5d %8d %d %d %016X %d %d %d %d %d\n",
				i, procAddr(domain, local), procAddr(domain, remote), state, tx, rx,
				0, 0, 0, e.uid, 0, e.ino.Load(), 1, 0, 100, 0, 0, 10, -1)
		}
		return sb.String()
	}
}

// procNetUDP generates /proc/net/udp or udp6.
func procNetUDP(domain int) func(st *socket.Stack) string {
	return func(st *socket.Stack) string {
		var sb strings.Builder
		sb.WriteString(procHeader(domain, " ref pointer drops"))
		for i, e := range socketsFor(st, domain, udp.ProtocolNumber) {
			local, remote := e.addrs()
			tx, rx := e.queues()
			state := linux.BPF_TCP_CLOSE
			if remote.Port != 0 {
				state = linux.BPF_TCP_ESTABLISHED
			}
			fmt.Fprintf(&sb, "%5d: %s %s %02X %08X:%08X %02X:%08X %08X %5d %8d %d %d %016X %d\n",
				i, procAddr(domain, local), procAddr(domain, remote), state, tx, rx,
				0, 0, 0, e.uid, 0, e.ino.Load(), 2, 0, 0)
		}
		return sb.String()
	}
}

// procNetDev generates /proc/net/dev from the NICs' counters.
func procNetDev(st *socket.Stack) string {
	var sb strings.Builder
	sb.WriteString("Inter-|   Receive                                                |  Transmit\n")
	sb.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	ns := netstack.Of(st)
	if ns == nil {
		return sb.String()
	}
	infos := ns.Stack.NICInfo()
	for _, ifc := range st.Network().Interfaces() {
		n, ok := infos[tcpip.NICID(ifc.Index)]
		var rxB, rxP, txB, txP uint64
		if ok {
			rxB, rxP = n.Stats.Rx.Bytes.Value(), n.Stats.Rx.Packets.Value()
			txB, txP = n.Stats.Tx.Bytes.Value(), n.Stats.Tx.Packets.Value()
		}
		fmt.Fprintf(&sb, "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			ifc.Name, rxB, rxP, 0, 0, 0, 0, 0, 0, txB, txP, 0, 0, 0, 0, 0, 0)
	}
	return sb.String()
}

// ifInet6Scope is the scope column of /proc/net/if_inet6 (IPV6_ADDR_*
// scope bits, not RT_SCOPE_*).
func ifInet6Scope(rtScope uint8) int {
	switch rtScope {
	case linux.RT_SCOPE_HOST:
		return 0x10
	case linux.RT_SCOPE_LINK:
		return 0x20
	case linux.RT_SCOPE_SITE:
		return 0x40
	}
	return 0
}

// procNetIfInet6 generates /proc/net/if_inet6: one line per IPv6
// address.
func procNetIfInet6(st *socket.Stack) string {
	var sb strings.Builder
	for _, ifc := range st.Network().Interfaces() {
		for _, a := range ifc.Addrs {
			if a.Family != linux.AF_INET6 {
				continue
			}
			fmt.Fprintf(&sb, "%x %02x %02x %02x %02x %8s\n", a.Addr, ifc.Index, a.PrefixLen,
				ifInet6Scope(a.Scope), a.Flags&0xff, ifc.Name)
		}
	}
	return sb.String()
}

// procNetRoute generates /proc/net/route: the main table's IPv4 routes.
func procNetRoute(st *socket.Stack) string {
	var sb strings.Builder
	sb.WriteString("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT       \n")
	n := st.Network()
	names := map[int32]string{}
	for _, ifc := range n.Interfaces() {
		names[ifc.Index] = ifc.Name
	}
	le := func(b []byte) uint32 {
		var v [4]byte
		copy(v[:], b)
		return binary.LittleEndian.Uint32(v[:])
	}
	for _, r := range n.Routes() {
		if r.Family != linux.AF_INET || r.Table != linux.RT_TABLE_MAIN {
			continue
		}
		flags := linux.RTF_UP
		if r.Gateway != nil {
			flags |= linux.RTF_GATEWAY
		}
		mask := uint32(0)
		if r.DstLen > 0 {
			mask = ^uint32(0) << (32 - r.DstLen)
		}
		var m [4]byte
		binary.BigEndian.PutUint32(m[:], mask)
		fmt.Fprintf(&sb, "%s\t%08X\t%08X\t%04X\t%d\t%d\t%d\t%08X\t%d\t%d\t%d\n",
			names[r.OutIndex], le(r.Dst), le(r.Gateway), flags, 0, 0, r.Priority, le(m[:]), 0, 0, 0)
	}
	return sb.String()
}
