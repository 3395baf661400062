package signalfd

import (
	"encoding/binary"
	"testing"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

func u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// TestMarshal checks the struct signalfd_siginfo fields of each siginfo
// layout (signalfd_copyinfo).
func TestMarshal(t *testing.T) {
	b := make([]byte, SiginfoSize)

	kill := &arch.SignalInfo{Signo: int32(unix.SIGUSR1), Code: 0}
	kill.SetPID(12)
	kill.SetUID(1000)
	Marshal(kill, b)
	if u32(b, 0) != uint32(unix.SIGUSR1) || u32(b, 8) != 0 || u32(b, 12) != 12 || u32(b, 16) != 1000 {
		t.Errorf("kill: % x", b[:24])
	}

	timer := &arch.SignalInfo{Signo: 34, Code: siTimer}
	timer.SetTimerID(3)
	timer.SetOverrun(5)
	timer.SetValue(77)
	Marshal(timer, b)
	if int32(u32(b, 8)) != siTimer || u32(b, 24) != 3 || u32(b, 32) != 5 || u64(b, 48) != 77 || u32(b, 44) != 77 {
		t.Errorf("timer: % x", b[:56])
	}

	chld := &arch.SignalInfo{Signo: int32(unix.SIGCHLD), Code: 1 /* CLD_EXITED */}
	chld.SetPID(9)
	chld.SetStatus(4)
	chld.SetUtime(30)
	chld.SetStime(2)
	Marshal(chld, b)
	if u32(b, 12) != 9 || u32(b, 40) != 4 || u64(b, 56) != 30 || u64(b, 64) != 2 {
		t.Errorf("SIGCHLD: % x", b[:72])
	}

	fault := &arch.SignalInfo{Signo: int32(unix.SIGSEGV), Code: 1}
	fault.SetAddr(0xdead000)
	Marshal(fault, b)
	if u64(b, 72) != 0xdead000 || u32(b, 12) != 0 {
		t.Errorf("SIGSEGV: % x", b[:88])
	}

	queued := &arch.SignalInfo{Signo: 34, Code: -1 /* SI_QUEUE */}
	queued.SetPID(5)
	queued.SetValue(99)
	Marshal(queued, b)
	if u32(b, 12) != 5 || u32(b, 44) != 99 || u64(b, 48) != 99 {
		t.Errorf("sigqueue: % x", b[:56])
	}
}
