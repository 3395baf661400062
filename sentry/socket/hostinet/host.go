package hostinet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/veil-sandbox/veil/sentry/socket"
	"golang.org/x/sys/unix"
)

// Host is what the Sentry reads of the host's network before it confines
// itself: the interfaces and routes (a snapshot, as rtnetlink and the
// SIOCGIF* ioctls inside show them) and open descriptors of the host's
// /proc/net files, read again from the start each time the application
// reads its own.
type Host struct {
	Network socket.Network
	procNet map[string]int
}

// procNetFiles are the host's /proc/net files the sandbox shows.
var procNetFiles = []string{
	"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "dev", "if_inet6", "route", "ipv6_route",
	"snmp", "snmp6", "netstat", "sockstat", "sockstat6", "igmp", "igmp6", "arp",
}

// ReadHost reads the network of the caller's network namespace (the
// host's, or the one the engine gave the sandbox).
func ReadHost() (*Host, error) {
	n, err := readNetwork()
	if err != nil {
		return nil, fmt.Errorf("reading the host's network: %w", err)
	}
	h := &Host{Network: n, procNet: make(map[string]int)}
	for _, name := range procNetFiles {
		fd, err := unix.Open("/proc/self/net/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // not built into this kernel (no IPv6, ...)
		}
		h.procNet[name] = fd
	}
	return h, nil
}

// readProcNet reads a whole /proc/net file from its start: a seq_file
// read at offset 0 generates it afresh.
func readProcNet(fd int) string {
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := unix.Pread(fd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		out.Write(buf[:n])
		off += int64(n)
	}
	return out.String()
}

// network is a fixed socket.Network.
type network struct {
	ifs    []socket.Interface
	routes []socket.Route
}

func (n *network) Interfaces() []socket.Interface { return n.ifs }
func (n *network) Routes() []socket.Route         { return n.routes }

// readNetwork dumps links, addresses and routes over rtnetlink.
func readNetwork() (*network, error) {
	links, err := dump(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	n := &network{}
	byIndex := map[int32]int{}
	for _, m := range links {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ifi := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		ifc := socket.Interface{Index: ifi.Index, Type: ifi.Type, Flags: ifi.Flags}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				ifc.Name = cString(a.Value)
			case unix.IFLA_MTU:
				ifc.MTU = u32(a.Value)
			case unix.IFLA_ADDRESS:
				ifc.HWAddr = bytes.Clone(a.Value)
			case unix.IFLA_BROADCAST:
				ifc.Broadcast = bytes.Clone(a.Value)
			case unix.IFLA_TXQLEN:
				ifc.TxQueueLen = u32(a.Value)
			case unix.IFLA_OPERSTATE:
				if len(a.Value) > 0 {
					ifc.OperState = a.Value[0]
				}
			case unix.IFLA_QDISC:
				ifc.Qdisc = cString(a.Value)
			}
		}
		byIndex[ifc.Index] = len(n.ifs)
		n.ifs = append(n.ifs, ifc)
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		addrs, err := dump(unix.RTM_GETADDR, fam)
		if err != nil {
			return nil, fmt.Errorf("addresses: %w", err)
		}
		for _, m := range addrs {
			if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
				continue
			}
			ifa := (*syscall.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
			i, ok := byIndex[int32(ifa.Index)]
			if !ok {
				continue
			}
			a := socket.InterfaceAddr{Family: int(ifa.Family), PrefixLen: ifa.Prefixlen, Flags: uint32(ifa.Flags), Scope: ifa.Scope}
			attrs, err := syscall.ParseNetlinkRouteAttr(&m)
			if err != nil {
				return nil, err
			}
			var address, local []byte
			for _, at := range attrs {
				switch at.Attr.Type {
				case unix.IFA_ADDRESS:
					address = bytes.Clone(at.Value)
				case unix.IFA_LOCAL:
					local = bytes.Clone(at.Value)
				case unix.IFA_BROADCAST:
					a.Broadcast = bytes.Clone(at.Value)
				case unix.IFA_LABEL:
					a.Label = cString(at.Value)
				case unix.IFA_FLAGS:
					a.Flags = u32(at.Value)
				case ifaProto:
					if len(at.Value) > 0 {
						a.Proto = at.Value[0]
					}
				}
			}
			// IFA_LOCAL is the interface's own address (IFA_ADDRESS
			// is the peer's on a point-to-point link).
			a.Addr = address
			if local != nil {
				a.Addr = local
			}
			n.ifs[i].Addrs = append(n.ifs[i].Addrs, a)
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := dump(unix.RTM_GETROUTE, fam)
		if err != nil {
			return nil, fmt.Errorf("routes: %w", err)
		}
		for _, m := range routes {
			if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
				continue
			}
			rtm := (*syscall.RtMsg)(unsafe.Pointer(&m.Data[0]))
			r := socket.Route{Family: int(rtm.Family), DstLen: rtm.Dst_len, Table: uint32(rtm.Table),
				Protocol: rtm.Protocol, Scope: rtm.Scope, Type: rtm.Type}
			attrs, err := syscall.ParseNetlinkRouteAttr(&m)
			if err != nil {
				return nil, err
			}
			for _, at := range attrs {
				switch at.Attr.Type {
				case unix.RTA_DST:
					r.Dst = bytes.Clone(at.Value)
				case unix.RTA_GATEWAY:
					r.Gateway = bytes.Clone(at.Value)
				case unix.RTA_PREFSRC:
					r.PrefSrc = bytes.Clone(at.Value)
				case unix.RTA_OIF:
					r.OutIndex = int32(u32(at.Value))
				case unix.RTA_TABLE:
					r.Table = u32(at.Value)
				case unix.RTA_PRIORITY:
					r.Priority, r.HasPriority = u32(at.Value), true
				case unix.RTA_PREF:
					if len(at.Value) > 0 {
						r.Pref, r.HasPref = at.Value[0], true
					}
				}
			}
			n.routes = append(n.routes, r)
		}
	}
	return n, nil
}

// ifaProto is IFA_PROTO, which golang.org/x/sys/unix lacks.
const ifaProto = 11

// dump makes one rtnetlink dump request (golang.org/x/sys/unix has no
// netlink message parser; the standard library's syscall package does).
func dump(typ, family int) ([]syscall.NetlinkMessage, error) {
	b, err := syscall.NetlinkRIB(typ, family)
	if err != nil {
		return nil, err
	}
	return syscall.ParseNetlinkMessage(b)
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}
