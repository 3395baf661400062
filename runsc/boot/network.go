package boot

import "fmt"

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
