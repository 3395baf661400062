package kernel

// Scheduling attributes of tasks (sched(7)): policy, real-time priority,
// nice value, SCHED_DEADLINE parameters and CPU affinity. The Sentry's
// threads are scheduled by the Go runtime and the host, so these change
// no scheduling; they are remembered per thread and checked as Linux
// checks them, so that programs and tools (nice, renice, chrt, taskset)
// see what they set.

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Scheduling policies (sched(7)); x/sys/unix lacks them.
const (
	SchedOther    = 0
	SchedFIFO     = 1
	SchedRR       = 2
	SchedBatch    = 3
	SchedIdle     = 5
	SchedDeadline = 6

	// SchedResetOnFork is or'ed into a policy.
	SchedResetOnFork = 0x40000000
)

// sched_attr.sched_flags (include/uapi/linux/sched.h).
const (
	SchedFlagResetOnFork  = 0x01
	SchedFlagReclaim      = 0x02
	SchedFlagDLOverrun    = 0x04
	SchedFlagKeepPolicy   = 0x08
	SchedFlagKeepParams   = 0x10
	SchedFlagUtilClampMin = 0x20
	SchedFlagUtilClampMax = 0x40
	schedFlagAll          = 0x7f
)

// schedState is one task's scheduling attributes, protected by k.mu.
type schedState struct {
	policy      int
	priority    int // sched_priority: 1..99 for SCHED_FIFO and SCHED_RR
	nice        int // -20..19
	resetOnFork bool
	// SCHED_DEADLINE parameters (ns) and sched_flags to report.
	runtime, deadline, period uint64
	dlFlags                   uint64
	utilMin, utilMax          uint32
	// affinity is the CPU mask, nil for all the sandbox's CPUs.
	affinity []uint64
	// mempolicy is set_mempolicy(2)'s mode and flags (inherited by
	// fork, as Linux's task mempolicy).
	mempolicy int
}

// forkCopy is a child's copy: SCHED_RESET_ON_FORK resets real-time and
// deadline policies to SCHED_OTHER and a negative nice to 0, and is not
// inherited (sched(7) "Resetting scheduling policy for child processes").
func (s schedState) forkCopy() schedState {
	c := s
	c.affinity = append([]uint64(nil), s.affinity...)
	if s.resetOnFork {
		if s.policy == SchedFIFO || s.policy == SchedRR || s.policy == SchedDeadline {
			c.policy, c.priority = SchedOther, 0
			c.runtime, c.deadline, c.period, c.dlFlags = 0, 0, 0, 0
		}
		if c.nice < 0 {
			c.nice = 0
		}
		c.resetOnFork = false
	}
	return c
}

// NumCPUs is how many CPUs the sandbox has: those the Sentry may run on.
func NumCPUs() int { return runtime.NumCPU() }

// allCPUs is the mask of every CPU of the sandbox.
func allCPUs() []uint64 {
	n := NumCPUs()
	m := make([]uint64, (n+63)/64)
	for i := 0; i < n; i++ {
		m[i/64] |= 1 << (i % 64)
	}
	return m
}

// SchedParams is what sched_getattr(2) reports of a task.
type SchedParams struct {
	Policy      int
	Priority    int
	Nice        int
	ResetOnFork bool
	Flags       uint64
	Runtime     uint64
	Deadline    uint64
	Period      uint64
	UtilMin     uint32
	UtilMax     uint32
}

// SchedParams returns t's scheduling attributes.
func (t *Task) SchedParams() SchedParams {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	s := &t.sched
	p := SchedParams{Policy: s.policy, Priority: s.priority, Nice: s.nice, ResetOnFork: s.resetOnFork,
		Runtime: s.runtime, Deadline: s.deadline, Period: s.period, UtilMin: s.utilMin, UtilMax: s.utilMax}
	p.Flags = s.dlFlags
	if s.resetOnFork {
		p.Flags |= SchedFlagResetOnFork
	}
	if p.UtilMax == 0 && p.UtilMin == 0 {
		p.UtilMax = 1024 // SCHED_CAPACITY_SCALE: no clamp
	}
	return p
}

// Nice returns t's nice value (-20..19), as /proc/PID/stat's nice field
// shows it.
func (t *Task) Nice() int {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.sched.nice
}

// SchedPolicy returns t's policy and real-time priority (/proc/PID/stat
// fields policy and rt_priority).
func (t *Task) SchedPolicy() (policy, rtPriority int) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.sched.policy, t.sched.priority
}

// StatPriority is /proc/PID/stat's priority field (task_prio): 20+nice
// for normal policies, -1-priority for real-time ones, -101 for
// SCHED_DEADLINE.
func (t *Task) StatPriority() int {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	switch t.sched.policy {
	case SchedFIFO, SchedRR:
		return -1 - t.sched.priority
	case SchedDeadline:
		return -101
	}
	return 20 + t.sched.nice
}

