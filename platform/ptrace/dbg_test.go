package ptrace

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func BenchmarkDbgNoCldStop(b *testing.B) {
	type sigact struct {
		handler  uintptr
		flags    uint64
		restorer uintptr
		mask     uint64
	}
	var old sigact
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	nw := old
	nw.flags |= 1 // SA_NOCLDSTOP
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&nw)), 0, 8, 0, 0)
	defer unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	BenchmarkSyscallRoundTrip(b)
}
