package syscalls

// timerfd_create(2), timerfd_settime(2), timerfd_gettime(2).

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/timerfd"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/ktime"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_TIMERFD_CREATE, "timerfd_create", sysTimerfdCreate, Int, Hex)
	register(unix.SYS_TIMERFD_SETTIME, "timerfd_settime", sysTimerfdSettime, FD, Hex, Hex, Hex).partial(
		"TFD_TIMER_CANCEL_ON_SET is accepted and never cancels (the sandbox's clock cannot be set); the TFD_IOC_SET_TICKS ioctl: ENOTTY")
	register(unix.SYS_TIMERFD_GETTIME, "timerfd_gettime", sysTimerfdGettime, FD, Hex)
}

// timerfd flags (include/uapi/linux/timerfd.h).
const (
	tfdTimerAbstime     = 1
	tfdTimerCancelOnSet = 2
)

func sysTimerfdCreate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	clock, flags := int32(a[0]), uint32(a[1])
	if flags&^(unix.TFD_CLOEXEC|unix.TFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	switch clock {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME:
	case unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
		if !t.HasCapability(unix.CAP_WAKE_ALARM) {
			return 0, unix.EPERM
		}
	default:
		return 0, unix.EINVAL
	}
	hc, _ := ktime.HostClockOf(clock)
	file := vfs.NewFileDescription(timerfd.New(hc), unix.O_RDWR|flags&unix.O_NONBLOCK,
		vfs.NewAnonInode(t, 0o600), "anon_inode:[timerfd]")
	return anonInstall(t, file, flags&unix.O_CLOEXEC != 0)
}

// timerfdOf returns the timerfd behind fd: EBADF if fd is not open, EINVAL
// if it is not a timerfd. The caller drops the reference.
func timerfdOf(t *kernel.Task, fd int32) (*vfs.FileDescription, *timerfd.File, error) {
	f, err := t.FDTable().GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	tf, ok := f.Impl().(*timerfd.File)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return f, tf, nil
}

func sysTimerfdSettime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, flags, newAddr, oldAddr := int32(a[0]), int(a[1]), uintptr(a[2]), uintptr(a[3])
	if flags&^(tfdTimerAbstime|tfdTimerCancelOnSet) != 0 {
		return 0, unix.EINVAL
	}
	interval, value, err := copyInItimerspec(t, newAddr)
	if err != nil {
		return 0, err
	}
	f, tf, err := timerfdOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	oldValue, oldInterval := tf.Set(value, interval, flags&tfdTimerAbstime != 0)
	if oldAddr != 0 {
		return 0, t.CopyOut(oldAddr, itimerspecBytes(oldInterval, oldValue))
	}
	return 0, nil
}

func sysTimerfdGettime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, tf, err := timerfdOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	value, interval := tf.Get()
	return 0, t.CopyOut(uintptr(a[1]), itimerspecBytes(interval, value))
}
