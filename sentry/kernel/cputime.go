package kernel

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/platform"
	"golang.org/x/sys/unix"
)

// CPU time and resource usage accounting (getrusage(2), times(2),
// clock_gettime(2) of the CPU-time clocks, /proc/PID/stat).
//
// A task's user time is the host CPU time of the platform thread that runs
// its application code (platform.CPUClock: for ptrace, the stub thread's).
// Its system time is the CPU time of the task goroutine's OS thread, to
// which the goroutine is locked for its whole life, so that thread does
// nothing but serve this task: its syscalls, faults and signal delivery,
// and the platform's ptrace requests for it. The Sentry reads another
// thread's clock with clock_gettime(MAKE_THREAD_CPUCLOCK(tid,
// CPUCLOCK_SCHED)), which Linux allows within a thread group (the Sentry's
// own). Both figures are cumulative, so nothing is sampled on the syscall
// path: they are read when asked for and once at exit.
//
// Locking: Task.acct.mu protects a task's figures; ThreadGroup.acct.mu the
// process's totals of exited threads; ThreadGroup.acct.children is under
// k.mu (it changes when a child is reaped). Lock order: k.mu, then
// ThreadGroup.acct.mu, then Task.acct.mu; the platform's and the host's
// clocks are read under the last two only.

// Usage is the resource usage of a thread or a process: the struct rusage
// figures the Sentry keeps.
type Usage struct {
	User, Sys time.Duration
	// MaxRSS is the peak resident set in bytes.
	MaxRSS int64
	// MinFlt and MajFlt count page faults without and with I/O.
	MinFlt, MajFlt uint64
	// NVCSw and NIVCSw count voluntary (blocking) and involuntary
	// (preemption) context switches.
	NVCSw, NIVCSw uint64
}

// CPU returns user plus system time.
func (u Usage) CPU() time.Duration { return u.User + u.Sys }

// Add accumulates o into u (times and counts add, the peak RSS is the
// larger), as Linux sums a thread group's threads or a process's children.
func (u *Usage) Add(o Usage) {
	u.User += o.User
	u.Sys += o.Sys
	u.MaxRSS = max(u.MaxRSS, o.MaxRSS)
	u.MinFlt += o.MinFlt
	u.MajFlt += o.MajFlt
	u.NVCSw += o.NVCSw
	u.NIVCSw += o.NIVCSw
}

// taskAcct is a task's accounting state.
type taskAcct struct {
	// Counted by the task itself.
	minFlt atomic.Uint64
	nvcsw  atomic.Uint64

	mu sync.Mutex
	// clock is the task's platform context (nil before the task runs
	// or if the platform cannot tell), osTID the goroutine's OS thread
	// while it runs and sysBase that thread's CPU clock when the task
	// started on it.
	clock   platform.CPUClock
	osTID   int
	sysBase time.Duration
	// final is set when the task has exited.
	final *Usage
	// counted: final has been added to the thread group's dead (under
	// the thread group's acct.mu).
	counted bool
}

// tgAcct is a thread group's accounting state.
type tgAcct struct {
	mu sync.Mutex
	// dead is what exited threads used; maxRSS the peak of the address
	// spaces the process had before (execve) and of exited threads'.
	dead   Usage
	maxRSS int64

	// children is what the waited-for children used, with their own
	// children's (RUSAGE_CHILDREN, cutime/cstime); under k.mu.
	children Usage
}

