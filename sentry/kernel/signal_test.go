package kernel

import (
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

func info(s unix.Signal, value uint64) *arch.SignalInfo {
	i := &arch.SignalInfo{Signo: int32(s), Code: siQueue}
	i.SetValue(value)
	return i
}

const all = ^uint64(0)

var sigRTMax = unix.Signal(numSignals)

func TestSigQueueStandardSignalsCoalesce(t *testing.T) {
	var q sigQueue
	q.enqueue(info(unix.SIGUSR1, 1))
	q.enqueue(info(unix.SIGUSR1, 2))
	q.enqueue(info(unix.SIGUSR1, 3))
	if q.set != SigBit(unix.SIGUSR1) {
		t.Fatalf("pending set %#x", q.set)
	}
	got := q.dequeue(all)
	if got == nil || got.Signo != int32(unix.SIGUSR1) || got.Value() != 1 {
		t.Fatalf("dequeue = %+v, want the first SIGUSR1", got)
	}
	if got := q.dequeue(all); got != nil {
		t.Fatalf("a standard signal queued more than once: %+v", got)
	}
	if q.set != 0 {
		t.Fatalf("pending set %#x after dequeue", q.set)
	}
	// Once taken, it can be pending again.
	q.enqueue(info(unix.SIGUSR1, 4))
	if got := q.dequeue(all); got == nil || got.Value() != 4 {
		t.Fatalf("dequeue = %+v", got)
	}
}

func TestSigQueueRealtimeSignalsQueueInOrder(t *testing.T) {
	var q sigQueue
	for v := uint64(1); v <= 5; v++ {
		q.enqueue(info(sigRTMin+2, v))
	}
	q.enqueue(info(sigRTMax, 100))
	for v := uint64(1); v <= 5; v++ {
		got := q.dequeue(all)
		if got == nil || got.Signo != int32(sigRTMin+2) || got.Value() != v {
			t.Fatalf("dequeue #%d = %+v, want SIGRTMIN+2 with value %d", v, got, v)
		}
		if v < 5 && q.set&SigBit(sigRTMin+2) == 0 {
			t.Fatal("RT signal no longer pending while more are queued")
		}
	}
	if q.set != SigBit(sigRTMax) {
		t.Fatalf("pending %#x, want only SIGRTMAX", q.set)
	}
	if got := q.dequeue(all); got == nil || got.Signo != int32(sigRTMax) || got.Value() != 100 {
		t.Fatalf("dequeue = %+v", got)
	}
	if q.dequeue(all) != nil || q.set != 0 {
		t.Fatal("queue not empty")
	}
}

func TestSigQueueLowestFirstAndMask(t *testing.T) {
	var q sigQueue
	for _, s := range []unix.Signal{sigRTMin + 1, unix.SIGTERM, unix.SIGUSR2, unix.SIGINT, sigRTMin} {
		q.enqueue(info(s, 0))
	}
	// Only what the mask allows, lowest first.
	mask := all &^ SigBit(unix.SIGINT)
	if got := q.dequeue(mask); got == nil || got.Signo != int32(unix.SIGUSR2) {
		t.Fatalf("dequeue with SIGINT masked = %+v, want SIGUSR2", got)
	}
	if got := q.dequeue(SigBit(unix.SIGHUP)); got != nil {
		t.Fatalf("dequeue of a signal that is not pending = %+v", got)
	}
	var order []unix.Signal
	for i := q.dequeue(all); i != nil; i = q.dequeue(all) {
		order = append(order, unix.Signal(i.Signo))
	}
	want := []unix.Signal{unix.SIGINT, unix.SIGTERM, sigRTMin, sigRTMin + 1}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

func TestSigQueueDiscard(t *testing.T) {
	var q sigQueue
	for v := uint64(0); v < 3; v++ {
		q.enqueue(info(sigRTMin+5, v))
	}
	q.enqueue(info(unix.SIGCONT, 0))
	q.discard(sigRTMin + 5)
	if q.set != SigBit(unix.SIGCONT) {
		t.Fatalf("pending %#x after discarding the RT signal", q.set)
	}
	q.discard(unix.SIGCONT)
	q.discard(unix.SIGHUP) // not pending: no effect
	if q.set != 0 || q.dequeue(all) != nil {
		t.Fatal("signals left after discard")
	}
	// A discarded RT signal queues afresh.
	q.enqueue(info(sigRTMin+5, 9))
	if got := q.dequeue(all); got == nil || got.Value() != 9 {
		t.Fatalf("dequeue = %+v", got)
	}
}

func TestSigBit(t *testing.T) {
	if SigBit(1) != 1 || SigBit(unix.SIGKILL) != 1<<8 || SigBit(64) != 1<<63 {
		t.Fatal("SigBit does not follow sigset_t's layout (bit sig-1)")
	}
}

func TestSignalActionRules(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	act := arch.SignalAct{Handler: 0x400180, Flags: arch.SA_RESTORER, Restorer: 0x400190}
	for _, s := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP} {
		if _, err := c.SignalAction(s, &act); !isErrno(err, unix.EINVAL) {
			t.Errorf("sigaction(%v, handler): %v, want EINVAL", s, err)
		}
		ign := arch.SignalAct{Handler: sigIGN}
		if _, err := c.SignalAction(s, &ign); !isErrno(err, unix.EINVAL) {
			t.Errorf("sigaction(%v, SIG_IGN): %v, want EINVAL", s, err)
		}
		if old, err := c.SignalAction(s, nil); err != nil || old.Handler != sigDFL {
			t.Errorf("reading %v's action: %+v, %v", s, old, err)
		}
	}
	for _, s := range []unix.Signal{0, numSignals + 1, -1} {
		if _, err := c.SignalAction(s, nil); !isErrno(err, unix.EINVAL) {
			t.Errorf("sigaction(%d): %v, want EINVAL", s, err)
		}
	}
	// The old action comes back; sa_mask never holds SIGKILL or SIGSTOP.
	act.Mask = all
	if old, err := c.SignalAction(unix.SIGUSR1, &act); err != nil || old != (arch.SignalAct{}) {
		t.Fatalf("first sigaction = %+v, %v", old, err)
	}
	got, _ := c.SignalAction(unix.SIGUSR1, nil)
	if got.Handler != act.Handler || got.Mask != all&^(SigBit(unix.SIGKILL)|SigBit(unix.SIGSTOP)) {
		t.Fatalf("installed action %+v", got)
	}
	// Handlers are per process: fork copied them, so the parent's are
	// untouched.
	if got, _ := it.SignalAction(unix.SIGUSR1, nil); got.Handler != sigDFL {
		t.Fatal("child's sigaction changed the parent's action")
	}
}

func TestIgnoringDiscardsPending(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	h.do(c, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGUSR2) | SigBit(sigRTMin)) })
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGUSR2, siUser))
	h.k.SendSignal(c.ThreadGroup(), sig(sigRTMin, siQueue))
	h.k.SendThreadSignal(c, sig(sigRTMin, siQueue))
	if p := c.PendingSignals(); p != SigBit(unix.SIGUSR2)|SigBit(sigRTMin) {
		t.Fatalf("pending %#x", p)
	}
	c.SignalAction(unix.SIGUSR2, &arch.SignalAct{Handler: sigIGN})
	c.SignalAction(sigRTMin, &arch.SignalAct{Handler: sigIGN})
	if p := c.PendingSignals(); p != 0 {
		t.Fatalf("pending %#x after setting SIG_IGN, want none", p)
	}
	// An ignored, unblocked signal is not even queued.
	h.do(c, func(t *Task) { t.SetSignalMask(0) })
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGUSR2, siUser))
	if p := c.PendingSignals(); p != 0 {
		t.Fatalf("ignored signal pending: %#x", p)
	}
	h.do(c, func(*Task) {}) // and it did not kill the process
}

