// Package cpubind finds the CPU a thread runs on and binds stub threads to
// CPUs, for the platforms' CPU binding of the threads they wake (see the
// ptrace platform's cpu.go for why).
package cpubind

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Special CPU values.
const (
	Unbound = -1 // not bound to one CPU
	Unknown = -2 // binding unknown (e.g. inherited at clone)
)

func segmentCPU() (v uint32, ok bool)

// lslWorks says whether the per-CPU segment gives the CPU here; checked
// once against getcpu(2).
var lslWorks = func() bool {
	v, ok := segmentCPU()
	return ok && int(v&0xfff) == getcpu()
}()

// Current returns the CPU the calling thread runs on. It reads the limit
// of the per-CPU segment, as the vDSO's getcpu does, which costs no system
// call (a system call is several hundred ns in a VM); getcpu(2) where that
// does not work.
func Current() int {
	if lslWorks {
		if v, ok := segmentCPU(); ok {
			return int(v & 0xfff)
		}
	}
	return getcpu()
}

func getcpu() int {
	var cpu uint32
	_, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	if e != 0 {
		return Unbound
	}
	return int(cpu)
}

// Bind sets the affinity of thread tid to cpu, or to all of mask for
// Unbound. Failures only cost performance, so they are ignored.
func Bind(tid, cpu int, mask *unix.CPUSet) {
	if cpu == Unbound {
		unix.SchedSetaffinity(tid, mask)
		return
	}
	var s unix.CPUSet
	s.Set(cpu)
	unix.SchedSetaffinity(tid, &s)
}
