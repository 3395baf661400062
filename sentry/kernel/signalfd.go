package kernel

import (
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/waiter"
)

// signalfdWaiters is what signalfd(2) files wait on: like Linux's
// sighand->signalfd_wqh, it is told of every signal queued for the
// thread group or one of its threads.
type signalfdWaiters struct {
	n atomic.Int32 // registered entries: nothing to do without any
	q waiter.Queue
}

// queued runs with k.mu held, when a signal was queued. The waiters are
// told from another goroutine: their callbacks (epoll's) may look at the
// file's readiness, which takes k.mu.
func (w *signalfdWaiters) queued() {
	if w.n.Load() > 0 {
		go w.q.Notify(waiter.EventIn)
	}
}

// SignalfdRegister adds e to the waiters woken when a signal is queued for
// t's thread group or one of its threads (signalfd readiness).
func (t *Task) SignalfdRegister(e *waiter.Entry) {
	w := &t.tg.signalfds
	w.n.Add(1)
	w.q.EventRegister(e)
}

// SignalfdUnregister removes e added by SignalfdRegister.
func (t *Task) SignalfdUnregister(e *waiter.Entry) {
	w := &t.tg.signalfds
	w.q.EventUnregister(e)
	w.n.Add(-1)
}

// HasPendingSignal reports whether a signal in set is pending for t or its
// thread group (what a signalfd read would take).
func (t *Task) HasPendingSignal(set uint64) bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return (t.pending.set|t.tg.pending.set)&set != 0
}