// sameOwner is Linux's check_same_owner: the caller's effective uid is
// the target's real or effective uid.
func (t *Task) sameOwner(target *Task) bool {
	if t == target {
		return true
	}
	c, tc := t.Credentials(), target.Credentials()
	return c.EUID == tc.UID || c.EUID == tc.EUID
}

// maySchedule is the right to change another thread's nice value or CPU
// affinity (set_one_prio, sched_setaffinity): the same owner, or
// CAP_SYS_NICE in the target's user namespace.
func (t *Task) maySchedule(target *Task) bool {
	return t.sameOwner(target) || t.Credentials().HasCapabilityIn(unix.CAP_SYS_NICE, target.UserNamespace())
}

// canNice is Linux's can_nice: nice may be set to n if RLIMIT_NICE
// allows it (20-n <= limit) or with CAP_SYS_NICE.
func (t *Task) canNice(target *Task, n int) bool {
	if t.HasCapability(unix.CAP_SYS_NICE) {
		return true
	}
	l, err := target.tg.limits.Get(unix.RLIMIT_NICE)
	return err == nil && uint64(20-n) <= l.Cur
}

// canRT is __sched_setscheduler's RLIMIT_RTPRIO rule without
// CAP_SYS_NICE: a real-time policy other than the current one needs a
// non-zero limit, and a higher priority than the current one must be
// within it.
func (t *Task) canRT(target *Task, cur SchedParams, policy, prio int) bool {
	l, err := target.tg.limits.Get(unix.RLIMIT_RTPRIO)
	if err != nil {
		return false
	}
	if policy != cur.Policy && l.Cur == 0 {
		return false
	}
	return prio <= cur.Priority || uint64(prio) <= l.Cur
}

// SchedAttr is a requested change of scheduling attributes
// (sched_setattr(2); sched_setscheduler(2) and sched_setparam(2) are
// special cases of it).
type SchedAttr struct {
	Policy   int
	Flags    uint64
	Nice     int
	Priority int
	Runtime  uint64
	Deadline uint64
	Period   uint64
	UtilMin  uint32
	UtilMax  uint32
	// SetNice: the nice value changes too (sched_setattr for a normal
	// policy); sched_setscheduler leaves it.
	SetNice bool
}

// schedDLPeriodMin and schedDLPeriodMax are the kernel.sched_deadline_period_*
// defaults (100 us and 4 s).
const (
	schedDLPeriodMin = 100_000
	schedDLPeriodMax = 4_000_000_000
)

// SetSchedAttr changes target's scheduling attributes, checking them as
// Linux's __sched_setscheduler does: EINVAL for a bad policy, priority or
// deadline parameters, EPERM without the right to change them.
func (t *Task) SetSchedAttr(target *Task, a SchedAttr) error {
	if a.Flags&^schedFlagAll != 0 {
		return unix.EINVAL
	}
	cur := target.SchedParams()
	if a.Flags&SchedFlagKeepPolicy != 0 {
		a.Policy = cur.Policy
	}
	if a.Flags&SchedFlagKeepParams != 0 {
		a.Priority, a.Runtime, a.Deadline, a.Period = cur.Priority, cur.Runtime, cur.Deadline, cur.Period
		a.SetNice = false
	}
	switch a.Policy {
	case SchedOther, SchedBatch, SchedIdle:
		if a.Priority != 0 {
			return unix.EINVAL
		}
	case SchedFIFO, SchedRR:
		if a.Priority < 1 || a.Priority > 99 {
			return unix.EINVAL
		}
	case SchedDeadline:
		if a.Priority != 0 || !validDeadline(a.Runtime, a.Deadline, a.Period) {
			return unix.EINVAL
		}
	default:
		return unix.EINVAL
	}
	if a.SetNice {
		a.Nice = max(-20, min(19, a.Nice))
	}
	reset := a.Flags&SchedFlagResetOnFork != 0
	if !t.HasCapability(unix.CAP_SYS_NICE) {
		switch {
		case a.SetNice && a.Nice < cur.Nice && !t.canNice(target, a.Nice):
			return unix.EPERM
		case (a.Policy == SchedFIFO || a.Policy == SchedRR) && !t.canRT(target, cur, a.Policy, a.Priority):
			return unix.EPERM
		case a.Policy == SchedDeadline:
			return unix.EPERM
		case cur.Policy == SchedIdle && a.Policy != SchedIdle && !t.canNice(target, cur.Nice):
			return unix.EPERM
		case !t.sameOwner(target):
			return unix.EPERM
		case cur.ResetOnFork && !reset:
			return unix.EPERM
		}
	}
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	s := &target.sched
	s.policy, s.priority, s.resetOnFork = a.Policy, a.Priority, reset
	if a.SetNice {
		s.nice = a.Nice
	}
	if a.Policy == SchedDeadline {
		s.runtime, s.deadline, s.period = a.Runtime, a.Deadline, a.Period
		s.dlFlags = a.Flags & (SchedFlagReclaim | SchedFlagDLOverrun)
	} else {
		s.runtime, s.deadline, s.period, s.dlFlags = 0, 0, 0, 0
	}
	if a.Flags&SchedFlagUtilClampMin != 0 {
		s.utilMin = a.UtilMin
	}
	if a.Flags&SchedFlagUtilClampMax != 0 {
		s.utilMax = a.UtilMax
	}
	return nil
}

