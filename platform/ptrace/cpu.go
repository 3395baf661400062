package ptrace

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform/internal/cpubind"
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
	unbound    = cpubind.Unbound
	cpuUnknown = cpubind.Unknown
)

// bindMaxRun is the run length above which a stub thread is unbound (a
// variable so tests can make the decision independent of timing).
var bindMaxRun = time.Millisecond

// currentCPU returns the CPU the calling thread runs on, without a system
// call where it can (see cpubind).
func currentCPU() int { return cpubind.Current() }

// bindCPU sets the affinity of thread tid to cpu, or to all of mask for
// unbound. Failures only cost performance, so they are ignored.
func bindCPU(tid, cpu int, mask *unix.CPUSet) { cpubind.Bind(tid, cpu, mask) }