// threadCPUClock returns the CPU time of OS thread tid of the Sentry.
func threadCPUClock(tid int) (time.Duration, bool) {
	// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): include/linux/posix-timers_types.h.
	id := int32(^uint32(tid)<<3) | cpuclockSched | cpuclockPerthread
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// CPU clock id encoding (include/linux/posix-timers_types.h): a negative
// clockid_t holds ~pid << 3, a per-thread bit and which clock.
const (
	cpuclockProf      = 0 // user + system time
	cpuclockVirt      = 1 // user time
	cpuclockSched     = 2 // all CPU time (sum_exec_runtime)
	cpuclockMax       = 3
	cpuclockPerthread = 4
	cpuclockWhichMask = 3
)

// startAccounting runs on the task goroutine's locked OS thread once the
// task has its platform context.
func (t *Task) startAccounting(ctx platform.Context) {
	a := &t.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clock, _ = ctx.(platform.CPUClock)
	a.osTID = unix.Gettid()
	a.sysBase, _ = threadCPUClock(a.osTID)
}

// finishAccounting takes the final figures of an exiting task, on its own
// goroutine after its platform context is released, and adds them to its
// process.
func (t *Task) finishAccounting() {
	u := t.Usage()
	a := &t.acct
	a.mu.Lock()
	a.final = &u
	a.osTID = 0
	a.mu.Unlock()
	ta := &t.tg.acct
	ta.mu.Lock()
	ta.dead.Add(u)
	a.mu.Lock()
	a.counted = true
	a.mu.Unlock()
	ta.mu.Unlock()
}

// Usage returns what t has used so far (RUSAGE_THREAD). MaxRSS is only
// that of address spaces t no longer has: the current one's is
// MemoryManager().MaxResidentBytes(), which only t itself may read (execve
// replaces it).
func (t *Task) Usage() Usage {
	a := &t.acct
	a.mu.Lock()
	if a.final != nil {
		u := *a.final
		a.mu.Unlock()
		return u
	}
	var u Usage
	if a.clock != nil {
		c := a.clock.CPUUsage()
		u.User, u.NIVCSw = c.Time, c.Preemptions
	}
	if a.osTID != 0 {
		if now, ok := threadCPUClock(a.osTID); ok && now > a.sysBase {
			u.Sys = now - a.sysBase
		}
	}
	a.mu.Unlock()
	u.MinFlt = a.minFlt.Load()
	u.NVCSw = a.nvcsw.Load()
	return u
}

// OwnUsage is Usage for t's own system calls, with the peak resident set
// of its current address space (getrusage(2) RUSAGE_THREAD and, with
// self, the process's RUSAGE_SELF).
func (t *Task) OwnUsage(process bool) Usage {
	u := t.Usage()
	if process {
		u = t.tg.Usage()
	}
	if t.mm != nil {
		u.MaxRSS = max(u.MaxRSS, t.mm.MaxResidentBytes())
	}
	return u
}

// exitedAcct reports whether t has exited (its figures are final).
func (t *Task) exitedAcct() bool {
	t.acct.mu.Lock()
	defer t.acct.mu.Unlock()
	return t.acct.final != nil
}

// CPUTime returns t's user and system time (/proc/PID/task/TID/stat).
func (t *Task) CPUTime() (user, sys time.Duration) {
	u := t.Usage()
	return u.User, u.Sys
}

// countFault records a page fault the Sentry resolved for t.
func (t *Task) countFault() { t.acct.minFlt.Add(1) }

// countBlock records that t went to sleep in the Sentry (a voluntary
// context switch).
func (t *Task) countBlock() { t.acct.nvcsw.Add(1) }

// Usage returns what the process's threads, live and exited, have used
// (RUSAGE_SELF; MaxRSS without the current address space, see Task.Usage).
func (tg *ThreadGroup) Usage() Usage {
	k := tg.k
	k.mu.Lock()
	tasks := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		tasks = append(tasks, t)
	}
	k.mu.Unlock()
	ta := &tg.acct
	ta.mu.Lock()
	defer ta.mu.Unlock()
	u := ta.dead
	u.MaxRSS = max(u.MaxRSS, ta.maxRSS)
	for _, t := range tasks {
		t.acct.mu.Lock()
		counted := t.acct.counted
		t.acct.mu.Unlock()
		if !counted {
			u.Add(t.Usage())
		}
	}
	return u
}

// CPUTime returns the process's user and system time (/proc/PID/stat).
func (tg *ThreadGroup) CPUTime() (user, sys time.Duration) {
	u := tg.Usage()
	return u.User, u.Sys
}

// ChildrenUsage returns what the process's waited-for children and their
// own waited-for descendants used (RUSAGE_CHILDREN).
func (tg *ThreadGroup) ChildrenUsage() Usage {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.acct.children
}

// ChildrenCPUTime returns the user and system time of the waited-for
// children (cutime and cstime of /proc/PID/stat, tms_cutime and
// tms_cstime of times(2)).
func (tg *ThreadGroup) ChildrenCPUTime() (user, sys time.Duration) {
	u := tg.ChildrenUsage()
	return u.User, u.Sys
}

// zombieUsageLocked returns what a zombie process and its waited-for
// children used (wait4's rusage, RUSAGE_BOTH in Linux), with k.mu held.
// Every thread of a zombie has added its final figures to dead before
// the process became a zombie (under k.mu), so they are final.
func (tg *ThreadGroup) zombieUsageLocked() Usage {
	u := tg.zombieSelfUsageLocked()
	u.Add(tg.acct.children)
	return u
}

// zombieSelfUsageLocked is zombieUsageLocked without the children.
func (tg *ThreadGroup) zombieSelfUsageLocked() Usage {
	ta := &tg.acct
	ta.mu.Lock()
	defer ta.mu.Unlock()
	u := ta.dead
	u.MaxRSS = max(u.MaxRSS, ta.maxRSS)
	return u
}

// ClockTicks converts d to clock ticks (USER_HZ, 100 per second), the
// unit of times(2), /proc/PID/stat and siginfo's si_utime.
func ClockTicks(d time.Duration) int64 { return int64(d / (time.Second / 100)) }

// recordMaxRSS keeps the peak resident set of an address space the process
// is leaving (execve, exit of a thread).
func (tg *ThreadGroup) recordMaxRSS(rss int64) {
	ta := &tg.acct
	ta.mu.Lock()
	ta.maxRSS = max(ta.maxRSS, rss)
	ta.mu.Unlock()
}

// withUsage fills in the usage of a stopped or continued child, which
// waitOnce cannot read under k.mu (a zombie's is there already).
func (r *WaitResult) withUsage() *WaitResult {
	if r != nil && r.tg != nil {
		r.Usage = r.tg.Usage()
		r.Usage.Add(r.tg.ChildrenUsage())
	}
	return r
}
