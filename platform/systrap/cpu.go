package systrap

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CPU binding of stub threads.
//
// A ptrace round trip wakes the tracee from the tracer and the tracer from
// the tracee. When the two run on different CPUs every wake-up is a
// cross-CPU IPI, which in a VM is several times dearer than the rest of the
// round trip (measured here: ~130us vs ~15us per syscall). Since tracer and
// tracee never run at the same time, a stub thread is bound to the CPU its
// tracer is on when it is resumed, and rebound when the tracer has moved.
//
// Binding would serialise compute-bound application threads whose tracers
// happen to share a CPU, so a stub thread whose last run was long (where
// the wake-up cost is noise anyway) is let loose on all CPUs instead.

// Special cpu values.
const (
	unbound    = -1 // not bound to one CPU
	cpuUnknown = -2 // binding unknown (e.g. inherited at clone)
)

// bindMaxRun is the run length above which a stub thread is unbound (a
// variable so tests can make the decision independent of timing).
var bindMaxRun = time.Millisecond

// currentCPU returns the CPU the calling thread runs on (getcpu(2); about
// 0.2us, no ptrace request).
func currentCPU() int {
	var cpu uint32
	_, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	if e != 0 {
		return unbound
	}
	return int(cpu)
}

// bindCPU sets the affinity of thread tid to cpu, or to all of mask for
// unbound. Failures only cost performance, so they are ignored.
func bindCPU(tid, cpu int, mask *unix.CPUSet) {
	if cpu == unbound {
		unix.SchedSetaffinity(tid, mask)
		return
	}
	var s unix.CPUSet
	s.Set(cpu)
	unix.SchedSetaffinity(tid, &s)
}