func TestSignalMaskNeverBlocksKillStop(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	unblockable := SigBit(unix.SIGKILL) | SigBit(unix.SIGSTOP)
	it.SetSignalMask(all)
	if got := it.SignalMask(); got != all&^unblockable {
		t.Fatalf("mask %#x after blocking everything, want %#x", got, all&^unblockable)
	}
	it.SetSignalMask(SigBit(unix.SIGKILL) | SigBit(unix.SIGINT))
	if got := it.SignalMask(); got != SigBit(unix.SIGINT) {
		t.Fatalf("mask %#x, want only SIGINT", got)
	}
	// sigsuspend-style temporary masks follow the same rule and restore.
	it.SetSavedSignalMask(all)
	if got := it.SignalMask(); got != all&^unblockable {
		t.Fatalf("temporary mask %#x", got)
	}
	it.RestoreSavedSignalMask()
	if got := it.SignalMask(); got != SigBit(unix.SIGINT) {
		t.Fatalf("restored mask %#x, want SIGINT", got)
	}
}

// A handled signal is delivered: the task resumes in the handler with the
// signal number as its argument and the signal (plus sa_mask) blocked.
func TestSignalDelivery(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	act := arch.SignalAct{Handler: 0x400180, Flags: arch.SA_RESTORER | arch.SA_SIGINFO, Restorer: 0x400190,
		Mask: SigBit(unix.SIGUSR2)}
	if _, err := c.SignalAction(unix.SIGUSR1, &act); err != nil {
		t.Fatal(err)
	}
	h.do(c, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGUSR1)) })
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGUSR1, siUser))
	var before arch.Registers
	h.do(c, func(t *Task) { before = *t.Regs() })
	if before.Rip == act.Handler {
		t.Fatal("a blocked signal was delivered")
	}
	// Unblocking makes it deliverable at the next return to user mode.
	h.do(c, func(t *Task) { t.SetSignalMask(0) })
	var regs arch.Registers
	var mask uint64
	h.do(c, func(t *Task) { regs, mask = *t.Regs(), t.SignalMask() })
	if regs.Rip != act.Handler || regs.Rdi != uint64(unix.SIGUSR1) {
		t.Fatalf("after delivery rip %#x rdi %d, want the handler %#x with SIGUSR1", regs.Rip, regs.Rdi, act.Handler)
	}
	if regs.Rsp >= before.Rsp || (regs.Rsp+8)%16 != 0 {
		t.Fatalf("handler stack %#x (was %#x): not below the old one or misaligned", regs.Rsp, before.Rsp)
	}
	if want := SigBit(unix.SIGUSR1) | SigBit(unix.SIGUSR2); mask != want {
		t.Fatalf("mask in the handler %#x, want %#x", mask, want)
	}
	if c.PendingSignals() != 0 {
		t.Fatal("delivered signal still pending")
	}
}

