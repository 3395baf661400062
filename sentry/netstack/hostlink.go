package netstack

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// HostLink is a host interface whose Ethernet frames the stack sends and
// receives through a host socket (--network=sandbox: an AF_PACKET socket
// runsc bound to an interface of the container's network namespace).
// The stack takes over the interface's identity: its MAC (it answers
// ARP and NDP for its addresses itself), MTU, addresses and routes.
type HostLink struct {
	// FD is the socket, owned by the caller and open as long as the
	// stack. Packet says it is an AF_PACKET socket (else any datagram
	// socket carrying one frame per message, as tests use).
	FD     int
	Packet bool
	Name   string
	// GSO: the socket carries virtio-net headers (PACKET_VNET_HDR), and
	// the host kernel segments what the stack sends.
	GSO    bool
	MAC    tcpip.LinkAddress
	MTU    uint32
	Addrs  []netip.Prefix
	Routes []HostRoute
}

// hostGSOMaxSize is the largest segment handed to the host kernel to cut
// (a virtio-net GSO packet's limit).
const hostGSOMaxSize = 65536

// HostRoute is a route through a HostLink; Gateway is invalid for a
// route on the link itself.
type HostRoute struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

// AttachHostLink adds l as a NIC of the stack and returns its id (the
// interface's index inside).
func (ns *Netstack) AttachHostLink(l HostLink) (tcpip.NICID, error) {
	gsoMax := uint32(0)
	if l.GSO {
		gsoMax = hostGSOMaxSize
	}
	ep, err := fdbased.New(&fdbased.Options{
		GSOMaxSize:     gsoMax,
		FDs:            []int{l.FD},
		MTU:            l.MTU,
		EthernetHeader: true,
		Address:        l.MAC,
		// Batches of frames per system call (recvmmsg, sendmmsg).
		PacketDispatchMode: fdbased.RecvMMsg,
		// Frames from a veth peer may carry a checksum the sender left
		// to offload (CHECKSUM_PARTIAL): the host kernel delivered them
		// and vouches for them, as gVisor trusts it. Checksums of the
		// frames we send are computed: the other side may verify them.
		RXChecksumOffload: true,
		// runsc made and bound the socket; one socket per NIC needs no
		// fanout group (and the Sentry's filter allows no setsockopt).
		PreConfigured:  true,
		IsPacketSocket: []bool{l.Packet},
	})
	if err != nil {
		return 0, fmt.Errorf("netstack: link %s: %w", l.Name, err)
	}
	id := ns.NextNICID()
	if terr := ns.Stack.CreateNICWithOptions(id, ep, stack.NICOptions{Name: l.Name}); terr != nil {
		return 0, fmt.Errorf("netstack: link %s: %s", l.Name, terr)
	}
	for _, p := range l.Addrs {
		pa := tcpip.ProtocolAddress{Protocol: protocolOf(p.Addr()), AddressWithPrefix: tcpip.AddressWithPrefix{
			Address: tcpip.AddrFromSlice(p.Addr().AsSlice()), PrefixLen: p.Bits(),
		}}
		if terr := ns.Stack.AddProtocolAddress(id, pa, stack.AddressProperties{}); terr != nil {
			return 0, fmt.Errorf("netstack: link %s: address %s: %s", l.Name, p, terr)
		}
	}
	for _, r := range l.Routes {
		sub := tcpip.AddressWithPrefix{
			Address: tcpip.AddrFromSlice(r.Dst.Addr().AsSlice()), PrefixLen: r.Dst.Bits(),
		}.Subnet()
		tr := tcpip.Route{Destination: sub, NIC: id}
		if r.Gateway.IsValid() {
			tr.Gateway = tcpip.AddrFromSlice(r.Gateway.AsSlice())
		}
		ns.AddRoute(tr)
	}
	return id, nil
}

func protocolOf(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}
