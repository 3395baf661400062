// Package pipe implements Linux pipes: anonymous pipes made by pipe(2) and
// pipe2(2), and named pipes (FIFOs) living in a filesystem.
//
// A Pipe is the shared buffer; each open file description is a *File that
// may read, write or both (a FIFO opened O_RDWR). The pipe counts the
// readers and writers: reads see EOF once every writer has gone, writes get
// EPIPE once every reader has gone.
//
// Readiness (EventIn, EventOut, EventHUp, EventErr) is reported through a
// waiter.Queue so that poll, select and epoll can watch pipes. Notifications
// are always sent without the pipe's lock held, so a waiter's callback may
// call back into the pipe.
package pipe

import (
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

const (
	// PipeBuf is PIPE_BUF: writes of at most this many bytes are atomic.
	PipeBuf = 4096
	// DefaultSize is the default capacity of a pipe (16 pages).
	DefaultSize = 16 * pageSize
	// MinSize is the smallest capacity F_SETPIPE_SZ can set (one page).
	MinSize = pageSize
	// MaxSize is /proc/sys/fs/pipe-max-size: the largest capacity
	// F_SETPIPE_SZ may set.
	MaxSize = 1 << 20

	pageSize = 4096
)

// Events a reader or writer waits for.
const (
	readEvents  = waiter.EventIn | waiter.EventRdNorm | waiter.EventHUp
	writeEvents = waiter.EventOut | waiter.EventWrNorm | waiter.EventErr
)

// Pipe is the state shared by the ends of one pipe.
type Pipe struct {
	// named pipes (FIFOs) have the open(2) rendezvous rules; anonymous
	// pipes never block in open.
	named bool

	// io serializes reads, writes, splices and tees (Linux's
	// pipe->mutex), so that a splice can look at the data, hand it to
	// another file and only then consume what that file took. It is a
	// one-token channel, so waiting for it is interruptible; it is never
	// held while waiting for data or space. id orders two pipes' io
	// locks.
	io chan struct{}
	id uint64

	mu       sync.Mutex
	buf      []byte // ring buffer; grows on demand up to capacity
	head     int    // index in buf of the first unread byte
	size     int    // bytes buffered
	capacity int

	readers, writers int
	// rCounter and wCounter count every open for reading and writing
	// over the pipe's life: a FIFO open waiting for a partner waits for
	// the other counter to change, so a partner that comes and goes
	// before the waiter looks still counts.
	rCounter, wCounter uint64

	// queue reports readiness changes to readers, writers and pollers.
	queue waiter.Queue
	// openQueue wakes FIFO opens waiting for a partner.
	openQueue waiter.Queue
}

// NewPipe returns a pipe with no reader or writer. named selects FIFO open
// semantics.
func NewPipe(named bool) *Pipe {
	p := &Pipe{named: named, capacity: DefaultSize, io: make(chan struct{}, 1), id: pipeIDs.Add(1)}
	p.io <- struct{}{}
	return p
}

var pipeIDs atomic.Uint64

// lockIO takes p.io, waiting interruptibly.
func (p *Pipe) lockIO(ctx vfs.Context) error {
	select {
	case <-p.io:
		return nil
	default:
	}
	return ctx.Block(p.io)
}

func (p *Pipe) unlockIO() { p.io <- struct{}{} }

// NewAnonymous returns the two ends of a new anonymous pipe (pipe(2)): a
// read-only file and a write-only file.
func NewAnonymous() (r, w *File) {
	p := NewPipe(false)
	p.readers, p.writers = 1, 1
	p.rCounter, p.wCounter = 1, 1
	r = &File{p: p, readable: true}
	w = &File{p: p, writable: true}
	return r, w
}

// Open opens the pipe for one open(2) of a FIFO (or of /proc/<pid>/fd/N
// naming an anonymous pipe), following fifo(7): O_RDONLY waits for a
// writer unless O_NONBLOCK; O_WRONLY waits for a reader, or fails with
// ENXIO under O_NONBLOCK when there is none; O_RDWR never waits. Waits end
// with syserr.ErrInterrupted on a signal.
func (p *Pipe) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	nonblock := flags&unix.O_NONBLOCK != 0
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		p.mu.Lock()
		p.readers++
		p.rCounter++
		f := &File{p: p, readable: true}
		waitFor := p.wCounter
		mustWait := p.named && p.writers == 0
		if mustWait && nonblock {
			// No writer has been seen by this file yet: no HUP until
			// one comes and goes.
			f.wSeen = p.wCounter
			mustWait = false
		}
		p.mu.Unlock()
		p.openQueue.Notify(waiter.EventIn)
		if mustWait {
			if err := p.waitPartner(ctx, &p.wCounter, waitFor); err != nil {
				p.mu.Lock()
				p.readers--
				p.mu.Unlock()
				p.afterClose(true, false)
				return nil, err
			}
		}
		return f, nil

	case unix.O_WRONLY:
		p.mu.Lock()
		if p.named && nonblock && p.readers == 0 {
			p.mu.Unlock()
			return nil, unix.ENXIO
		}
		p.writers++
		p.wCounter++
		waitFor := p.rCounter
		mustWait := p.named && p.readers == 0
		p.mu.Unlock()
		p.openQueue.Notify(waiter.EventIn)
		if mustWait {
			if err := p.waitPartner(ctx, &p.rCounter, waitFor); err != nil {
				p.mu.Lock()
				p.writers--
				p.mu.Unlock()
				p.afterClose(false, true)
				return nil, err
			}
		}
		return &File{p: p, writable: true}, nil

	case unix.O_RDWR:
		p.mu.Lock()
		p.readers++
		p.writers++
		p.rCounter++
		p.wCounter++
		p.mu.Unlock()
		p.openQueue.Notify(waiter.EventIn)
		return &File{p: p, readable: true, writable: true}, nil
	}
	return nil, unix.EINVAL
}

