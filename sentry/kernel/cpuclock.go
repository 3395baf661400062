package kernel

import (
	"time"

	"golang.org/x/sys/unix"
)

// CPUClock is a CPU-time clock (clock_gettime(2)): CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID, or a clock of another thread or process made by
// clock_getcpuclockid(3) or pthread_getcpuclockid(3).
type CPUClock struct {
	// Exactly one of TG (a process clock) and Task (a thread clock) is
	// set.
	TG   *ThreadGroup
	Task *Task
	// Which is CPUCLOCK_PROF (user + system), CPUCLOCK_VIRT (user) or
	// CPUCLOCK_SCHED (all CPU time; the same here as PROF).
	Which int
}

// IsCPUClock reports whether id names a CPU-time clock (valid or not).
func IsCPUClock(id int32) bool {
	return id < 0 || id == unix.CLOCK_PROCESS_CPUTIME_ID || id == unix.CLOCK_THREAD_CPUTIME_ID
}

// LookupCPUClock resolves CPU clock id for t as Linux's
// posix-cpu-timers.c does (lookup_task): pid 0 is the caller, a thread
// clock must name a thread of the caller's process, a process clock a
// process (by its pid; the caller's own tid also works for reading). It
// fails with EINVAL otherwise, which glibc's clock_getcpuclockid turns
// into ESRCH.
func (t *Task) LookupCPUClock(id int32, forTimer bool) (CPUClock, error) {
	switch id {
	case unix.CLOCK_PROCESS_CPUTIME_ID:
		id = makeCPUClock(0, cpuclockSched, false)
	case unix.CLOCK_THREAD_CPUTIME_ID:
		id = makeCPUClock(0, cpuclockSched, true)
	}
	if id >= 0 {
		return CPUClock{}, unix.EINVAL
	}
	which := int(id & cpuclockWhichMask)
	if which >= cpuclockMax {
		return CPUClock{}, unix.EINVAL
	}
	pid := ThreadID(^(id >> 3))
	k := t.k
	if id&cpuclockPerthread != 0 {
		if pid == 0 {
			return CPUClock{Task: t, Which: which}, nil
		}
		k.mu.Lock()
		o := t.tg.pidns.taskLocked(pid) // pid is in t's pid namespace
		// A thread that is exiting is gone for its clock: it has woken
		// its joiner (CLONE_CHILD_CLEARTID) before it leaves the task
		// table, and Linux has unhashed it by the time the joiner runs.
		gone := o == nil || o.tg != t.tg || o.exiting
		k.mu.Unlock()
		if gone {
			return CPUClock{}, unix.EINVAL
		}
		return CPUClock{Task: o, Which: which}, nil
	}
	if pid == 0 || (!forTimer && pid == t.TID()) {
		return CPUClock{TG: t.tg, Which: which}, nil
	}
	tg := t.tg.pidns.ThreadGroupWithID(pid)
	if tg == nil {
		return CPUClock{}, unix.EINVAL
	}
	return CPUClock{TG: tg, Which: which}, nil
}

// makeCPUClock is MAKE_PROCESS_CPUCLOCK / MAKE_THREAD_CPUCLOCK.
func makeCPUClock(pid ThreadID, which int32, thread bool) int32 {
	id := int32(^uint32(pid)<<3) | which
	if thread {
		id |= cpuclockPerthread
	}
	return id
}

// process returns the process whose CPU time the clock measures.
func (c CPUClock) process() *ThreadGroup {
	if c.Task != nil {
		return c.Task.tg
	}
	return c.TG
}

// Threads returns how many threads run on the clock: the most CPU time it
// can gain per second.
func (c CPUClock) Threads() int {
	if c.Task != nil {
		return 1
	}
	return max(1, len(c.TG.TaskIDs()))
}

// Now reads the clock.
func (c CPUClock) Now() time.Duration {
	var u Usage
	if c.Task != nil {
		u = c.Task.Usage()
	} else {
		u = c.TG.Usage()
	}
	if c.Which == cpuclockVirt {
		return u.User
	}
	return u.User + u.Sys
}

// Resolution is what clock_getres reports: 1 ns for the scheduler clock,
// one tick (HZ 250) for the sampled ones, as posix_cpu_clock_getres does.
func (c CPUClock) Resolution() time.Duration {
	if c.Which == cpuclockSched {
		return 1
	}
	return time.Second / 250
}