// sigwaitinfo-style dequeueing of blocked signals.
func TestDequeueSignal(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	h.do(c, func(t *Task) { t.SetSignalMask(all) })
	h.k.SendThreadSignal(c, sig(unix.SIGUSR2, siUser))
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGUSR1, siUser))
	if got := c.DequeueSignal(SigBit(unix.SIGHUP)); got != nil {
		t.Fatalf("dequeued %d not in the set", got.Signo)
	}
	// Thread-directed signals come first, then process-directed ones.
	if got := c.DequeueSignal(all); got == nil || got.Signo != int32(unix.SIGUSR2) {
		t.Fatalf("first = %+v, want SIGUSR2 (thread-directed)", got)
	}
	if got := c.DequeueSignal(all); got == nil || got.Signo != int32(unix.SIGUSR1) {
		t.Fatalf("second = %+v, want SIGUSR1", got)
	}
	if c.DequeueSignal(all) != nil || c.PendingSignals() != 0 {
		t.Fatal("signals left")
	}
}

func TestBlockedTaskInterruptedBySignal(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	act := arch.SignalAct{Handler: 0x400180, Flags: arch.SA_RESTORER, Restorer: 0x400190}
	c.SignalAction(unix.SIGUSR1, &act)
	never := make(chan struct{})
	defer close(never)

	// A blocked signal does not interrupt a wait; its timeout ends it.
	h.do(c, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGUSR1)) })
	var err error
	done := h.start(c, func(t *Task) { err = t.BlockTimeout(never, 100*time.Millisecond) })
	time.Sleep(10 * time.Millisecond)
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGUSR1, siUser))
	h.await(done, "BlockTimeout")
	if !isErrno(err, unix.ETIMEDOUT) {
		t.Fatalf("wait with a blocked signal arriving: %v, want ETIMEDOUT", err)
	}
	// A pending unblocked signal ends a wait at once.
	start := time.Now()
	h.do(c, func(t *Task) {
		t.SetSignalMask(0)
		err = t.BlockTimeout(never, 2*time.Second)
	})
	if err == nil || isErrno(err, unix.ETIMEDOUT) || time.Since(start) > time.Second {
		t.Fatalf("wait with a deliverable signal pending: %v after %v, want interrupted", err, time.Since(start))
	}
	// And one arriving during the wait interrupts it. (The handler the
	// first one went to runs with SIGUSR1 blocked: unblock it.)
	done = h.start(c, func(t *Task) {
		t.SetSignalMask(0)
		err = t.Block(never)
	})
	h.notDone(done, 20*time.Millisecond, "Block")
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGUSR1, siUser))
	h.await(done, "Block")
	if err == nil {
		t.Fatal("Block returned nil on a signal")
	}
	// SIGKILL ends a blocked task.
	done = h.start(c, func(t *Task) { t.Block(never) })
	h.notDone(done, 10*time.Millisecond, "Block")
	h.k.SendSignal(c.ThreadGroup(), sig(unix.SIGKILL, siUser))
	r, werr := h.wait(it, WaitOptions{Any: true, Exited: true})
	if werr != nil || r.Status != WaitStatusSignaled(unix.SIGKILL) {
		t.Fatalf("wait = %+v, %v", r, werr)
	}
}
