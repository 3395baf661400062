package netstack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	peerMAC = tcpip.LinkAddress("\x02\x00\x00\x00\x00\x01")
	linkMAC = tcpip.LinkAddress("\x02\x00\x00\x00\x00\x02")
	peerIP  = netip.MustParseAddr("10.213.0.1")
	linkIP  = netip.MustParseAddr("10.213.0.2")
)

// hostLinkPair attaches one end of a datagram socketpair as a HostLink
// with 10.213.0.2/24 and a default route via 10.213.0.1, and returns the
// other end, where the test plays the peer host.
func hostLinkPair(t *testing.T) (*Netstack, tcpip.NICID, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Close()
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	id, err := ns.AttachHostLink(HostLink{
		FD: fds[0], Name: "eth0", MAC: linkMAC, MTU: 1500,
		Addrs: []netip.Prefix{netip.PrefixFrom(linkIP, 24)},
		Routes: []HostRoute{
			{Dst: netip.MustParsePrefix("10.213.0.0/24")},
			{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: peerIP},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return ns, id, fds[1]
}

func ethernet(dst tcpip.LinkAddress, typ tcpip.NetworkProtocolNumber, payload []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: peerMAC, DstAddr: dst, Type: typ})
	copy(b[header.EthernetMinimumSize:], payload)
	return b
}

func arpFrame(op header.ARPOp, dstMAC tcpip.LinkAddress, target netip.Addr) []byte {
	a := header.ARP(make([]byte, header.ARPSize))
	a.SetIPv4OverEthernet()
	a.SetOp(op)
	copy(a.HardwareAddressSender(), peerMAC)
	copy(a.ProtocolAddressSender(), peerIP.AsSlice())
	copy(a.HardwareAddressTarget(), dstMAC)
	copy(a.ProtocolAddressTarget(), target.AsSlice())
	dst := dstMAC
	if op == header.ARPRequest {
		dst = header.EthernetBroadcastAddress
	}
	return ethernet(dst, header.ARPProtocolNumber, a)
}

func echoRequest(id uint16) []byte {
	icmp := header.ICMPv4(make([]byte, header.ICMPv4MinimumSize+4))
	icmp.SetType(header.ICMPv4Echo)
	icmp.SetIdent(id)
	icmp.SetSequence(1)
	copy(icmp.Payload(), "veil")
	icmp.SetChecksum(^checksum.Checksum(icmp, 0))
	ip := header.IPv4(make([]byte, header.IPv4MinimumSize+len(icmp)))
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFromSlice(peerIP.AsSlice()), DstAddr: tcpip.AddrFromSlice(linkIP.AsSlice()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(ip[header.IPv4MinimumSize:], icmp)
	return ethernet(linkMAC, header.IPv4ProtocolNumber, ip)
}

// readFrame returns the next frame the stack sent, answering its ARP
// requests for the peer on the way.
func readFrame(t *testing.T, fd int) header.Ethernet {
	t.Helper()
	buf := make([]byte, 2048)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatalf("no frame from the stack: %v", err)
		}
		eth := header.Ethernet(append([]byte(nil), buf[:n]...))
		if eth.Type() == header.ARPProtocolNumber {
			a := header.ARP(eth[header.EthernetMinimumSize:])
			if a.Op() == header.ARPRequest && bytes.Equal(a.ProtocolAddressTarget(), peerIP.AsSlice()) {
				if _, err := unix.Write(fd, arpFrame(header.ARPReply, linkMAC, linkIP)); err != nil {
					t.Fatal(err)
				}
				continue
			}
		}
		return eth
	}
}

func TestHostLinkAnswersARPAndPing(t *testing.T) {
	_, _, fd := hostLinkPair(t)
	if _, err := unix.Write(fd, arpFrame(header.ARPRequest, "\x00\x00\x00\x00\x00\x00", linkIP)); err != nil {
		t.Fatal(err)
	}
	eth := readFrame(t, fd)
	if eth.Type() != header.ARPProtocolNumber {
		t.Fatalf("answer to an ARP request is of type %#x, want ARP", eth.Type())
	}
	a := header.ARP(eth[header.EthernetMinimumSize:])
	if a.Op() != header.ARPReply || tcpip.LinkAddress(a.HardwareAddressSender()) != linkMAC ||
		!bytes.Equal(a.ProtocolAddressSender(), linkIP.AsSlice()) {
		t.Fatalf("ARP answer: op %d, %s is at %s; want reply %s is at %s",
			a.Op(), tcpip.AddrFromSlice(a.ProtocolAddressSender()), tcpip.LinkAddress(a.HardwareAddressSender()), linkIP, linkMAC)
	}
	if eth.DestinationAddress() != peerMAC {
		t.Fatalf("ARP reply sent to %s, want %s", eth.DestinationAddress(), peerMAC)
	}

	if _, err := unix.Write(fd, echoRequest(0x7e11)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		eth := readFrame(t, fd)
		if eth.Type() != header.IPv4ProtocolNumber {
			continue
		}
		ip := header.IPv4(eth[header.EthernetMinimumSize:])
		if ip.TransportProtocol() != header.ICMPv4ProtocolNumber {
			continue
		}
		icmp := header.ICMPv4(ip.Payload())
		if icmp.Type() != header.ICMPv4EchoReply || icmp.Ident() != 0x7e11 {
			continue
		}
		if ip.SourceAddress() != tcpip.AddrFromSlice(linkIP.AsSlice()) || !bytes.Equal(icmp.Payload(), []byte("veil")) {
			t.Fatalf("echo reply from %s with %q", ip.SourceAddress(), icmp.Payload())
		}
		if !ip.IsChecksumValid() {
			t.Fatalf("echo reply has a bad IP checksum")
		}
		return
	}
	t.Fatal("no echo reply")
}

func TestHostLinkShowsInterfaceAndRoutes(t *testing.T) {
	ns, id, _ := hostLinkPair(t)
	var found bool
	for _, ifc := range ns.Interfaces() {
		if ifc.Name != "eth0" {
			continue
		}
		found = true
		if ifc.Index != int32(id) || ifc.MTU != 1500 || !bytes.Equal(ifc.HWAddr, []byte(linkMAC)) {
			t.Errorf("eth0: index %d mtu %d mac %x; want %d, 1500, %x", ifc.Index, ifc.MTU, ifc.HWAddr, id, []byte(linkMAC))
		}
		if len(ifc.Addrs) != 1 || !bytes.Equal(ifc.Addrs[0].Addr, linkIP.AsSlice()) || ifc.Addrs[0].PrefixLen != 24 {
			t.Errorf("eth0 addresses: %+v, want 10.213.0.2/24", ifc.Addrs)
		}
	}
	if !found {
		t.Fatalf("no eth0 among %+v", ns.Interfaces())
	}
	var def, onLink bool
	for _, r := range ns.Routes() {
		if r.OutIndex != int32(id) || r.Family != unix.AF_INET {
			continue
		}
		switch {
		case r.DstLen == 0 && bytes.Equal(r.Gateway, peerIP.AsSlice()):
			def = true
		case r.DstLen == 24 && bytes.Equal(r.Dst, []byte{10, 213, 0, 0}) && r.Gateway == nil:
			onLink = true
		}
	}
	if !def || !onLink {
		t.Fatalf("routes through eth0: default via %s %v, 10.213.0.0/24 %v; all: %+v", peerIP, def, onLink, ns.Routes())
	}
}
