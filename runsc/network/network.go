// Package network prepares a container's network namespace for
// --network=sandbox: it reads the namespace's interfaces (rtnetlink),
// opens a packet socket on each, and takes their IP addresses away from
// the host kernel, so that from then on the Sentry's own stack is the
// only endpoint of the container's traffic and the host kernel only
// moves frames.
package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/veil-sandbox/veil/runsc/boot"
	"golang.org/x/sys/unix"
)

// Take prepares the interfaces of the network namespace at netns (see
// the package comment) and returns them with one packet socket each (in
// the same order; the caller closes them). Loopback is left alone (the
// Sentry has its own), and so are interfaces that are not Ethernet (the
// Sentry's stack speaks Ethernet only): they are not handed over. On
// failure before any address was removed the namespace is unchanged.
func Take(netns string) (ifs []boot.NetInterface, files []*os.File, err error) {
	err = InNamespace(netns, func() error {
		if ifs, files, err = takeHere(); err != nil {
			return fmt.Errorf("network namespace %s: %w", netns, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ifs, files, nil
}

// takeHere is Take in the thread's namespace.
func takeHere() (ifs []boot.NetInterface, files []*os.File, err error) {
	ifs, err = readInterfaces()
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			files = nil
		}
	}()
	for i, ifc := range ifs {
		f, gso, err := openPacketSocket(ifc.Index, ifc.Name)
		if err != nil {
			return nil, files, err
		}
		ifs[i].GSO = gso
		files = append(files, f)
	}
	for _, ifc := range ifs {
		if err := removeAddresses(ifc); err != nil {
			return nil, files, err
		}
	}
	return ifs, files, nil
}

// readInterfaces lists the Ethernet interfaces of the thread's network
// namespace with their addresses and main-table routes.
func readInterfaces() ([]boot.NetInterface, error) {
	links, err := dump(unix.RTM_GETLINK)
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var ifs []boot.NetInterface
	byIndex := map[int]int{}
	for _, m := range links {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		info := (*unix.IfInfomsg)(ptr(m.Data))
		if info.Type != unix.ARPHRD_ETHER || info.Flags&unix.IFF_LOOPBACK != 0 {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("interface %d: %w", info.Index, err)
		}
		ifc := boot.NetInterface{Index: int(info.Index)}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				ifc.Name = cString(a.Value)
			case unix.IFLA_MTU:
				if len(a.Value) >= 4 {
					ifc.MTU = nativeUint32(a.Value)
				}
			case unix.IFLA_ADDRESS:
				ifc.MAC = net.HardwareAddr(a.Value).String()
			}
		}
		byIndex[ifc.Index] = len(ifs)
		ifs = append(ifs, ifc)
	}
	if len(ifs) == 0 {
		return nil, nil
	}

	addrs, err := dump(unix.RTM_GETADDR)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	for _, m := range addrs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		am := (*unix.IfAddrmsg)(ptr(m.Data))
		i, ok := byIndex[int(am.Index)]
		if !ok {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("address of interface %d: %w", am.Index, err)
		}
		// IFA_LOCAL is the interface's own address where it differs
		// from IFA_ADDRESS (the peer's, on point-to-point links).
		var addr, local []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_ADDRESS:
				addr = a.Value
			case unix.IFA_LOCAL:
				local = a.Value
			}
		}
		if local != nil {
			addr = local
		}
		ip, ok := netip.AddrFromSlice(addr)
		if !ok {
			continue
		}
		ifs[i].Addrs = append(ifs[i].Addrs, netip.PrefixFrom(ip, int(am.Prefixlen)))
	}

	routes, err := dump(unix.RTM_GETROUTE)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	for _, m := range routes {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		rt := (*unix.RtMsg)(ptr(m.Data))
		if rt.Type != unix.RTN_UNICAST {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("route: %w", err)
		}
		table := uint32(rt.Table)
		oif := -1
		var dst, gw []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.RTA_TABLE:
				table = nativeUint32(a.Value)
			case unix.RTA_OIF:
				oif = int(nativeUint32(a.Value))
			case unix.RTA_DST:
				dst = a.Value
			case unix.RTA_GATEWAY:
				gw = a.Value
			}
		}
		i, ok := byIndex[oif]
		if table != unix.RT_TABLE_MAIN || !ok {
			continue
		}
		var r boot.NetRoute
		if dst == nil {
			dst = make([]byte, 4)
			if rt.Family == unix.AF_INET6 {
				dst = make([]byte, 16)
			}
		}
		d, ok := netip.AddrFromSlice(dst)
		if !ok {
			continue
		}
		r.Dst = netip.PrefixFrom(d, int(rt.Dst_len))
		if gw != nil {
			r.Gateway, _ = netip.AddrFromSlice(gw)
		}
		ifs[i].Routes = append(ifs[i].Routes, r)
	}
	return ifs, nil
}

