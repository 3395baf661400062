package kernel

// membarrier(2). The application's threads run on host CPUs the Sentry
// does not pick, so an expedited barrier makes every thread concerned
// that is running application code come back into the Sentry (an
// interrupt of its platform context) and waits until it has: leaving the
// application is a full memory barrier on the CPU it ran on (it takes
// ptrace round trips through the host kernel), which is what
// MEMBARRIER_CMD_PRIVATE_EXPEDITED promises. Threads not running
// application code at that moment are already past such a barrier.

import (
	"time"

	"golang.org/x/sys/unix"
)

// membarrier commands (include/uapi/linux/membarrier.h).
const (
	MembarrierQuery                            = 0
	MembarrierGlobal                           = 1 << 0
	MembarrierGlobalExpedited                  = 1 << 1
	MembarrierRegisterGlobalExpedited          = 1 << 2
	MembarrierPrivateExpedited                 = 1 << 3
	MembarrierRegisterPrivateExpedited         = 1 << 4
	MembarrierPrivateExpeditedSyncCore         = 1 << 5
	MembarrierRegisterPrivateExpeditedSyncCore = 1 << 6
	MembarrierPrivateExpeditedRseq             = 1 << 7
	MembarrierRegisterPrivateExpeditedRseq     = 1 << 8
	MembarrierGetRegistrations                 = 1 << 9

	// MembarrierSupported is what MEMBARRIER_CMD_QUERY answers: all but
	// the rseq commands (the Sentry has no rseq(2)).
	MembarrierSupported = MembarrierGlobal | MembarrierGlobalExpedited | MembarrierRegisterGlobalExpedited |
		MembarrierPrivateExpedited | MembarrierRegisterPrivateExpedited |
		MembarrierPrivateExpeditedSyncCore | MembarrierRegisterPrivateExpeditedSyncCore |
		MembarrierGetRegistrations
)

// Membarrier implements membarrier(cmd, flags=0) for t.
func (t *Task) Membarrier(cmd int) (uintptr, error) {
	k := t.k
	switch cmd {
	case MembarrierQuery:
		return MembarrierSupported, nil
	case MembarrierGlobal:
		// synchronize_rcu's promise: every thread passes a barrier
		// before its next memory access after this call returns. The
		// Sentry's threads are Go code whose locks order this call
		// after everything they did, and application threads take one
		// at their next trap; no thread needs to be disturbed.
		return 0, nil
	case MembarrierRegisterGlobalExpedited, MembarrierRegisterPrivateExpedited, MembarrierRegisterPrivateExpeditedSyncCore:
		k.mu.Lock()
		t.tg.membarrierReg |= cmd
		k.mu.Unlock()
		return 0, nil
	case MembarrierGetRegistrations:
		k.mu.Lock()
		defer k.mu.Unlock()
		return uintptr(t.tg.membarrierReg), nil
	case MembarrierGlobalExpedited:
		t.expeditedBarrier(func(o *Task) bool { return o.tg.membarrierReg&MembarrierRegisterGlobalExpedited != 0 })
		return 0, nil
	case MembarrierPrivateExpedited, MembarrierPrivateExpeditedSyncCore:
		k.mu.Lock()
		reg := t.tg.membarrierReg
		k.mu.Unlock()
		need := MembarrierRegisterPrivateExpedited
		if cmd == MembarrierPrivateExpeditedSyncCore {
			need = MembarrierRegisterPrivateExpeditedSyncCore
		}
		if reg&need == 0 {
			return 0, unix.EPERM
		}
		mm := t.mm
		t.expeditedBarrier(func(o *Task) bool { return o.mm == mm })
		return 0, nil
	}
	return 0, unix.EINVAL
}

// expeditedBarrier brings every other task that match selects and that
// is running application code back into the Sentry once.
func (t *Task) expeditedBarrier(match func(*Task) bool) {
	k := t.k
	type waitee struct {
		t   *Task
		gen uint64
	}
	var ws []waitee
	k.mu.Lock()
	for _, o := range k.tasks {
		if o != t && o.inApp.Load() && match(o) {
			ws = append(ws, waitee{o, o.appExits.Load()})
			o.interrupt()
		}
	}
	k.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	for _, w := range ws {
		for w.t.inApp.Load() && w.t.appExits.Load() == w.gen && time.Now().Before(deadline) {
			sleepBriefly()
		}
	}
}
