package boot

import (
	"fmt"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/socket/hostinet"
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