// validDeadline is Linux's __checkparam_dl.
func validDeadline(runtime, deadline, period uint64) bool {
	if deadline == 0 || runtime < 1<<10 || deadline&(1<<63) != 0 || period&(1<<63) != 0 {
		return false
	}
	if period == 0 {
		period = deadline
	}
	return period >= deadline && deadline >= runtime && period >= schedDLPeriodMin && period <= schedDLPeriodMax
}

// SetNice sets target's nice value for setpriority(2) (clamped to
// -20..19): EPERM without the right to change target, EACCES for a lower
// value than it has without CAP_SYS_NICE or RLIMIT_NICE (set_one_prio).
func (t *Task) SetNice(target *Task, n int) error {
	n = max(-20, min(19, n))
	if !t.maySchedule(target) {
		return unix.EPERM
	}
	k := t.k
	k.mu.Lock()
	cur := target.sched.nice
	k.mu.Unlock()
	if n < cur && !t.canNice(target, n) {
		return unix.EACCES
	}
	k.mu.Lock()
	target.sched.nice = n
	k.mu.Unlock()
	return nil
}

// PriorityTargets returns the threads setpriority(2) and getpriority(2)
// act on, named as t's pid and user namespaces see them: PRIO_PROCESS
// who is a thread (0: t), PRIO_PGRP every thread of a process group (0:
// t's), PRIO_USER every thread t's pid namespace can see whose real uid
// is who (0: t's real uid). EINVAL for another which; none found is
// ESRCH.
func (t *Task) PriorityTargets(which, who int) ([]*Task, error) {
	k := t.k
	var out []*Task
	switch which {
	case unix.PRIO_PROCESS:
		if who == 0 {
			return []*Task{t}, nil
		}
		if tt, err := t.LookupTask(ThreadID(who)); err == nil {
			out = append(out, tt)
		}
	case unix.PRIO_PGRP:
		k.mu.Lock()
		pg := t.tg.pidns.kernelIDLocked(ThreadID(who))
		if who == 0 {
			pg = t.tg.pgid
		}
		for _, tg := range k.tgs {
			if tg.pgid == pg {
				for tt := range tg.tasks {
					out = append(out, tt)
				}
			}
		}
		k.mu.Unlock()
	case unix.PRIO_USER:
		uid, ok := t.UserNamespace().MapUID(uint32(who))
		if who == 0 {
			uid, ok = t.Credentials().UID, true
		}
		if !ok {
			return nil, unix.ESRCH
		}
		k.mu.Lock()
		ns := t.tg.pidns
		for _, tt := range k.tasks {
			if tt.Credentials().UID == uid && ns.taskIDLocked(tt) != 0 {
				out = append(out, tt)
			}
		}
		k.mu.Unlock()
	default:
		return nil, unix.EINVAL
	}
	if len(out) == 0 {
		return nil, unix.ESRCH
	}
	return out, nil
}

// Affinity returns t's CPU mask (sched_getaffinity(2)) as 64-bit words.
func (t *Task) Affinity() []uint64 {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.sched.affinity == nil {
		return allCPUs()
	}
	return append([]uint64(nil), t.sched.affinity...)
}

// SetAffinity implements sched_setaffinity(2): the mask is limited to the
// sandbox's CPUs; none of them left is EINVAL; changing another user's
// thread needs CAP_SYS_NICE (EPERM).
func (t *Task) SetAffinity(target *Task, mask []uint64) error {
	if !t.maySchedule(target) {
		return unix.EPERM
	}
	all := allCPUs()
	m := make([]uint64, len(all))
	any := false
	for i := range all {
		if i < len(mask) {
			m[i] = mask[i] & all[i]
		}
		any = any || m[i] != 0
	}
	if !any {
		return unix.EINVAL
	}
	t.k.mu.Lock()
	target.sched.affinity = m
	t.k.mu.Unlock()
	return nil
}

// CPU returns the CPU getcpu(2) reports for t: the first one its affinity
// allows (the Sentry does not say where the host runs it).
func (t *Task) CPU() int {
	for i, w := range t.Affinity() {
		for b := 0; b < 64; b++ {
			if w&(1<<b) != 0 {
				return i*64 + b
			}
		}
	}
	return 0
}

// Mempolicy returns set_mempolicy(2)'s mode (with its flags) of t.
func (t *Task) Mempolicy() int {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.sched.mempolicy
}

// SetMempolicy remembers t's memory policy mode: the Sentry has one
// memory node, so no policy changes where memory comes from.
func (t *Task) SetMempolicy(mode int) {
	t.k.mu.Lock()
	t.sched.mempolicy = mode
	t.k.mu.Unlock()
}