// dump returns the messages of an rtnetlink dump request of all families.
func dump(typ int) ([]syscall.NetlinkMessage, error) {
	b, err := syscall.NetlinkRIB(typ, unix.AF_UNSPEC)
	if err != nil {
		return nil, err
	}
	return syscall.ParseNetlinkMessage(b)
}

// packetOutgoingFilter is a classic BPF program that drops the frames a
// packet socket sees leaving the host side of the interface: without it
// whatever the namespace's kernel still sends (IPv6 router
// solicitations, say) would reach the Sentry's stack as if received.
var packetOutgoingFilter = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdPktType},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.PACKET_OUTGOING},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
}

// The BPF "ancillary data" offset of the frame's packet type
// (SKF_AD_OFF + SKF_AD_PKTTYPE in linux/filter.h), which x/sys/unix lacks.
const (
	skfAdOff     = 0xfffff000
	skfAdPktType = 4
)

// packetBuffer is the receive and send buffer of a packet socket.
const packetBuffer = 4 << 20

// openPacketSocket returns an AF_PACKET socket that receives every
// frame arriving on interface index and sends frames out of it, and
// whether it carries virtio-net headers (segmentation offload).
func openPacketSocket(index int, name string) (_ *os.File, gso bool, _ error) {
	// Protocol 0 receives nothing until bind names the interface, so no
	// other interface's frames queue up in between.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, false, fmt.Errorf("packet socket for %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "packet:"+name)
	prog := unix.SockFprog{Len: uint16(len(packetOutgoingFilter)), Filter: &packetOutgoingFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("packet socket for %s: filter: %w", name, err)
	}
	// Frames the Sentry sends skip the namespace's queueing discipline
	// (a veth has none worth keeping); not every kernel allows it, and
	// it only saves time.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	// Room for the bursts a TCP sender puts on the wire while the
	// Sentry is busy: with the default (net.core.rmem_default, about
	// 200 KiB) iperf3 into the sandbox lost frames and retransmitted
	// heavily. FORCE: runsc is privileged here, the Sentry will not be.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, packetBuffer)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, packetBuffer)
	// Segmentation offload where the host allows it: the Sentry hands
	// the kernel 64 KiB TCP segments instead of one system call's worth
	// of 1500-byte frames (must be set before bind).
	gso = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: index}
	if err := unix.Bind(fd, sa); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("binding packet socket to %s: %w", name, err)
	}
	return f, gso, nil
}

// removeAddresses deletes the addresses of ifc from the host kernel
// (their routes go with them), so that it neither answers ARP/NDP for
// them nor terminates connections to them.
func removeAddresses(ifc boot.NetInterface) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("rtnetlink bind: %w", err)
	}
	for seq, p := range ifc.Addrs {
		if err := deleteAddress(fd, uint32(seq+1), ifc.Index, p); err != nil {
			return fmt.Errorf("removing %s from %s: %w", p, ifc.Name, err)
		}
	}
	return nil
}

// deleteAddress sends one RTM_DELADDR and waits for its acknowledgement.
func deleteAddress(fd int, seq uint32, index int, p netip.Prefix) error {
	family := unix.AF_INET
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	addr := p.Addr().AsSlice()
	msg := newRequest(unix.RTM_DELADDR, seq, ifAddrmsgBytes(unix.IfAddrmsg{
		Family: uint8(family), Prefixlen: uint8(p.Bits()), Index: uint32(index),
	}))
	msg = appendAttr(msg, unix.IFA_LOCAL, addr)
	msg = appendAttr(msg, unix.IFA_ADDRESS, addr)
	return request(fd, seq, msg)
}
