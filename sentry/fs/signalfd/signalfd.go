// Package signalfd implements signalfd(2) files: reading one takes the
// caller's pending signals of the file's mask (blocked, so not delivered)
// as struct signalfd_siginfo records; it is readable while one is pending.
//
// As on Linux, a read takes the reader's signals (its own and its thread
// group's). Readiness (poll, epoll) is that of the thread that created
// the file, where Linux uses the poller's: the same unless the file is
// passed to another process.
package signalfd

import (
	"encoding/binary"
	"sync"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// InfoSize is sizeof(struct signalfd_siginfo).
const InfoSize = 128

// unblockable signals are never taken by a signalfd.
var unblockable = kernel.SigBit(unix.SIGKILL) | kernel.SigBit(unix.SIGSTOP)

// File is an open signalfd.
type File struct {
	vfs.NoIoctl
	vfs.NoRelease
	t *kernel.Task

	mu   sync.Mutex
	mask uint64
}

var _ vfs.FileImpl = (*File)(nil)

// New returns a signalfd of creator for the signals in mask.
func New(creator *kernel.Task, mask uint64) *File {
	return &File{t: creator, mask: mask &^ unblockable}
}

// SetMask replaces the mask (signalfd on an existing descriptor).
func (f *File) SetMask(mask uint64) {
	f.mu.Lock()
	f.mask = mask &^ unblockable
	f.mu.Unlock()
}

// Mask returns the mask (/proc/<pid>/fdinfo's sigmask).
func (f *File) Mask() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mask
}

// Read implements vfs.FileImpl: as many records as fit and are pending,
// waiting for one unless nonblock.
func (f *File) Read(ctx vfs.Context, dst []byte, _ int64, nonblock bool) (int, error) {
	if len(dst) < InfoSize {
		return 0, unix.EINVAL
	}
	t, ok := ctx.(*kernel.Task)
	if !ok {
		t = f.t
	}
	var ch chan struct{}
	for {
		n := 0
		mask := f.Mask()
		for len(dst)-n >= InfoSize {
			info := t.DequeueSignal(mask)
			if info == nil {
				break
			}
			encode(dst[n:n+InfoSize], info)
			n += InfoSize
		}
		if n > 0 {
			return n, nil
		}
		if nonblock {
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(waiter.EventIn)
			t.SignalfdRegister(e)
			defer t.SignalfdUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			return 0, err
		}
	}
}

// encode fills a struct signalfd_siginfo from info (signalfd_copyinfo).
func encode(b []byte, info *arch.SignalInfo) {
	clear(b)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(info.Signo))
	le.PutUint32(b[4:], uint32(info.Errno))
	le.PutUint32(b[8:], uint32(info.Code))
	le.PutUint32(b[12:], uint32(info.PID()))
	le.PutUint32(b[16:], info.UID())
	switch unix.Signal(info.Signo) {
	case unix.SIGCHLD:
		le.PutUint32(b[40:], uint32(info.Status()))
		le.PutUint64(b[56:], uint64(info.Utime()))
		le.PutUint64(b[64:], uint64(info.Stime()))
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGILL, unix.SIGFPE, unix.SIGTRAP:
		if info.Code > 0 {
			le.PutUint32(b[12:], 0)
			le.PutUint32(b[16:], 0)
			le.PutUint64(b[72:], info.Addr())
		}
	default:
		// si_value of sigqueue and timers: ssi_int and ssi_ptr.
		v := le.Uint64(info.Fields[24-16:])
		le.PutUint32(b[44:], uint32(v))
		le.PutUint64(b[48:], v)
	}
}

// Write implements vfs.FileImpl: signalfds are not writable.
func (f *File) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Readiness implements waiter.Waitable.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	if mask&(waiter.EventIn|waiter.EventRdNorm) != 0 && f.t.HasPendingSignal(f.Mask()) {
		return mask & (waiter.EventIn | waiter.EventRdNorm)
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.t.SignalfdRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.t.SignalfdUnregister(e) }
