package socket

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Blocker is how a socket operation waits: it registers on the queues
// whose events may let the operation progress, and Wait blocks until one
// of them notifies, the operation's timeout passes or a signal comes. The
// usual loop, with the endpoint's lock held around the checks:
//
//	b := socket.NewBlocker(ctx, w)
//	defer b.Close()
//	for !ready() {
//		b.Register(&ep.queue, waiter.EventIn)
//		mu.Unlock()
//		err := b.Wait()
//		mu.Lock()
//		if err != nil { return err }
//	}
//
// Registering before dropping the lock means a change made between the
// check and the wait is never missed.
type Blocker struct {
	ctx      vfs.Context
	w        Wait
	deadline time.Time
	ch       chan struct{}
	regs     []registration
}

type registration struct {
	q *waiter.Queue
	e *waiter.Entry
}

// NewBlocker returns a Blocker for one operation; its timeout, if any,
// runs from now (Linux's timeo counts down across the waits of one call).
func NewBlocker(ctx vfs.Context, w Wait) *Blocker {
	// The channel is made on first Register: most calls never block.
	b := &Blocker{ctx: ctx, w: w}
	if w.Timeout > 0 {
		b.deadline = time.Now().Add(w.Timeout)
	}
	return b
}

// Nonblock reports whether the operation may not block at all.
func (b *Blocker) Nonblock() bool { return b.w.Nonblock }

// Register makes events in mask on q wake the next Wait. Registering the
// same queue again does nothing.
func (b *Blocker) Register(q *waiter.Queue, mask waiter.EventMask) {
	for _, r := range b.regs {
		if r.q == q {
			return
		}
	}
	if b.ch == nil {
		b.ch = make(chan struct{}, 1)
	}
	ch := b.ch
	e := &waiter.Entry{Mask: mask, Notify: func(waiter.EventMask) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}}
	q.EventRegister(e)
	b.regs = append(b.regs, registration{q, e})
}

// Wait blocks until a registered queue notifies. Without leave to block
// it returns EAGAIN; when the timeout has passed, EAGAIN (what Linux
// returns when SO_RCVTIMEO or SO_SNDTIMEO expire); when a signal
// interrupts it, ERESTARTSYS, or EINTR if the operation has a timeout
// (sock_intr_errno: a call with a timeout is never restarted).
func (b *Blocker) Wait() error {
	if b.w.Nonblock {
		return unix.EAGAIN
	}
	if b.ch == nil {
		b.ch = make(chan struct{}, 1)
	}
	if b.w.Timeout <= 0 {
		return b.ctx.Block(b.ch)
	}
	d := time.Until(b.deadline)
	if d <= 0 {
		return unix.EAGAIN
	}
	switch err := b.ctx.BlockTimeout(b.ch, d); {
	case err == unix.ETIMEDOUT:
		return unix.EAGAIN
	case err != nil && syserr.IsRestart(err):
		return unix.EINTR
	default:
		return err
	}
}

// Close unregisters from every queue.
func (b *Blocker) Close() {
	for _, r := range b.regs {
		r.q.EventUnregister(r.e)
	}
	b.regs = nil
}
