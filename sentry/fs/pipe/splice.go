package pipe

import (
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// splice(2), tee(2) and vmsplice(2) on pipes, after Linux's fs/splice.c:
// data moves between a pipe and another file, or between two pipes,
// without going through application memory. The Sentry copies bytes where
// Linux moves page references, which no application can tell apart except
// by speed (and by SPLICE_F_GIFT, which is only a hint).

// wait waits (p.io not held) for one of events on p. The first call only
// registers the waiter and returns, so that the caller looks at the pipe
// again before sleeping and no change is missed; the caller unregisters
// *e when done.
func (p *Pipe) wait(ctx vfs.Context, events waiter.EventMask, e **waiter.Entry, ch *chan struct{}) error {
	if *e == nil {
		*e, *ch = waiter.NewChannelEntry(events)
		p.queue.EventRegister(*e)
		return nil // look again before sleeping
	}
	return ctx.Block(*ch)
}

// SpliceFrom moves up to max bytes out of p: it waits until p holds data
// (or has no writer: 0, EOF) unless nonblock (EAGAIN), then calls write
// with the bytes buffered (up to max) while no other reader can run, and
// consumes what write took. Errors of write are returned unless some bytes
// moved.
func (p *Pipe) SpliceFrom(ctx vfs.Context, max int, nonblock bool, write func([]byte) (int, error)) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	var e *waiter.Entry
	var ch chan struct{}
	defer func() {
		if e != nil {
			p.queue.EventUnregister(e)
		}
	}()
	for {
		if err := p.lockIO(ctx); err != nil {
			return 0, err
		}
		p.mu.Lock()
		size, eof := p.size, p.writers == 0
		var buf []byte
		if size > 0 {
			buf = make([]byte, min(max, size))
			p.copyOutLocked(buf, false)
		}
		p.mu.Unlock()
		if size > 0 {
			n, err := write(buf)
			if n > 0 {
				p.mu.Lock()
				p.copyOutLocked(buf[:n], true)
				p.mu.Unlock()
			}
			p.unlockIO()
			if n > 0 {
				p.queue.Notify(waiter.EventOut | waiter.EventWrNorm)
				return n, nil
			}
			return 0, err
		}
		p.unlockIO()
		if eof {
			return 0, nil
		}
		if nonblock {
			return 0, unix.EAGAIN
		}
		if err := p.wait(ctx, readEvents, &e, &ch); err != nil {
			return 0, err
		}
	}
}

// SpliceTo moves up to max bytes into p from read: it waits until p has
// room (EPIPE without readers; EAGAIN if nonblock and full), then calls
// read with a buffer no larger than the room, while no other writer can
// run, and appends what read returned. It returns 0 when read does (end of
// input).
func (p *Pipe) SpliceTo(ctx vfs.Context, max int, nonblock bool, read func([]byte) (int, error)) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	var e *waiter.Entry
	var ch chan struct{}
	defer func() {
		if e != nil {
			p.queue.EventUnregister(e)
		}
	}()
	for {
		if err := p.lockIO(ctx); err != nil {
			return 0, err
		}
		p.mu.Lock()
		readers, free := p.readers, p.capacity-p.size
		p.mu.Unlock()
		if readers == 0 {
			p.unlockIO()
			return 0, unix.EPIPE
		}
		if free > 0 {
			buf := make([]byte, min(max, free))
			n, err := read(buf)
			if n > 0 {
				p.mu.Lock()
				p.appendLocked(buf[:n])
				p.mu.Unlock()
			}
			p.unlockIO()
			if n > 0 {
				p.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
				return n, nil
			}
			return 0, err
		}
		p.unlockIO()
		if nonblock {
			return 0, unix.EAGAIN
		}
		if err := p.wait(ctx, writeEvents, &e, &ch); err != nil {
			return 0, err
		}
	}
}

// lockPair takes the io locks of two different pipes in a fixed order.
func lockPair(ctx vfs.Context, a, b *Pipe) error {
	if a.id > b.id {
		a, b = b, a
	}
	if err := a.lockIO(ctx); err != nil {
		return err
	}
	if err := b.lockIO(ctx); err != nil {
		a.unlockIO()
		return err
	}
	return nil
}

// Splice moves up to max bytes from src to dst (splice(2) between two
// pipes, which must differ): it waits for data in src (0 if src has no
// writer) and room in dst (EPIPE if dst has no reader), unless nonblock
// (EAGAIN). When consume is false the bytes stay in src (tee(2)).
func Splice(ctx vfs.Context, src, dst *Pipe, max int, nonblock, consume bool) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	var se, de *waiter.Entry
	var sch, dch chan struct{}
	defer func() {
		if se != nil {
			src.queue.EventUnregister(se)
		}
		if de != nil {
			dst.queue.EventUnregister(de)
		}
	}()
	for {
		if err := lockPair(ctx, src, dst); err != nil {
			return 0, err
		}
		src.mu.Lock()
		dst.mu.Lock()
		n := 0
		var err error
		waitSrc := false
		switch {
		case dst.readers == 0:
			err = unix.EPIPE
		case src.size == 0:
			if src.writers != 0 {
				waitSrc = true
			}
		default:
			n = min(max, src.size, dst.capacity-dst.size)
			if n > 0 {
				buf := make([]byte, n)
				src.copyOutLocked(buf, consume)
				dst.appendLocked(buf)
			}
		}
		srcEmptyEOF := src.size == 0 && src.writers == 0 && n == 0 && err == nil
		dst.mu.Unlock()
		src.mu.Unlock()
		dst.unlockIO()
		src.unlockIO()
		if n > 0 {
			if consume {
				src.queue.Notify(waiter.EventOut | waiter.EventWrNorm)
			}
			dst.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		if srcEmptyEOF {
			return 0, nil
		}
		if nonblock {
			return 0, unix.EAGAIN
		}
		if waitSrc {
			err = src.wait(ctx, readEvents, &se, &sch)
		} else {
			err = dst.wait(ctx, writeEvents, &de, &dch)
		}
		if err != nil {
			return 0, err
		}
	}
}

// WriteNonblock writes src as write(2) would, with nonblock chosen by the
// caller (vmsplice(2) with SPLICE_F_NONBLOCK).
func (p *Pipe) WriteNonblock(ctx vfs.Context, src []byte, nonblock bool) (int, error) {
	return p.write(ctx, src, nonblock)
}

// ReadNonblock reads as read(2) would, with nonblock chosen by the caller.
func (p *Pipe) ReadNonblock(ctx vfs.Context, dst []byte, nonblock bool) (int, error) {
	return p.read(ctx, dst, nonblock)
}
