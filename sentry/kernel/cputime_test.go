package kernel

import (
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

// setUser sets the user time the fake platform reports for t.
func setUser(h *harness, t *Task, d time.Duration) {
	h.k.mu.Lock()
	c := t.ctx.(*fakeContext)
	h.k.mu.Unlock()
	c.user.Store(int64(d))
}

// ctxReady waits for t's goroutine to have its platform context.
func ctxReady(h *harness, t *Task) {
	h.eventually("task has a context", func() bool {
		h.k.mu.Lock()
		defer h.k.mu.Unlock()
		return t.ctx != nil
	})
}

func TestUsageOfThreadsAndChildren(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	ctxReady(h, it)
	setUser(h, it, 300*time.Millisecond)
	if u := it.Usage(); u.User != 300*time.Millisecond || u.Sys < 0 {
		t.Fatalf("task usage %+v, want 300ms user", u)
	}
	th := h.newThread(it)
	ctxReady(h, th)
	setUser(h, th, 100*time.Millisecond)
	if u := it.ThreadGroup().Usage(); u.User != 400*time.Millisecond {
		t.Fatalf("process usage %+v, want 400ms user", u)
	}
	// An exited thread's time stays with the process.
	h.do(th, func(t *Task) { t.Exit(0) })
	h.gone(th.tid)
	if u := it.ThreadGroup().Usage(); u.User != 400*time.Millisecond {
		t.Fatalf("process usage after a thread exited %+v, want 400ms user", u)
	}
	if u, s := it.ThreadGroup().CPUTime(); u != 400*time.Millisecond || s < 0 {
		t.Fatalf("CPUTime = %v, %v", u, s)
	}

	// A child's time goes to RUSAGE_CHILDREN once it is waited for.
	h.do(it, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGCHLD)) }) // keep it pending
	c := h.fork(it)
	ctxReady(h, c)
	setUser(h, c, 200*time.Millisecond)
	if u := it.ThreadGroup().ChildrenUsage(); u.User != 0 {
		t.Fatalf("children usage before the wait: %+v", u)
	}
	h.do(c, func(t *Task) { t.ExitGroup(0) })
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r == nil {
		t.Fatalf("wait: %v, %v", r, err)
	}
	if r.Usage.User != 200*time.Millisecond {
		t.Errorf("wait4 rusage %+v, want 200ms user", r.Usage)
	}
	if u := it.ThreadGroup().ChildrenUsage(); u.User != 200*time.Millisecond {
		t.Errorf("children usage %+v, want 200ms user", u)
	}
	if cu, _ := it.ThreadGroup().ChildrenCPUTime(); cu != 200*time.Millisecond {
		t.Errorf("ChildrenCPUTime = %v", cu)
	}
	// SIGCHLD carried the child's time in ticks.
	info := it.DequeueSignal(SigBit(unix.SIGCHLD))
	if info == nil || info.Utime() != 20 {
		t.Errorf("SIGCHLD %+v, want si_utime 20 ticks", info)
	}
}

