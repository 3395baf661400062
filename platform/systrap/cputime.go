package systrap

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
)

// CPU time of application threads.
//
// An application thread runs in its context's application stub thread,
// so the host CPU time of that thread is the application's user time
// (plus what the host kernel spends on its traps, and the stub handler's
// spinning while it waits for the Sentry, which the Sentry cannot tell
// apart). As on ptrace (platform/ptrace/cputime.go), the Sentry cannot
// read another thread group's thread CPU clock, so it reads the thread's
// /proc/<stub>/task/<tid>/schedstat (time on CPU) and, for preemptions,
// the nonvoluntary_ctxt_switches of its status file: the thread sleeps
// on its futex between traps, so its own timeslice count is mostly
// voluntary switches.
//
// Nothing is read on the syscall path: the figures are cumulative, so
// they are read when someone asks and once more before the thread is told
// to exit. An application thread serves one context only (a spare pair's
// was made for whichever context takes it, and dropPair ends it).

// cpuClock is the CPU accounting of one context.
type cpuClock struct {
	mu sync.Mutex
	// done is what the context's previous application threads used.
	done platform.CPUUsage
	// pid and tid are the current application thread (0 when there is
	// none), sched and status its files once opened (-1 before), base
	// what to subtract from its figures (zero, see attach) and last its
	// most recent reading (from base).
	pid, tid      int
	sched, status int
	base, last    platform.CPUUsage
	baseOK        bool
}

// attach starts accounting application thread tid of stub pid.
func (c *cpuClock) attach(pid, tid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tid != 0 {
		// The previous thread went without retire (its stub died):
		// it keeps its last reading.
		c.done.Time += c.last.Time
		c.done.Preemptions += c.last.Preemptions
	}
	c.closeLocked()
	c.pid, c.tid, c.sched, c.status = pid, tid, -1, -1
	// Nothing is read here, on the way to the first Switch: a context's
	// thread is fresh (a spare pair's has only run its bootstrap), so
	// its whole CPU time is the context's.
	c.base, c.last, c.baseOK = platform.CPUUsage{}, platform.CPUUsage{}, true
}

// retire takes a final reading of the current application thread, which
// must still be there, and adds it to done.
func (c *cpuClock) retire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tid == 0 {
		return
	}
	c.updateLocked()
	c.done.Time += c.last.Time
	c.done.Preemptions += c.last.Preemptions
	c.closeLocked()
	c.pid, c.tid = 0, 0
	c.last = platform.CPUUsage{}
}

func (c *cpuClock) closeLocked() {
	if c.tid != 0 {
		if c.sched >= 0 {
			unix.Close(c.sched)
		}
		if c.status >= 0 {
			unix.Close(c.status)
		}
	}
	c.sched, c.status = -1, -1
}

// usage returns the total so far.
func (c *cpuClock) usage() platform.CPUUsage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tid != 0 {
		c.updateLocked()
	}
	return platform.CPUUsage{Time: c.done.Time + c.last.Time, Preemptions: c.done.Preemptions + c.last.Preemptions}
}

// updateLocked updates last. Readings only go forward, so a failed or
// stale read keeps the previous one.
func (c *cpuClock) updateLocked() {
	u, ok := c.readLocked()
	if !ok {
		return
	}
	if !c.baseOK {
		// The first reading failed: count from the first that works.
		c.base, c.baseOK = u, true
	}
	if u.Time > c.base.Time && u.Time-c.base.Time > c.last.Time {
		c.last.Time = u.Time - c.base.Time
	}
	if u.Preemptions > c.base.Preemptions && u.Preemptions-c.base.Preemptions > c.last.Preemptions {
		c.last.Preemptions = u.Preemptions - c.base.Preemptions
	}
}

// readLocked reads the thread's figures since it started.
func (c *cpuClock) readLocked() (platform.CPUUsage, bool) {
	var u platform.CPUUsage
	var buf [2048]byte
	n := c.pread(&c.sched, "schedstat", buf[:])
	run, ok := parseSchedstat(buf[:n])
	if !ok {
		return u, false
	}
	u.Time = time.Duration(run)
	n = c.pread(&c.status, "status", buf[:])
	u.Preemptions, _ = parseNonvoluntary(buf[:n])
	return u, true
}

// pread reads the start of the thread's /proc file name through *fd,
// opening it first if need be. It returns how many bytes it read.
func (c *cpuClock) pread(fd *int, name string, buf []byte) int {
	if *fd < 0 {
		f, err := unix.Open(fmt.Sprintf("/proc/%d/task/%d/%s", c.pid, c.tid, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		*fd = f
	}
	n, err := unix.Pread(*fd, buf, 0)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// parseSchedstat parses the first field of a schedstat file: the time on
// CPU in ns.
func parseSchedstat(b []byte) (uint64, bool) {
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, false
	}
	run, err := strconv.ParseUint(string(f[0]), 10, 64)
	return run, err == nil
}

// parseNonvoluntary finds nonvoluntary_ctxt_switches in a status file.
func parseNonvoluntary(b []byte) (uint64, bool) {
	const key = "nonvoluntary_ctxt_switches:"
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(key):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
	return v, err == nil
}

// CPUUsage implements platform.CPUClock.
func (c *context) CPUUsage() platform.CPUUsage { return c.clock.usage() }

var _ platform.CPUClock = (*context)(nil)