// waitPartner blocks until *counter (protected by p.mu) differs from old.
func (p *Pipe) waitPartner(ctx vfs.Context, counter *uint64, old uint64) error {
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	p.openQueue.EventRegister(e)
	defer p.openQueue.EventUnregister(e)
	for {
		p.mu.Lock()
		changed := *counter != old
		p.mu.Unlock()
		if changed {
			return nil
		}
		if err := ctx.Block(ch); err != nil {
			return err
		}
	}
}

// afterClose sends the notifications due when a reader and/or writer went
// away, and drops the buffer when nobody has the pipe open (Linux frees
// the pipe then: a FIFO's data does not survive its last close).
func (p *Pipe) afterClose(reader, writer bool) {
	p.mu.Lock()
	if p.readers == 0 && p.writers == 0 {
		p.buf, p.head, p.size = nil, 0, 0
	}
	p.mu.Unlock()
	var ev waiter.EventMask
	if reader {
		// Writers must see EPIPE / EPOLLERR.
		ev |= writeEvents
	}
	if writer {
		// Readers must see EOF / EPOLLHUP.
		ev |= readEvents
	}
	p.queue.Notify(ev)
}

// Capacity returns the pipe's capacity in bytes (F_GETPIPE_SZ).
func (p *Pipe) Capacity() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.capacity
}

// SetCapacity implements F_SETPIPE_SZ: the size is rounded up to a power
// of two number of pages; it fails with EBUSY if the data buffered does
// not fit and EPERM above MaxSize. It returns the new capacity.
func (p *Pipe) SetCapacity(n int64) (int, error) {
	if n < 0 || n > 1<<31 {
		return 0, unix.EINVAL
	}
	size := MinSize
	for int64(size) < n {
		size <<= 1
	}
	if size > MaxSize {
		return 0, unix.EPERM
	}
	p.mu.Lock()
	if p.size > size {
		p.mu.Unlock()
		return 0, unix.EBUSY
	}
	p.linearizeLocked(min(max(p.size, len(p.buf)), size))
	grew := size > p.capacity
	p.capacity = size
	p.mu.Unlock()
	if grew {
		p.queue.Notify(waiter.EventOut | waiter.EventWrNorm)
	}
	return size, nil
}

// Buffered returns the number of bytes waiting to be read (FIONREAD).
func (p *Pipe) Buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// linearizeLocked reallocates the ring as a buffer of n bytes (n >= size)
// with the data at the start.
func (p *Pipe) linearizeLocked(n int) {
	nb := make([]byte, n)
	p.copyOutLocked(nb[:p.size], false)
	p.buf, p.head = nb, 0
}

// copyOutLocked copies the first len(dst) buffered bytes into dst, and
// consumes them if consume.
func (p *Pipe) copyOutLocked(dst []byte, consume bool) {
	n := len(dst)
	if n == 0 {
		return
	}
	first := min(n, len(p.buf)-p.head)
	copy(dst, p.buf[p.head:p.head+first])
	copy(dst[first:], p.buf[:n-first])
	if consume {
		p.head = (p.head + n) % len(p.buf)
		p.size -= n
		if p.size == 0 {
			p.head = 0
		}
	}
}

// appendLocked appends src to the buffer; the caller checked that it fits
// in the capacity.
func (p *Pipe) appendLocked(src []byte) {
	n := len(src)
	if p.size+n > len(p.buf) {
		want := max(2*len(p.buf), p.size+n, 4096)
		p.linearizeLocked(min(want, p.capacity))
	}
	tail := (p.head + p.size) % len(p.buf)
	first := min(n, len(p.buf)-tail)
	copy(p.buf[tail:], src[:first])
	copy(p.buf, src[first:])
	p.size += n
}

