package ptrace

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
)

// CPU time of application threads.
//
// An application thread runs in its context's stub thread, so the CPU time
// the host gives that stub thread is the application's user time (plus
// what the host kernel spends taking its traps, which the Sentry cannot
// tell apart). The Sentry cannot read it with clock_gettime: a thread CPU
// clock (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)) only works within the
// caller's own thread group (kernel/time/posix-cpu-timers.c lookup_task
// gives EINVAL otherwise, as measured), and the stub's process clock sums
// all its threads. /proc/<stub>/task/<tid>/schedstat has the thread's
// sum_exec_runtime in nanoseconds (proc(5)), for ~1.5us per pread here.
//
// Nothing is read on the syscall path: the figure is cumulative, so it is
// read only when someone asks (getrusage, a CPU clock, a CPU timer tick)
// and once more before the stub thread goes (the thread is then still
// unreaped, so its /proc entry exists). A thread that dies unexpectedly
// keeps its last reading.

// cpuClock is the CPU accounting of one context.
type cpuClock struct {
	// resumes counts the times the current stub thread was resumed by
	// its tracer (each SYSEMU of Switch, each injection on it): the host
	// schedules the thread in once for each, and any more is preemption.
	// Only the owning goroutine adds to it.
	resumes atomic.Uint64

	mu sync.Mutex
	// done is what the context's previous stub threads used.
	done platform.CPUUsage
	// pid and tid are the current stub thread (0 when there is none),
	// fd its schedstat file once opened (-1 before), and last its most
	// recent reading.
	pid, tid int
	fd       int
	last     platform.CPUUsage
}

// attach starts accounting stub thread tid of stub pid.
func (c *cpuClock) attach(pid, tid int) {
	c.mu.Lock()
	c.pid, c.tid, c.fd = pid, tid, -1
	c.last = platform.CPUUsage{}
	c.resumes.Store(0)
	c.mu.Unlock()
}

// retire takes a final reading of the current stub thread (if reaped can
// still be read: only through an already open file, since its tid may be
// reused) and adds it to done.
func (c *cpuClock) retire(reaped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tid == 0 {
		return
	}
	if !reaped || c.fd >= 0 {
		c.readLocked()
	}
	c.done.Time += c.last.Time
	c.done.Preemptions += c.last.Preemptions
	if c.fd >= 0 {
		unix.Close(c.fd)
	}
	c.pid, c.tid, c.fd = 0, 0, -1
	c.last = platform.CPUUsage{}
}

// usage returns the total so far.
func (c *cpuClock) usage() platform.CPUUsage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tid != 0 {
		c.readLocked()
	}
	return platform.CPUUsage{Time: c.done.Time + c.last.Time, Preemptions: c.done.Preemptions + c.last.Preemptions}
}

// readLocked updates last from the stub thread's schedstat. Readings only
// go forward, so a failed or stale read keeps the previous one.
func (c *cpuClock) readLocked() {
	if c.fd < 0 {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/task/%d/schedstat", c.pid, c.tid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		c.fd = fd
	}
	var buf [96]byte
	n, err := unix.Pread(c.fd, buf[:], 0)
	if err != nil || n <= 0 {
		return
	}
	run, slices, ok := parseSchedstat(string(buf[:n]))
	if !ok {
		return
	}
	if d := time.Duration(run); d > c.last.Time {
		c.last.Time = d
	}
	if r := c.resumes.Load(); slices > r && slices-r > c.last.Preemptions {
		c.last.Preemptions = slices - r
	}
}

// parseSchedstat parses /proc/PID/task/TID/schedstat: "time on CPU (ns),
// time waiting to run (ns), number of timeslices run".
func parseSchedstat(s string) (run, slices uint64, ok bool) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return 0, 0, false
	}
	run, err1 := strconv.ParseUint(f[0], 10, 64)
	slices, err2 := strconv.ParseUint(f[2], 10, 64)
	return run, slices, err1 == nil && err2 == nil
}

// CPUUsage implements platform.CPUClock.
func (c *context) CPUUsage() platform.CPUUsage { return c.clock.usage() }

var _ platform.CPUClock = (*context)(nil)
