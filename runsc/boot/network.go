package boot

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/socket/hostinet"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Network modes, as --network takes them (gVisor's names).
const (
	// NetworkSandbox gives the Sentry's own TCP/IP stack the interfaces
	// of the container's network namespace: the host kernel moves only
	// packets and never terminates the container's connections.
	NetworkSandbox = "sandbox"
	// NetworkHost serves the application's IP sockets with host sockets
	// the Sentry opens for it: faster, weaker isolation.
	NetworkHost = "host"
	// NetworkNone gives the sandbox only its loopback interface.
	NetworkNone = "none"
)

// CheckNetwork says whether name is a network mode ("" is the command's
// default).
func CheckNetwork(name string) error {
	switch name {
	case "", NetworkSandbox, NetworkHost, NetworkNone:
		return nil
	}
	return fmt.Errorf("invalid --network %q (want sandbox, host or none)", name)
}

// attachInterfaces makes each interface runsc handed over (NetworkSandbox)
// a NIC of the sandbox's initial network namespace, served through its
// packet socket.
func attachInterfaces(ns *netstack.Netstack, ifs []NetInterface, files []*os.File) error {
	if len(ifs) == 0 {
		return nil
	}
	if len(files) != len(ifs) {
		return fmt.Errorf("network: %d packet sockets for %d interfaces", len(files), len(ifs))
	}
	if ns == nil {
		return fmt.Errorf("network: the sandbox has no TCP/IP stack")
	}
	for i, ifc := range ifs {
		mac, err := net.ParseMAC(ifc.MAC)
		if err != nil {
			return fmt.Errorf("network: interface %s: %w", ifc.Name, err)
		}
		l := netstack.HostLink{
			FD: int(files[i].Fd()), Packet: true, Name: ifc.Name, GSO: ifc.GSO,
			MAC: tcpip.LinkAddress(mac), MTU: ifc.MTU, Addrs: ifc.Addrs,
		}
		for _, r := range ifc.Routes {
			l.Routes = append(l.Routes, netstack.HostRoute{Dst: r.Dst, Gateway: r.Gateway})
		}
		if _, err := ns.AttachHostLink(l); err != nil {
			return fmt.Errorf("network: %w", err)
		}
		linkFiles.Lock()
		linkFiles.held = append(linkFiles.held, files[i])
		linkFiles.Unlock()
	}
	return nil
}

// linkFiles holds the packet sockets of attached NICs for the life of
// the Sentry: an unreachable *os.File would close its descriptor under
// the link endpoint when collected.
var linkFiles struct {
	sync.Mutex
	held []*os.File
}

// setupNetwork gives the sandbox's initial socket stack what its network
// mode serves: under NetworkHost, host sockets for AF_INET and AF_INET6
// and the host network hostNet the Sentry read at start.
func setupNetwork(st *socket.Stack, mode string, hostNet *hostinet.Host) error {
	switch mode {
	case NetworkHost:
		if hostNet == nil {
			return fmt.Errorf("--network=host: the host's network was not read at start")
		}
		hostinet.Install(st, hostNet)
	}
	return nil
}

// applyNetSysctls gives the initial namespace's stack the values of the
// per-namespace network sysctls config.json sets (runsc checked their
// syntax): docker sets ip_unprivileged_port_start to 0, so that a
// non-root server may listen on port 80.
func applyNetSysctls(ns *netstack.Netstack, sysctls map[string]string) error {
	if v, ok := sysctls["net.ipv4.ip_unprivileged_port_start"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("linux.sysctl: net.ipv4.ip_unprivileged_port_start=%q: %w", v, err)
		}
		ns.UnprivilegedPortStart = n
	}
	if v, ok := sysctls["net.ipv4.ping_group_range"]; ok {
		f := strings.Fields(v)
		var r [2]uint32
		for i := range r {
			if len(f) != 2 {
				return fmt.Errorf("linux.sysctl: net.ipv4.ping_group_range=%q: want two group ids", v)
			}
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return fmt.Errorf("linux.sysctl: net.ipv4.ping_group_range=%q: %w", v, err)
			}
			r[i] = uint32(n)
		}
		ns.PingGroups = r
	}
	return nil
}