// read implements File.Read.
func (p *Pipe) read(ctx vfs.Context, dst []byte, nonblock bool) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	var ch chan struct{}
	for {
		if err := p.lockIO(ctx); err != nil {
			return 0, err
		}
		p.mu.Lock()
		if p.size > 0 {
			n := min(len(dst), p.size)
			p.copyOutLocked(dst[:n], true)
			p.mu.Unlock()
			p.unlockIO()
			p.queue.Notify(waiter.EventOut | waiter.EventWrNorm)
			return n, nil
		}
		eof := p.writers == 0
		p.mu.Unlock()
		p.unlockIO()
		if eof {
			return 0, nil
		}
		if nonblock {
			return 0, unix.EAGAIN
		}
		if ch == nil {
			// Register, then look again, so that a write between the
			// check above and the registration is not missed.
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(readEvents)
			p.queue.EventRegister(e)
			defer p.queue.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			return 0, err
		}
	}
}

// write implements File.Write. Writes of at most PipeBuf bytes happen all
// at once or not at all; bigger ones may be split and interleaved with
// other writers' data.
func (p *Pipe) write(ctx vfs.Context, src []byte, nonblock bool) (int, error) {
	if len(src) == 0 {
		return 0, nil
	}
	atomic := len(src) <= PipeBuf
	done := 0
	var ch chan struct{}
	for {
		if err := p.lockIO(ctx); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		p.mu.Lock()
		if p.readers == 0 {
			p.mu.Unlock()
			p.unlockIO()
			if done > 0 {
				return done, nil
			}
			return 0, unix.EPIPE
		}
		free := p.capacity - p.size
		n := 0
		if atomic {
			if free >= len(src) {
				n = len(src)
			}
		} else {
			n = min(free, len(src)-done)
		}
		if n > 0 {
			p.appendLocked(src[done : done+n])
			done += n
		}
		p.mu.Unlock()
		p.unlockIO()
		if n > 0 {
			p.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
		}
		if done == len(src) {
			return done, nil
		}
		if nonblock {
			if done > 0 {
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(writeEvents)
			p.queue.EventRegister(e)
			defer p.queue.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
}

// File is one open file description of a pipe: an anonymous pipe's read
// or write end, or an open FIFO.
type File struct {
	p                  *Pipe
	readable, writable bool
	// wSeen is the writer counter value before which writers do not
	// count for EPOLLHUP (set for O_NONBLOCK FIFO readers that opened
	// with no writer: they see no hangup until a writer came and went).
	wSeen uint64

	relOnce sync.Once
}

var _ vfs.FileImpl = (*File)(nil)

// Pipe returns the pipe f is open on.
func (f *File) Pipe() *Pipe { return f.p }

// Readable reports whether f was opened for reading.
func (f *File) Readable() bool { return f.readable }

// Writable reports whether f was opened for writing.
func (f *File) Writable() bool { return f.writable }

// Read implements vfs.FileImpl.Read.
func (f *File) Read(ctx vfs.Context, dst []byte, off int64, nonblock bool) (int, error) {
	if !f.readable {
		return 0, unix.EBADF
	}
	return f.p.read(ctx, dst, nonblock)
}

// Write implements vfs.FileImpl.Write. It returns unix.EPIPE when there is
// no reader; the caller (the write syscall) sends SIGPIPE then.
func (f *File) Write(ctx vfs.Context, src []byte, off int64, nonblock bool) (int, error) {
	if !f.writable {
		return 0, unix.EBADF
	}
	return f.p.write(ctx, src, nonblock)
}

// Ioctl implements vfs.FileImpl.Ioctl: FIONREAD.
func (f *File) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	switch cmd {
	case vfs.FIONREAD:
		// Either end reports what the pipe holds, as on Linux.
		n := uint32(f.p.Buffered())
		b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
		if err := io.CopyOut(uintptr(arg), b); err != nil {
			return 0, err
		}
		return 0, nil
	}
	return 0, unix.ENOTTY
}

// Readiness implements waiter.Waitable.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	p := f.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var ready waiter.EventMask
	if f.readable {
		if p.size > 0 {
			ready |= waiter.EventIn | waiter.EventRdNorm
		}
		if p.writers == 0 && p.wCounter != f.wSeen {
			ready |= waiter.EventHUp
		}
	}
	if f.writable {
		if p.capacity-p.size >= min(PipeBuf, p.capacity) {
			ready |= waiter.EventOut | waiter.EventWrNorm
		}
		if p.readers == 0 {
			ready |= waiter.EventErr
		}
	}
	return ready & mask
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.p.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.p.queue.EventUnregister(e) }

// Release implements vfs.FileImpl.Release.
func (f *File) Release() {
	f.relOnce.Do(func() {
		p := f.p
		p.mu.Lock()
		if f.readable {
			p.readers--
		}
		if f.writable {
			p.writers--
		}
		p.mu.Unlock()
		p.afterClose(f.readable, f.writable)
	})
}

// PipeSize implements F_GETPIPE_SZ.
func (f *File) PipeSize() int64 { return int64(f.p.Capacity()) }

// SetPipeSize implements F_SETPIPE_SZ.
func (f *File) SetPipeSize(n int64) (int64, error) {
	s, err := f.p.SetCapacity(n)
	return int64(s), err
}
