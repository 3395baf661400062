// Package pidfd implements the files pidfd_open(2) returns: a reference to
// a process that becomes readable (POLLIN) when the process exits, and
// also reports POLLHUP once it has been reaped. They cannot be read or
// written.
package pidfd

import (
	"sync"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// File is an open pidfd.
type File struct {
	vfs.NoIoctl
	tg *kernel.ThreadGroup

	queue waiter.Queue
	// watch starts, on the first registration, the goroutine that
	// notifies the queue when the process exits; released stops it.
	watch    sync.Once
	released chan struct{}
}

var _ vfs.FileImpl = (*File)(nil)

// New returns a pidfd of process tg.
func New(tg *kernel.ThreadGroup) *File {
	return &File{tg: tg, released: make(chan struct{})}
}

// ThreadGroup returns the process the pidfd refers to.
func (f *File) ThreadGroup() *kernel.ThreadGroup { return f.tg }

// Exited reports whether the process has exited.
func (f *File) Exited() bool {
	select {
	case <-f.tg.Exited():
		return true
	default:
		return false
	}
}

// Read implements vfs.FileImpl.Read: EINVAL (pidfd_fops has no read).
func (f *File) Read(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Write implements vfs.FileImpl.Write: EINVAL.
func (f *File) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Readiness implements waiter.Waitable, as Linux's pidfd_poll: readable
// once every thread has exited, and hung up once the process is reaped.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	if !f.Exited() {
		return 0
	}
	ready := waiter.EventIn | waiter.EventRdNorm
	if f.tg.Reaped() {
		ready |= waiter.EventHUp
	}
	return mask & ready
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) {
	f.queue.EventRegister(e)
	f.watch.Do(func() {
		go func() {
			select {
			case <-f.tg.Exited():
				f.queue.Notify(waiter.EventIn | waiter.EventRdNorm | waiter.EventHUp)
			case <-f.released:
			}
		}()
	})
}

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.queue.EventUnregister(e) }

// Release implements vfs.FileImpl.Release.
func (f *File) Release() { close(f.released) }
