package systrap

import (
	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform/internal/cpubind"
)

// CPU binding of stub threads.
//
// An injection wakes the traced thread from its tracer and the tracer from
// the thread, and so does a futex hand-off between the Sentry and an
// application thread that sleeps. When the two run on different CPUs
// every wake-up is a cross-CPU IPI, which in a VM is several times dearer
// than the rest of the round trip (the ptrace platform measured ~130us
// against ~15us per system call). Since the two never run at the same
// time, a mapper thread is bound to the CPU of its tracer when an
// injection resumes it, and rebound when the tracer has moved; an
// application thread likewise while it does not spin (see spin.go).

// Special cpu values.
const (
	unbound    = cpubind.Unbound
	cpuUnknown = cpubind.Unknown
)

// currentCPU returns the CPU the calling thread runs on, without a system
// call where it can (see cpubind).
func currentCPU() int { return cpubind.Current() }

// bindCPU sets the affinity of thread tid to cpu, or to all of mask for
// unbound. Failures only cost performance, so they are ignored.
func bindCPU(tid, cpu int, mask *unix.CPUSet) { cpubind.Bind(tid, cpu, mask) }