func TestCPUClocks(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	ctxReady(h, it)
	setUser(h, it, 250*time.Millisecond)
	for _, tc := range []struct {
		id   int32
		want time.Duration // of user time; the clock also has system time
		err  error
	}{
		{unix.CLOCK_PROCESS_CPUTIME_ID, 250 * time.Millisecond, nil},
		{unix.CLOCK_THREAD_CPUTIME_ID, 250 * time.Millisecond, nil},
		{makeCPUClock(1, cpuclockSched, false), 250 * time.Millisecond, nil},
		{makeCPUClock(1, cpuclockVirt, true), 250 * time.Millisecond, nil},
		{makeCPUClock(0, 3, false), 0, unix.EINVAL}, // no such clock kind
		{makeCPUClock(99, cpuclockSched, false), 0, unix.EINVAL},
		{makeCPUClock(99, cpuclockSched, true), 0, unix.EINVAL},
		{unix.CLOCK_MONOTONIC, 0, unix.EINVAL},
	} {
		var c CPUClock
		var err error
		h.do(it, func(t *Task) { c, err = t.LookupCPUClock(tc.id, false) })
		if err != tc.err {
			t.Errorf("LookupCPUClock(%d): %v, want %v", tc.id, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if now := c.Now(); now < tc.want || now > tc.want+time.Second {
			t.Errorf("clock %d reads %v, want about %v", tc.id, now, tc.want)
		}
	}
	// Another process's thread clock is not ours to read.
	c := h.fork(it)
	var err error
	h.do(it, func(t *Task) { _, err = t.LookupCPUClock(makeCPUClock(c.tid, cpuclockSched, true), false) })
	if err != unix.EINVAL {
		t.Errorf("a child's thread clock: %v, want EINVAL", err)
	}
	h.do(it, func(t *Task) { _, err = t.LookupCPUClock(makeCPUClock(c.tid, cpuclockSched, false), false) })
	if err != nil {
		t.Errorf("a child's process clock: %v", err)
	}
}

// pending reports whether sig is pending for t's process or t.
func pending(t *Task, sig unix.Signal) bool { return t.PendingSignals()&SigBit(sig) != 0 }

func TestITimerProfAndVirtual(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	ctxReady(h, it)
	tg := it.ThreadGroup()
	h.do(it, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGPROF) | SigBit(unix.SIGVTALRM)) })
	tg.SetITimerCPU(true, 0, 50*time.Millisecond)
	tg.SetITimerCPU(false, 10*time.Millisecond, 100*time.Millisecond)
	if iv, v := tg.ITimerCPU(false); iv != 10*time.Millisecond || v <= 0 || v > 100*time.Millisecond {
		t.Fatalf("ITIMER_VIRTUAL = %v, %v", iv, v)
	}
	// No CPU time used: nothing fires.
	time.Sleep(30 * time.Millisecond)
	if pending(it, unix.SIGPROF) || pending(it, unix.SIGVTALRM) {
		t.Fatal("a CPU timer fired without CPU time")
	}
	setUser(h, it, 60*time.Millisecond)
	h.eventually("SIGPROF", func() bool { return pending(it, unix.SIGPROF) })
	if pending(it, unix.SIGVTALRM) {
		t.Fatal("ITIMER_VIRTUAL fired before 100ms of user time")
	}
	if _, v := tg.ITimerCPU(true); v != 0 {
		t.Errorf("one-shot ITIMER_PROF still armed: %v", v)
	}
	setUser(h, it, 160*time.Millisecond)
	h.eventually("SIGVTALRM", func() bool { return pending(it, unix.SIGVTALRM) })
	if iv, v := tg.ITimerCPU(false); iv != 10*time.Millisecond || v <= 0 || v > 10*time.Millisecond {
		t.Errorf("periodic ITIMER_VIRTUAL after expiry: %v, %v", iv, v)
	}
	if oi, ov := tg.SetITimerCPU(false, 0, 0); oi != 10*time.Millisecond || ov <= 0 {
		t.Errorf("old setting %v, %v", oi, ov)
	}
}

func TestRlimitCPU(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	ctxReady(h, it)
	c := h.fork(it)
	ctxReady(h, c)
	tg := c.ThreadGroup()
	h.do(c, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGXCPU)) })
	if _, err := tg.SetLimit(unix.RLIMIT_CPU, Limit{Cur: 1, Max: 2}, false); err != nil {
		t.Fatal(err)
	}
	setUser(h, c, 1500*time.Millisecond)
	h.eventually("SIGXCPU", func() bool { return pending(c, unix.SIGXCPU) })
	if l, _ := tg.Limits().Get(unix.RLIMIT_CPU); l.Cur != 2 {
		t.Errorf("soft limit after SIGXCPU: %d, want 2", l.Cur)
	}
	setUser(h, c, 2500*time.Millisecond)
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r == nil || r.Status != WaitStatusSignaled(unix.SIGKILL) {
		t.Fatalf("wait: %+v, %v; want death by SIGKILL", r, err)
	}
}

