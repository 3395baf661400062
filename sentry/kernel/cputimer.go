package kernel

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/ktime"
	"golang.org/x/sys/unix"
)

// CPU-time timers: ITIMER_VIRTUAL and ITIMER_PROF (setitimer(2)),
// RLIMIT_CPU (setrlimit(2): SIGXCPU at the soft limit and every second
// after, SIGKILL at the hard limit) and POSIX timers on CPU clocks.
//
// CPU time cannot be waited for, so, like Linux's tick, the kernel checks
// the processes that have such a timer or limit: one goroutine runs while
// there are any, and sleeps between checks for the shortest CPU time left
// to an expiry divided by the process's threads (the soonest it can be
// due), but at least minCPUTick and at most maxCPUTick. Checking a process
// reads its threads' CPU clocks (a few microseconds each); with no CPU
// timer anywhere nothing runs.

const (
	minCPUTick = time.Millisecond
	maxCPUTick = 100 * time.Millisecond
)

// cpuTimers are a process's CPU-time interval timers, under k.mu, and gen
// counts the changes that may need the tick.
type cpuTimers struct {
	virt, prof ktime.Setting
	gen        uint64
}

// ITimerCPU returns the interval and time left of ITIMER_PROF (prof) or
// ITIMER_VIRTUAL.
func (tg *ThreadGroup) ITimerCPU(prof bool) (interval, value time.Duration) {
	now := tg.itimerClock(prof)
	tg.k.mu.Lock()
	s := tg.cpuTimers.virt
	if prof {
		s = tg.cpuTimers.prof
	}
	tg.k.mu.Unlock()
	value, interval = s.Remaining(now)
	return interval, value
}

// SetITimerCPU arms (value > 0) or disarms ITIMER_PROF (prof) or
// ITIMER_VIRTUAL and returns the old setting. Expiry sends SIGPROF or
// SIGVTALRM to the process when its CPU time (user time for
// ITIMER_VIRTUAL) has grown by value, then every interval.
func (tg *ThreadGroup) SetITimerCPU(prof bool, interval, value time.Duration) (oldInterval, oldValue time.Duration) {
	now := tg.itimerClock(prof)
	k := tg.k
	k.mu.Lock()
	p := &tg.cpuTimers.virt
	if prof {
		p = &tg.cpuTimers.prof
	}
	old := *p
	*p = ktime.Relative(now, value, interval)
	k.mu.Unlock()
	k.cpuTimersChanged(tg)
	oldValue, oldInterval = old.Remaining(now)
	return oldInterval, oldValue
}

func (tg *ThreadGroup) itimerClock(prof bool) time.Duration {
	u := tg.Usage()
	if prof {
		return u.CPU()
	}
	return u.User
}

// cpuTimersChanged makes the tick check tg: a CPU timer or limit of it may
// have been armed. The tick forgets processes with nothing armed.
func (k *Kernel) cpuTimersChanged(tg *ThreadGroup) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if tg.zombie {
		return
	}
	tg.cpuTimers.gen++
	if k.cpuTimed == nil {
		k.cpuTimed = make(map[*ThreadGroup]struct{})
		k.cpuKick = make(chan struct{}, 1)
	}
	k.cpuTimed[tg] = struct{}{}
	if !k.cpuTicking {
		k.cpuTicking = true
		go k.cpuTick()
		return
	}
	select {
	case k.cpuKick <- struct{}{}:
	default:
	}
}

// cpuTick is the CPU timer goroutine.
func (k *Kernel) cpuTick() {
	tm := time.NewTimer(0)
	defer tm.Stop()
	for {
		k.mu.Lock()
		if len(k.cpuTimed) == 0 {
			k.cpuTicking = false
			k.mu.Unlock()
			return
		}
		type entry struct {
			tg  *ThreadGroup
			gen uint64
		}
		var tgs []entry
		for tg := range k.cpuTimed {
			tgs = append(tgs, entry{tg, tg.cpuTimers.gen})
		}
		k.mu.Unlock()
		wait := maxCPUTick
		for _, e := range tgs {
			w, armed := e.tg.checkCPUTimers()
			if !armed {
				k.mu.Lock()
				if e.tg.cpuTimers.gen == e.gen {
					delete(k.cpuTimed, e.tg)
				}
				k.mu.Unlock()
				continue
			}
			wait = min(wait, w)
		}
		tm.Reset(max(wait, minCPUTick))
		select {
		case <-tm.C:
		case <-k.cpuKick:
			if !tm.Stop() {
				<-tm.C
			}
		}
	}
}

