package control

import "net/netip"

// MethodNetwork hands the Sentry the interfaces of its own network
// namespace, which an engine's createRuntime hook configured after the
// Sentry started (docker's bridge): Interfaces, with one packet socket
// each attached in that order.
const MethodNetwork Method = "network"

// NetInterface is one interface of the container's network namespace
// that runsc hands the Sentry in --network=sandbox mode: the Sentry's
// stack takes over its identity (MAC, MTU, addresses, routes), and the
// packet socket runsc bound to it moves its frames. The host's interface
// keeps none of its addresses.
type NetInterface struct {
	// Name and Index are the interface's in the namespace.
	Name  string
	Index int
	// MAC is the hardware address (the Sentry answers ARP and NDP for
	// it); MTU the interface's.
	MAC string
	MTU uint32
	// GSO says the packet socket carries a virtio-net header
	// (PACKET_VNET_HDR): the Sentry may send TCP segments of up to 64
	// KiB for the host kernel to cut, and receives coalesced ones.
	GSO bool `json:",omitempty"`
	// Addrs are the interface's addresses with their prefixes.
	Addrs []netip.Prefix
	// Routes are the main table's routes through the interface.
	Routes []NetRoute
}

// NetRoute is one route through a NetInterface.
type NetRoute struct {
	Dst netip.Prefix
	// Gateway is the next hop, invalid for a route on the link.
	Gateway netip.Addr `json:",omitzero"`
}