func TestPosixTimers(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	ctxReady(h, it)
	h.do(it, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGUSR1) | SigBit(unix.SIGUSR2)) })
	var id int32
	var err error
	h.do(it, func(t *Task) {
		id, err = t.CreateTimer(unix.CLOCK_MONOTONIC, &TimerEvent{Notify: SigevSignal, Signo: unix.SIGUSR1, Value: 42})
	})
	if err != nil || id != 0 {
		t.Fatalf("CreateTimer: %d, %v", id, err)
	}
	pt, err := it.Timer(id)
	if err != nil {
		t.Fatal(err)
	}
	pt.Set(time.Millisecond, time.Millisecond, false)
	time.Sleep(50 * time.Millisecond)
	info := it.DequeueSignal(SigBit(unix.SIGUSR1))
	if info == nil || info.Code != siTimer || info.TimerID() != id || info.Value() != 42 || info.Overrun() < 10 {
		t.Fatalf("timer signal %+v (overrun %d)", info, info.Overrun())
	}
	if ov := pt.Overrun(); ov != info.Overrun() {
		t.Errorf("Overrun() = %d, si_overrun %d", ov, info.Overrun())
	}
	// Re-arming drops the signal of the previous arming.
	h.eventually("next expiry", func() bool { return pending(it, unix.SIGUSR1) })
	pt.Set(time.Hour, 0, false)
	if info := it.DequeueSignal(SigBit(unix.SIGUSR1)); info != nil {
		t.Errorf("signal of the old arming delivered after timer_settime: %+v", info)
	}
	if v, iv := pt.Get(); v <= 59*time.Minute || iv != 0 {
		t.Errorf("Get = %v, %v", v, iv)
	}
	// A sigqueue'd SI_TIMER signal is not a timer's: it goes through.
	forged := &arch.SignalInfo{Signo: int32(unix.SIGUSR2), Code: siTimer}
	h.k.SendSignal(it.ThreadGroup(), forged)
	if info := it.DequeueSignal(SigBit(unix.SIGUSR2)); info != forged {
		t.Errorf("forged SI_TIMER signal: %+v", info)
	}
	h.do(it, func(t *Task) { err = t.DeleteTimer(id) })
	if err != nil {
		t.Fatal(err)
	}
	h.do(it, func(t *Task) { err = t.DeleteTimer(id) })
	if err != unix.EINVAL {
		t.Errorf("second delete: %v", err)
	}
	// Bad events.
	for _, ev := range []*TimerEvent{
		{Notify: 7},
		{Notify: SigevSignal, Signo: 65},
		{Notify: SigevThreadID, Signo: unix.SIGUSR1, ThreadID: 999},
	} {
		h.do(it, func(t *Task) { _, err = t.CreateTimer(unix.CLOCK_MONOTONIC, ev) })
		if err != unix.EINVAL {
			t.Errorf("CreateTimer(%+v): %v, want EINVAL", ev, err)
		}
	}
}

func TestCPUClockTimer(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	ctxReady(h, it)
	h.do(it, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGUSR1)) })
	var id int32
	var err error
	h.do(it, func(t *Task) {
		id, err = t.CreateTimer(unix.CLOCK_PROCESS_CPUTIME_ID, &TimerEvent{Notify: SigevSignal, Signo: unix.SIGUSR1})
	})
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := it.Timer(id)
	pt.Set(100*time.Millisecond, 0, false)
	time.Sleep(20 * time.Millisecond)
	if pending(it, unix.SIGUSR1) {
		t.Fatal("CPU timer fired without CPU time")
	}
	setUser(h, it, 200*time.Millisecond)
	h.eventually("CPU timer signal", func() bool { return pending(it, unix.SIGUSR1) })
	if info := it.DequeueSignal(SigBit(unix.SIGUSR1)); info == nil || info.TimerID() != id {
		t.Errorf("signal %+v", info)
	}
}

func TestRlimitNPROCAndSigpending(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	if _, err := c.ThreadGroup().SetLimit(unix.RLIMIT_NPROC, Limit{Cur: 1, Max: 1}, false); err != nil {
		t.Fatal(err)
	}
	var err error
	h.do(c, func(t *Task) {
		// As root, the limit does not apply.
		t.k.mu.Lock()
		err = t.mayCreateTaskLocked()
		t.k.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("root at RLIMIT_NPROC: %v", err)
	}
	h.do(c, func(t *Task) { err = t.SetUID(1000) })
	if err != nil {
		t.Fatal(err)
	}
	h.do(c, func(t *Task) {
		t.k.mu.Lock()
		err = t.mayCreateTaskLocked()
		t.k.mu.Unlock()
	})
	if err != unix.EAGAIN {
		t.Fatalf("uid 1000 at RLIMIT_NPROC 1: %v, want EAGAIN", err)
	}

	tg := c.ThreadGroup()
	tg.SetLimit(unix.RLIMIT_SIGPENDING, Limit{Cur: 1, Max: 1}, false)
	h.do(c, func(t *Task) { t.SetSignalMask(SigBit(sigRTMin) | SigBit(unix.SIGUSR1)) })
	if err := h.k.SendSignal(tg, sig(sigRTMin, siQueue)); err != nil {
		t.Fatal(err)
	}
	if err := h.k.SendSignal(tg, sig(sigRTMin, siQueue)); err != unix.EAGAIN {
		t.Errorf("second queued real-time signal: %v, want EAGAIN", err)
	}
	if err := h.k.SendSignal(tg, sig(sigRTMin, siUser)); err != nil {
		t.Errorf("kill(2) of a real-time signal over the limit: %v", err)
	}
	if err := h.k.SendSignal(tg, sig(unix.SIGUSR1, siQueue)); err != nil {
		t.Errorf("sigqueue of a standard signal over the limit: %v", err)
	}
	if info := c.DequeueSignal(SigBit(unix.SIGUSR1)); info == nil || info.Code != siUser {
		t.Errorf("standard signal over the limit keeps its info: %+v", info)
	}
}