// checkCPUTimers serves tg's CPU timers and limits that are due. It
// returns how long the tick may sleep before tg needs another check and
// whether anything is armed at all.
func (tg *ThreadGroup) checkCPUTimers() (time.Duration, bool) {
	k := tg.k
	u := tg.Usage()
	left := time.Duration(-1) // CPU time to the soonest expiry
	soonest := func(d time.Duration) {
		if d >= 0 && (left < 0 || d < left) {
			left = d
		}
	}
	k.mu.Lock()
	if tg.zombie || len(tg.tasks) == 0 {
		k.mu.Unlock()
		return 0, false
	}
	threads := len(tg.tasks)
	for _, it := range []struct {
		s   *ktime.Setting
		now time.Duration
		sig unix.Signal
	}{
		{&tg.cpuTimers.virt, u.User, unix.SIGVTALRM},
		{&tg.cpuTimers.prof, u.CPU(), unix.SIGPROF},
	} {
		s, n := it.s.Advance(it.now)
		*it.s = s
		if n > 0 {
			// One signal however late the check (kernel/time/posix-cpu-
			// timers.c check_cpu_itimer).
			k.sendLocked(tg, nil, kernelSignal(it.sig))
		}
		if s.Enabled {
			soonest(s.Next - it.now)
		}
	}
	soonest(tg.checkCPULimitLocked(u.CPU()))
	pts := k.cpuTimersOnLocked(tg)
	k.mu.Unlock()
	for _, pt := range pts {
		now := u.CPU()
		switch {
		case pt.cpu.Task != nil && pt.cpu.Task.exitedAcct():
			continue // a dead thread's clock stops: nothing more is due
		case pt.cpu.Task != nil:
			now = pt.cpu.Now()
		case pt.cpu.Which == cpuclockVirt:
			now = u.User
		}
		soonest(pt.checkCPU(now))
	}
	if left < 0 {
		return 0, false
	}
	return min(left/time.Duration(threads), maxCPUTick), true
}

// checkCPULimitLocked enforces RLIMIT_CPU on a process that has used cpu
// and returns the CPU time left to the next action (-1 for none), as
// Linux's check_process_timers does: SIGKILL at the hard limit, SIGXCPU at
// the soft limit, which then moves one second up (getrlimit shows it).
func (tg *ThreadGroup) checkCPULimitLocked(cpu time.Duration) time.Duration {
	l, _ := tg.limits.Get(unix.RLIMIT_CPU)
	if l.Cur == Infinity {
		return -1
	}
	seconds := func(v uint64) time.Duration {
		return time.Duration(min(v, 1<<33)) * time.Second
	}
	if l.Max != Infinity && cpu >= seconds(l.Max) {
		tg.k.sendLocked(tg, nil, kernelSignal(unix.SIGKILL))
		return -1
	}
	soft := seconds(l.Cur)
	if cpu >= soft {
		tg.k.sendLocked(tg, nil, kernelSignal(unix.SIGXCPU))
		tg.limits.raiseSoft(unix.RLIMIT_CPU, l.Cur+1)
		soft += time.Second
	}
	left := soft - cpu
	if l.Max != Infinity {
		left = min(left, seconds(l.Max)-cpu)
	}
	return max(left, 0)
}

// cpuTimersOnLocked returns the POSIX timers, of any process, on a CPU
// clock of tg or of one of its threads (a process may time another with
// clock_getcpuclockid).
func (k *Kernel) cpuTimersOnLocked(tg *ThreadGroup) []*PosixTimer {
	var out []*PosixTimer
	for _, o := range k.tgs {
		for _, pt := range o.timers {
			if pt.cpu != nil && pt.cpu.process() == tg {
				out = append(out, pt)
			}
		}
	}
	return out
}

// kernelSignal is the siginfo of a signal the kernel sends a process
// (SEND_SIG_PRIV: SI_KERNEL).
func kernelSignal(sig unix.Signal) *arch.SignalInfo {
	return &arch.SignalInfo{Signo: int32(sig), Code: arch.SI_KERNEL}
}
