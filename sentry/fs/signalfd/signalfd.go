// Package signalfd implements signalfd(2) files: reading one takes pending
// signals of a mask from the reader's queues (thread, then process), as
// struct signalfd_siginfo records, instead of having them delivered.
//
// Linux decides readiness for whoever polls (signalfd_poll looks at
// current's signals). Here poll(2) and epoll do not say who polls, so a
// signalfd's readiness is that of the task that created it, which is also
// the reader in the usual use; read(2) always takes the reader's signals.
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

// SiginfoSize is sizeof(struct signalfd_siginfo).
const SiginfoSize = 128

// File is an open signalfd.
type File struct {
	vfs.NoIoctl
	owner *kernel.Task

	mu   sync.Mutex
	mask uint64
}

var _ vfs.FileImpl = (*File)(nil)

// New returns a signalfd of owner for the signals in mask (SIGKILL and
// SIGSTOP are never read).
func New(owner *kernel.Task, mask uint64) *File {
	f := &File{owner: owner}
	f.SetMask(mask)
	return f
}

// SetMask replaces the signals the file reads (signalfd(2) on an existing
// signalfd).
func (f *File) SetMask(mask uint64) {
	f.mu.Lock()
	f.mask = mask &^ (kernel.SigBit(unix.SIGKILL) | kernel.SigBit(unix.SIGSTOP))
	f.mu.Unlock()
}

// Mask returns the signals the file reads (for /proc/<pid>/fdinfo).
func (f *File) Mask() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mask
}

// Read implements vfs.FileImpl.Read: as many pending signals of the mask
// as fit, waiting for one unless nonblock (EAGAIN). A buffer smaller than
// one record is EINVAL.
func (f *File) Read(ctx vfs.Context, dst []byte, off int64, nonblock bool) (int, error) {
	if len(dst) < SiginfoSize {
		return 0, unix.EINVAL
	}
	t, ok := ctx.(*kernel.Task)
	if !ok {
		t = f.owner
	}
	var ch chan struct{}
	for {
		n := 0
		for ; n+SiginfoSize <= len(dst); n += SiginfoSize {
			info := t.DequeueSignal(f.Mask())
			if info == nil {
				break
			}
			Marshal(info, dst[n:n+SiginfoSize])
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
			q := t.ThreadGroup().SignalQueue()
			q.EventRegister(e)
			defer q.EventUnregister(e)
			continue
		}
		if err := t.Block(ch); err != nil {
			return 0, err
		}
	}
}

// Write implements vfs.FileImpl.Write: signalfds cannot be written.
func (f *File) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Readiness implements waiter.Waitable: readable while a signal of the
// mask is pending for the owner.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	if f.owner.PendingSignals()&f.Mask() != 0 {
		return mask & (waiter.EventIn | waiter.EventRdNorm)
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.owner.ThreadGroup().SignalQueue().EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) {
	f.owner.ThreadGroup().SignalQueue().EventUnregister(e)
}

// Release implements vfs.FileImpl.Release.
func (f *File) Release() {}

// siginfo si_code values that select the layout (siginfo_layout in
// kernel/signal.c).
const (
	siUser   = 0
	siKernel = 0x80
	siTimer  = -2
	siSigio  = -5
	nsigpoll = 6
)

// Marshal writes info as a struct signalfd_siginfo into b (128 bytes),
// filling the fields its layout has, as signalfd_copyinfo does.
func Marshal(info *arch.SignalInfo, b []byte) {
	clear(b[:SiginfoSize])
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(info.Signo))
	le.PutUint32(b[4:], uint32(info.Errno))
	le.PutUint32(b[8:], uint32(info.Code))
	sig, code := unix.Signal(info.Signo), info.Code
	kill := func() {
		le.PutUint32(b[12:], uint32(info.PID()))
		le.PutUint32(b[16:], info.UID())
	}
	switch {
	case code > siUser && code < siKernel:
		switch {
		case sig == unix.SIGCHLD && code <= 6:
			kill()
			le.PutUint32(b[40:], uint32(info.Status()))
			le.PutUint64(b[56:], uint64(info.Utime()))
			le.PutUint64(b[64:], uint64(info.Stime()))
		case (sig == unix.SIGSEGV || sig == unix.SIGBUS || sig == unix.SIGILL || sig == unix.SIGFPE ||
			sig == unix.SIGTRAP) && code <= 11:
			le.PutUint64(b[72:], info.Addr())
			le.PutUint16(b[80:], uint16(info.AddrLSB()))
		case sig == unix.SIGSYS && code == 1:
			le.PutUint64(b[88:], info.CallAddr())
			le.PutUint32(b[84:], uint32(info.Syscall()))
			le.PutUint32(b[96:], info.Arch())
		case code <= nsigpoll:
			le.PutUint32(b[28:], uint32(info.Band()))
			le.PutUint32(b[20:], uint32(info.FD()))
		default:
			kill()
		}
	case code == siTimer:
		le.PutUint32(b[24:], uint32(info.TimerID()))
		le.PutUint32(b[32:], uint32(info.Overrun()))
		le.PutUint64(b[48:], info.Value())
		le.PutUint32(b[44:], uint32(info.Value()))
	case code == siSigio:
		le.PutUint32(b[28:], uint32(info.Band()))
		le.PutUint32(b[20:], uint32(info.FD()))
	case code < 0:
		kill()
		le.PutUint64(b[48:], info.Value())
		le.PutUint32(b[44:], uint32(info.Value()))
	default:
		kill()
	}
}
