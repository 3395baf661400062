// Package eventfd implements eventfd(2) files: a 64-bit counter that
// write(2) adds to and read(2) takes (all of it, or 1 in semaphore mode),
// with blocking and readiness notification.
package eventfd

import (
	"encoding/binary"
	"sync"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// MaxCount is the largest value the counter can hold (0xfffffffffffffffe):
// a write that would go beyond blocks.
const MaxCount = ^uint64(0) - 1

// File is an open eventfd.
type File struct {
	vfs.NoIoctl
	semaphore bool

	mu    sync.Mutex
	count uint64
	queue waiter.Queue
}

var _ vfs.FileImpl = (*File)(nil)

// New returns an eventfd with counter initval; semaphore selects
// EFD_SEMAPHORE semantics.
func New(initval uint64, semaphore bool) *File {
	return &File{count: initval, semaphore: semaphore}
}

// Value returns the current counter (for /proc/<pid>/fdinfo).
func (f *File) Value() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// Semaphore reports whether f was created with EFD_SEMAPHORE.
func (f *File) Semaphore() bool { return f.semaphore }

// Read implements vfs.FileImpl.Read: it takes the counter (or 1 of it in
// semaphore mode), waiting while it is zero.
func (f *File) Read(ctx vfs.Context, dst []byte, off int64, nonblock bool) (int, error) {
	if len(dst) < 8 {
		return 0, unix.EINVAL
	}
	var ch chan struct{}
	for {
		f.mu.Lock()
		if f.count > 0 {
			v := f.count
			if f.semaphore {
				v = 1
			}
			f.count -= v
			f.mu.Unlock()
			binary.NativeEndian.PutUint64(dst, v)
			f.queue.Notify(waiter.EventOut | waiter.EventWrNorm)
			return 8, nil
		}
		f.mu.Unlock()
		if nonblock {
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(waiter.EventIn)
			f.queue.EventRegister(e)
			defer f.queue.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			return 0, err
		}
	}
}

// Write implements vfs.FileImpl.Write: it adds an 8-byte value to the
// counter, waiting while the sum would exceed MaxCount.
func (f *File) Write(ctx vfs.Context, src []byte, off int64, nonblock bool) (int, error) {
	if len(src) < 8 {
		return 0, unix.EINVAL
	}
	v := binary.NativeEndian.Uint64(src)
	if v == ^uint64(0) {
		return 0, unix.EINVAL
	}
	if err := f.add(ctx, v, nonblock); err != nil {
		return 0, err
	}
	return 8, nil
}

// Signal adds v to the counter without blocking (for in-kernel users such
// as AIO or io_uring completions); it fails with EAGAIN on overflow.
func (f *File) Signal(v uint64) error {
	return f.add(nil, v, true)
}

func (f *File) add(ctx vfs.Context, v uint64, nonblock bool) error {
	var ch chan struct{}
	for {
		f.mu.Lock()
		if v <= MaxCount-f.count {
			f.count += v
			f.mu.Unlock()
			if v > 0 {
				f.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
			}
			return nil
		}
		f.mu.Unlock()
		if nonblock {
			return unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(waiter.EventOut)
			f.queue.EventRegister(e)
			defer f.queue.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			return err
		}
	}
}

// Readiness implements waiter.Waitable.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ready waiter.EventMask
	if f.count > 0 {
		ready |= waiter.EventIn | waiter.EventRdNorm
	}
	if f.count < MaxCount {
		ready |= waiter.EventOut | waiter.EventWrNorm
	}
	if f.count == ^uint64(0) {
		ready |= waiter.EventErr
	}
	return ready & mask
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.queue.EventUnregister(e) }

// Release implements vfs.FileImpl.Release.
func (f *File) Release() {}
