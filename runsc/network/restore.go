package network

import (
	"fmt"
	"net/netip"

	"github.com/veil-sandbox/veil/runsc/boot"
	"golang.org/x/sys/unix"
)

// GiveBack returns the addresses and gateway routes Take removed to the
// host kernel's interfaces in netns: for a sandbox that failed to start,
// so that its namespace is as it was given. (Routes on the link come
// back with their addresses.)
func GiveBack(netns string, ifs []boot.NetInterface) error {
	return InNamespace(netns, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("rtnetlink socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("rtnetlink bind: %w", err)
		}
		seq := uint32(0)
		for _, ifc := range ifs {
			for _, p := range ifc.Addrs {
				seq++
				if err := addAddress(fd, seq, ifc.Index, p); err != nil {
					return fmt.Errorf("network namespace %s: giving %s back to %s: %w", netns, p, ifc.Name, err)
				}
			}
			for _, r := range ifc.Routes {
				if !r.Gateway.IsValid() {
					continue
				}
				seq++
				if err := addRoute(fd, seq, ifc.Index, r); err != nil {
					return fmt.Errorf("network namespace %s: giving route %s via %s back: %w", netns, r.Dst, r.Gateway, err)
				}
			}
		}
		return nil
	})
}

func familyOf(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func addAddress(fd int, seq uint32, index int, p netip.Prefix) error {
	m := unix.IfAddrmsg{Family: familyOf(p.Addr()), Prefixlen: uint8(p.Bits()), Index: uint32(index)}
	if p.Addr().Is6() {
		m.Flags = unix.IFA_F_NODAD // it was the interface's already
	}
	msg := newRequest(unix.RTM_NEWADDR, seq, ifAddrmsgBytes(m))
	setFlags(msg, unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	addr := p.Addr().AsSlice()
	msg = appendAttr(msg, unix.IFA_LOCAL, addr)
	msg = appendAttr(msg, unix.IFA_ADDRESS, addr)
	return request(fd, seq, msg)
}

func addRoute(fd int, seq uint32, index int, r boot.NetRoute) error {
	m := unix.RtMsg{
		Family: familyOf(r.Gateway), Dst_len: uint8(r.Dst.Bits()), Table: unix.RT_TABLE_MAIN,
		Protocol: unix.RTPROT_BOOT, Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST,
	}
	msg := newRequest(unix.RTM_NEWROUTE, seq, rtMsgBytes(m))
	setFlags(msg, unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	if r.Dst.Bits() > 0 {
		msg = appendAttr(msg, unix.RTA_DST, r.Dst.Addr().AsSlice())
	}
	msg = appendAttr(msg, unix.RTA_GATEWAY, r.Gateway.AsSlice())
	oif := make([]byte, 4)
	putNativeUint32(oif, uint32(index))
	msg = appendAttr(msg, unix.RTA_OIF, oif)
	return request(fd, seq, msg)
}
