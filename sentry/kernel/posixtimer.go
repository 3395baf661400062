package kernel

import (
	"math"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/ktime"
	"golang.org/x/sys/unix"
)

// POSIX per-process timers (timer_create(2), timer_settime(2),
// timer_gettime(2), timer_getoverrun(2), timer_delete(2)).
//
// A timer on a host clock (realtime, monotonic, boottime) is a
// ktime.Timer; one on a CPU-time clock is checked by the CPU timer tick
// (cputimer.go). At expiry a timer queues one signal (SI_TIMER, si_timerid,
// si_value); further expiries while that signal is pending are overruns,
// which its delivery reports in si_overrun and timer_getoverrun. As Linux
// does since 6.13 (posixtimer_deliver_signal), a signal queued before the
// timer was re-armed or deleted is dropped when it would be delivered.

// SigevNotify values (include/uapi/asm-generic/siginfo.h).
const (
	SigevSignal   = 0
	SigevNone     = 1
	SigevThread   = 2 // glibc's SIGEV_THREAD: to the kernel, SIGEV_SIGNAL
	SigevThreadID = 4
)

// siTimer is SI_TIMER, the si_code of a POSIX timer's signal.
const siTimer = -2

// maxTimers bounds the timers of one process (Linux bounds them by
// memory; this keeps a runaway program from exhausting the Sentry's).
const maxTimers = 1 << 16

// TimerEvent is a struct sigevent: how a timer notifies its expiry.
type TimerEvent struct {
	Notify int32
	Signo  unix.Signal
	Value  uint64
	// ThreadID is the thread signalled with SigevThreadID.
	ThreadID ThreadID
}

// PosixTimer is one timer of a process.
type PosixTimer struct {
	tg     *ThreadGroup
	id     int32
	notify int32
	signo  unix.Signal
	value  uint64
	target *Task // SigevThreadID; else nil (the process)

	// Exactly one of host and cpu is set.
	host *ktime.Timer
	cpu  *CPUClock
	// cpuSet is the setting of a CPU-clock timer (under mu).
	mu     sync.Mutex
	cpuSet ktime.Setting

	// Signal state, under k.mu: queued is the signal queued and not
	// yet delivered, overrun the expiries since it was queued (after the
	// first), overrunLast timer_getoverrun's answer.
	queued      *arch.SignalInfo
	overrun     uint64
	overrunLast int32
	deleted     bool
}

// CreateTimer implements timer_create(2) on clock (a clock id already
// validated by the caller: a host clock or a CPU clock).
func (t *Task) CreateTimer(clock int32, ev *TimerEvent) (int32, error) {
	k := t.k
	pt := &PosixTimer{tg: t.tg}
	idValue := ev == nil
	if ev == nil {
		// No sigevent: SIGEV_SIGNAL with SIGALRM and the timer id as
		// value (timer_create(2)).
		ev = &TimerEvent{Notify: SigevSignal, Signo: unix.SIGALRM}
	}
	switch ev.Notify {
	case SigevSignal, SigevThread, SigevThreadID:
		if ev.Signo <= 0 || ev.Signo > numSignals {
			return 0, unix.EINVAL
		}
	case SigevNone:
	default:
		return 0, unix.EINVAL
	}
	pt.notify, pt.signo, pt.value = ev.Notify, ev.Signo, ev.Value
	if ev.Notify == SigevThreadID {
		o := t.tg.pidns.TaskWithID(ev.ThreadID) // in the caller's pid namespace
		if o == nil || o.tg != t.tg {
			return 0, unix.EINVAL
		}
		pt.target = o
	}
	if IsCPUClock(clock) {
		c, err := t.LookupCPUClock(clock, true)
		if err != nil {
			return 0, err
		}
		pt.cpu = &c
	} else {
		hc, ok := ktime.HostClockOf(clock)
		if !ok {
			return 0, unix.EINVAL
		}
		pt.host = ktime.NewTimer(hc, pt.expire)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if tg.timers == nil {
		tg.timers = make(map[int32]*PosixTimer)
	}
	if len(tg.timers) >= maxTimers {
		return 0, unix.EAGAIN
	}
	// Ids are allocated in sequence from 0 per process, as Linux does.
	for {
		id := tg.nextTimerID
		tg.nextTimerID = (tg.nextTimerID + 1) & math.MaxInt32
		if _, used := tg.timers[id]; !used {
			pt.id = id
			if idValue {
				pt.value = uint64(id)
			}
			break
		}
	}
	tg.timers[pt.id] = pt
	return pt.id, nil
}

// Timer returns timer id of t's process (EINVAL if there is none).
func (t *Task) Timer(id int32) (*PosixTimer, error) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if pt := t.tg.timers[id]; pt != nil {
		return pt, nil
	}
	return nil, unix.EINVAL
}

