package seccomp

import "golang.org/x/sys/unix"

// hostSocketType is the type every host socket of --network=host is made
// with (sentry/socket/hostinet): non-blocking, close-on-exec.
const hostSocketType = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// hostNetworkRules are what --network=host adds to the Sentry's filter:
// the Sentry serves the application's IP sockets with host sockets
// (sentry/socket/hostinet), so it must create them and make the socket
// calls on them. Only TCP, UDP and ICMP ping sockets of AF_INET and
// AF_INET6 can be created (never raw, packet, netlink or other families'
// sockets, and never SCTP or MPTCP under SOCK_STREAM); the calls on
// descriptors cannot be told apart by the filter from those on the
// Sentry's own unix sockets, so they are allowed on any. setsockopt is
// limited to the levels hostinet passes options of (it checks each
// option against its allowlist). Already allowed for every mode:
// accept4, getsockopt, getsockname, getpeername, sendmsg, recvmsg,
// shutdown and ioctl FIONREAD (TIOCINQ).
func hostNetworkRules() []Rule {
	var sockets []Cond
	for _, fam := range []uint32{unix.AF_INET, unix.AF_INET6} {
		icmp := uint32(unix.IPPROTO_ICMP)
		if fam == unix.AF_INET6 {
			icmp = unix.IPPROTO_ICMPV6
		}
		for _, p := range []uint32{0, unix.IPPROTO_TCP} {
			sockets = append(sockets, Cond{Eq32(0, fam), Eq32(1, unix.SOCK_STREAM|hostSocketType), Eq32(2, p)})
		}
		for _, p := range []uint32{0, unix.IPPROTO_UDP, icmp} {
			sockets = append(sockets, Cond{Eq32(0, fam), Eq32(1, unix.SOCK_DGRAM|hostSocketType), Eq32(2, p)})
		}
	}
	return []Rule{
		{Nr: unix.SYS_SOCKET, If: sockets},
		{Nr: unix.SYS_BIND},
		{Nr: unix.SYS_CONNECT},
		{Nr: unix.SYS_LISTEN},
		{Nr: unix.SYS_SETSOCKOPT, If: OneOf32(1, unix.SOL_SOCKET, unix.IPPROTO_IP, unix.IPPROTO_IPV6, unix.IPPROTO_TCP, unix.IPPROTO_UDP)},
		// SIOCOUTQ of a host socket (SIOCINQ is TIOCINQ, allowed above).
		{Nr: unix.SYS_IOCTL, If: OneOf32(1, unix.SIOCOUTQ)},
	}
}

// HostNetworkSentryFilter is the Sentry's filter under --network=host:
// SentryFilter and hostNetworkRules.
func HostNetworkSentryFilter() Filter {
	f := SentryFilter()
	f.Name = "sentry (--network=host)"
	f.Rules = append(f.Rules, hostNetworkRules()...)
	return f
}
