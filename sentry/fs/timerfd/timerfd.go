// Package timerfd implements timerfd_create(2) files: a timer on a host
// clock whose expirations are counted, read(2) as an 8-byte count (which
// resets it), and signalled by readability.
package timerfd

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/ktime"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// File is an open timerfd.
type File struct {
	vfs.NoIoctl
	timer *ktime.Timer

	mu sync.Mutex
	// ticks counts the expirations not yet read.
	ticks uint64
	queue waiter.Queue
}

var _ vfs.FileImpl = (*File)(nil)

// New returns a disarmed timerfd on clock c.
func New(c ktime.HostClock) *File {
	f := &File{}
	f.timer = ktime.NewTimer(c, f.expired)
	return f
}

// expired counts n expirations (called with the timer's lock held).
func (f *File) expired(n uint64) {
	f.mu.Lock()
	f.ticks += n
	f.mu.Unlock()
	f.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
}

// Set implements timerfd_settime(2): value (absolute on the clock if abs;
// 0 disarms) and interval. Unread expirations are dropped, as Linux's
// timerfd_setup does. It returns the old value (time left) and interval.
func (f *File) Set(value, interval time.Duration, abs bool) (oldValue, oldInterval time.Duration) {
	s := ktime.Absolute(value, interval)
	if !abs {
		s = ktime.Relative(f.timer.Clock().Now(), value, interval)
	}
	old, now := f.timer.Set(s, func() {
		f.mu.Lock()
		f.ticks = 0
		f.mu.Unlock()
	})
	return old.Remaining(now)
}

// Get implements timerfd_gettime(2): time left and interval.
func (f *File) Get() (value, interval time.Duration) {
	s, now := f.timer.Get()
	return s.Remaining(now)
}

// Ticks returns the expirations not yet read (for /proc/<pid>/fdinfo).
func (f *File) Ticks() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ticks
}

// Read implements vfs.FileImpl.Read: the number of expirations since the
// last read, waiting for one (EAGAIN if nonblock). Less than 8 bytes is
// EINVAL.
func (f *File) Read(ctx vfs.Context, dst []byte, off int64, nonblock bool) (int, error) {
	if len(dst) < 8 {
		return 0, unix.EINVAL
	}
	var ch chan struct{}
	for {
		f.mu.Lock()
		if n := f.ticks; n > 0 {
			f.ticks = 0
			f.mu.Unlock()
			binary.NativeEndian.PutUint64(dst, n)
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

// Write implements vfs.FileImpl.Write: timerfds cannot be written.
func (f *File) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Readiness implements waiter.Waitable: readable once the timer expired.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ticks > 0 {
		return mask & (waiter.EventIn | waiter.EventRdNorm)
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.queue.EventUnregister(e) }

// Release implements vfs.FileImpl.Release: the timer stops.
func (f *File) Release() { f.timer.Stop() }