// DeleteTimer implements timer_delete(2).
func (t *Task) DeleteTimer(id int32) error {
	k := t.k
	k.mu.Lock()
	pt := t.tg.timers[id]
	if pt == nil {
		k.mu.Unlock()
		return unix.EINVAL
	}
	delete(t.tg.timers, id)
	pt.deleted = true
	pt.queued = nil
	k.mu.Unlock()
	pt.stop()
	return nil
}

// stop disarms pt for good.
func (pt *PosixTimer) stop() {
	if pt.host != nil {
		pt.host.Stop()
		return
	}
	pt.mu.Lock()
	pt.cpuSet = ktime.Setting{}
	pt.mu.Unlock()
}

// deleteTimersLocked deletes every timer of tg (execve, exit) and returns
// them, to be stopped by the caller without k.mu.
func (tg *ThreadGroup) deleteTimersLocked() []*PosixTimer {
	var out []*PosixTimer
	for id, pt := range tg.timers {
		delete(tg.timers, id)
		pt.deleted = true
		pt.queued = nil
		out = append(out, pt)
	}
	return out
}

// releaseTimersLocked deletes the timers of a process that exits, and
// forgets the signals they had queued (they die with the process).
func (tg *ThreadGroup) releaseTimersLocked() {
	for info, pt := range tg.k.timerSignals {
		if pt.tg == tg {
			delete(tg.k.timerSignals, info)
		}
	}
	if pts := tg.deleteTimersLocked(); len(pts) > 0 {
		// Stopping takes the timers' locks, which come before k.mu.
		go func() {
			for _, pt := range pts {
				pt.stop()
			}
		}()
	}
}

// DeleteAllTimers deletes every timer of the process (execve).
func (tg *ThreadGroup) DeleteAllTimers() {
	tg.k.mu.Lock()
	pts := tg.deleteTimersLocked()
	tg.k.mu.Unlock()
	for _, pt := range pts {
		pt.stop()
	}
}

// Set implements timer_settime(2): value and interval as given (value
// absolute on the timer's clock if abs, 0 disarms). It returns the
// previous value (time left) and interval.
func (pt *PosixTimer) Set(value, interval time.Duration, abs bool) (oldValue, oldInterval time.Duration) {
	// Re-arming drops the signal of the previous arming if it is still
	// pending, and its overruns; this happens under the timer's lock, so
	// no expiry of the old arming can come in between.
	k := pt.tg.k
	deleted := false
	rearm := func() {
		k.mu.Lock()
		pt.queued = nil
		pt.overrun = 0
		deleted = pt.deleted // by another thread, meanwhile
		k.mu.Unlock()
	}
	if pt.host != nil {
		s := ktime.Setting{}
		if abs {
			s = ktime.Absolute(value, interval)
		} else {
			s = ktime.Relative(pt.host.Clock().Now(), value, interval)
		}
		old, now := pt.host.Set(s, rearm)
		if deleted {
			pt.host.Stop()
		}
		return old.Remaining(now)
	}
	now := pt.cpu.Now()
	s := ktime.Absolute(value, interval)
	if !abs {
		s = ktime.Relative(now, value, interval)
	}
	pt.mu.Lock()
	old, _ := pt.cpuSet.Advance(now)
	rearm()
	if !deleted {
		pt.cpuSet = s
	}
	pt.mu.Unlock()
	k.cpuTimersChanged(pt.cpu.process())
	if s.Enabled && s.Next <= now {
		pt.checkCPU(now)
	}
	return old.Remaining(now)
}

