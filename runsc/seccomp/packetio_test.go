package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The packet I/O rules exist only in a Sentry that serves interfaces,
// and only for non-blocking batches.
func TestSentryPacketIORules(t *testing.T) {
	plain, err := SentryFilter().Assemble()
	if err != nil {
		t.Fatal(err)
	}
	packet, err := SentryFilterFor(SentryOptions{PacketIO: true}).Assemble()
	if err != nil {
		t.Fatal(err)
	}
	call := func(nr uint32, args ...uint64) seccompData {
		d := seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64}
		copy(d.args[:], args)
		return d
	}
	for _, c := range []struct {
		name          string
		d             seccompData
		plain, packet uint32
	}{
		{"recvmmsg MSG_DONTWAIT", call(unix.SYS_RECVMMSG, 5, 0, 8, unix.MSG_DONTWAIT), DefaultAction, unix.SECCOMP_RET_ALLOW},
		{"recvmmsg blocking", call(unix.SYS_RECVMMSG, 5, 0, 8, 0), DefaultAction, DefaultAction},
		{"sendmmsg MSG_DONTWAIT", call(unix.SYS_SENDMMSG, 5, 0, 8, unix.MSG_DONTWAIT), DefaultAction, unix.SECCOMP_RET_ALLOW},
		{"sendmmsg blocking", call(unix.SYS_SENDMMSG, 5, 0, 8, 0), DefaultAction, DefaultAction},
		{"writev", call(unix.SYS_WRITEV, 5, 0, 1), DefaultAction, unix.SECCOMP_RET_ALLOW},
		{"socket AF_PACKET", call(unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_RAW, 0), DefaultAction, DefaultAction},
		{"bind", call(unix.SYS_BIND, 5, 0, 0), DefaultAction, DefaultAction},
	} {
		if got := run(t, plain, c.d); got != c.plain {
			t.Errorf("%s without packet I/O: action %#x, want %#x", c.name, got, c.plain)
		}
		if got := run(t, packet, c.d); got != c.packet {
			t.Errorf("%s with packet I/O: action %#x, want %#x", c.name, got, c.packet)
		}
	}
}
