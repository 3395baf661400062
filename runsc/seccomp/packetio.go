package seccomp

import "golang.org/x/sys/unix"

// SentryOptions say which optional duties widen the Sentry's filter.
type SentryOptions struct {
	// PacketIO: the Sentry moves frames on packet sockets runsc opened
	// for it (--network=sandbox with interfaces to serve).
	PacketIO bool
	// HostNetwork: the Sentry serves the application's IP sockets with
	// host sockets (--network=host, HostNetworkSentryFilter).
	HostNetwork bool
}

// SentryFilterFor is the Sentry's filter, widened as o says.
func SentryFilterFor(o SentryOptions) Filter {
	f := SentryFilter()
	if o.HostNetwork {
		f = HostNetworkSentryFilter()
	}
	if o.PacketIO {
		f.Rules = append(f.Rules, packetIORules()...)
	}
	return f
}

// packetIORules are the calls gVisor's fdbased link endpoint makes on
// the packet sockets (sentry/netstack HostLink) besides read, write,
// ppoll, fstat, fcntl and eventfd2, which the Sentry has anyway: frames
// are received and sent in batches, always without blocking (the
// endpoint waits in ppoll). The sockets are already bound: no socket,
// bind or setsockopt is needed, so none of those is allowed, and the
// Sentry still cannot open a host socket of any kind.
func packetIORules() []Rule {
	return []Rule{
		{Nr: unix.SYS_RECVMMSG, If: []Cond{{Eq32(3, unix.MSG_DONTWAIT)}}},
		{Nr: unix.SYS_SENDMMSG, If: []Cond{{Eq32(3, unix.MSG_DONTWAIT)}}},
		// One frame goes out with writev (no more than write, which the
		// Sentry has for any descriptor).
		{Nr: unix.SYS_WRITEV},
	}
}