// Get implements timer_gettime(2).
func (pt *PosixTimer) Get() (value, interval time.Duration) {
	if pt.host != nil {
		s, now := pt.host.Get()
		return s.Remaining(now)
	}
	now := pt.cpu.Now()
	pt.mu.Lock()
	s, _ := pt.cpuSet.Advance(now)
	pt.mu.Unlock()
	return s.Remaining(now)
}

// Overrun implements timer_getoverrun(2): the overruns reported with the
// last signal delivered.
func (pt *PosixTimer) Overrun() int32 {
	pt.tg.k.mu.Lock()
	defer pt.tg.k.mu.Unlock()
	return pt.overrunLast
}

// checkCPU serves the expiries of a CPU-clock timer due at now (the CPU
// timer tick) and returns how much CPU time is left until the next one
// (-1 if disarmed).
func (pt *PosixTimer) checkCPU(now time.Duration) time.Duration {
	pt.mu.Lock()
	s, n := pt.cpuSet.Advance(now)
	pt.cpuSet = s
	if n > 0 {
		pt.expire(n)
	}
	pt.mu.Unlock()
	if !s.Enabled {
		return -1
	}
	return s.Next - now
}

// cpuArmed reports whether a CPU-clock timer is armed.
func (pt *PosixTimer) cpuArmed() bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.cpuSet.Enabled
}

// expire notifies n expiries: one signal, or overruns if the last one is
// still pending.
func (pt *PosixTimer) expire(n uint64) {
	if pt.notify == SigevNone {
		return
	}
	k := pt.tg.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if pt.deleted {
		return
	}
	if pt.queued != nil && pt.stillQueuedLocked() {
		pt.overrun += n
		return
	}
	if pt.queued != nil {
		delete(k.timerSignals, pt.queued) // dropped unseen (ignored)
	}
	target := pt.target
	if _, live := pt.tg.tasks[target]; target != nil && (target.exiting || !live) {
		// The thread is gone: Linux's send_sigqueue finds no task.
		pt.queued = nil
		return
	}
	info := &arch.SignalInfo{Signo: int32(pt.signo), Code: siTimer}
	info.SetTimerID(pt.id)
	info.SetValue(pt.value)
	pt.queued = info
	pt.overrun = n - 1
	if k.timerSignals == nil {
		k.timerSignals = make(map[*arch.SignalInfo]*PosixTimer)
	}
	k.timerSignals[info] = pt
	k.sendLocked(pt.tg, target, info)
}

// stillQueuedLocked reports whether pt's last signal is still in a
// pending queue (it may have been discarded: ignored, or never queued).
func (pt *PosixTimer) stillQueuedLocked() bool {
	q := &pt.tg.pending
	if pt.target != nil {
		q = &pt.target.pending
	}
	for _, info := range q.infos[pt.signo] {
		if info == pt.queued {
			return true
		}
	}
	return false
}

// dequeuedLocked is called for every signal taken from a pending queue to
// be delivered or read. For a timer's signal it fills in si_overrun and
// reports whether the signal is stale (its timer re-armed or deleted
// since) and must be dropped.
func (k *Kernel) dequeuedLocked(info *arch.SignalInfo) (drop bool) {
	if info.Code != siTimer || len(k.timerSignals) == 0 {
		return false
	}
	pt, ok := k.timerSignals[info]
	if !ok {
		return false // sent with sigqueue(3), not by a timer
	}
	delete(k.timerSignals, info)
	if pt.deleted || pt.queued != info {
		return true
	}
	pt.overrunLast = int32(min(pt.overrun, math.MaxInt32))
	info.SetOverrun(pt.overrunLast)
	pt.overrun = 0
	pt.queued = nil
	return false
}

// dequeueLocked takes the lowest pending signal in mask, thread-directed
// first, skipping stale timer signals.
func (t *Task) dequeueLocked(mask uint64) *arch.SignalInfo {
	for {
		info := t.pending.dequeue(mask)
		if info == nil {
			info = t.tg.pending.dequeue(mask)
		}
		if info == nil || !t.k.dequeuedLocked(info) {
			return info
		}
	}
}
