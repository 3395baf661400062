package syscalls

// POSIX timers: timer_create(2), timer_settime(2), timer_gettime(2),
// timer_getoverrun(2), timer_delete(2). The timers are the kernel's
// (sentry/kernel/posixtimer.go).

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_TIMER_CREATE, "timer_create", sysTimerCreate, Int, Hex, Hex)
	register(unix.SYS_TIMER_SETTIME, "timer_settime", sysTimerSettime, Int, Hex, Hex, Hex)
	register(unix.SYS_TIMER_GETTIME, "timer_gettime", sysTimerGettime, Int, Hex)
	register(unix.SYS_TIMER_GETOVERRUN, "timer_getoverrun", sysTimerGetoverrun, Int)
	register(unix.SYS_TIMER_DELETE, "timer_delete", sysTimerDelete, Int)
}

// sizeofSigevent is sizeof(struct sigevent).
const sizeofSigevent = 64

// timerClockOK checks that timers may be created on clock id (Linux's
// clockid_to_kclock and the clocks' timer_create): the coarse and raw
// clocks have no timers, the alarm clocks need CAP_WAKE_ALARM.
func timerClockOK(t *kernel.Task, id int32) error {
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_TAI:
		return nil
	case unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
		if !t.HasCapability(unix.CAP_WAKE_ALARM) {
			return unix.EPERM
		}
		return nil
	case unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE:
		return unix.EOPNOTSUPP
	}
	if kernel.IsCPUClock(id) {
		return nil // validated by the kernel
	}
	return unix.EINVAL
}

func sysTimerCreate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	clock, evAddr, idAddr := int32(a[0]), uintptr(a[1]), uintptr(a[2])
	if err := timerClockOK(t, clock); err != nil {
		return 0, err
	}
	var ev *kernel.TimerEvent
	if evAddr != 0 {
		var b [sizeofSigevent]byte
		if err := t.CopyIn(evAddr, b[:]); err != nil {
			return 0, err
		}
		ev = &kernel.TimerEvent{
			Value:    binary.LittleEndian.Uint64(b[0:]),
			Signo:    unix.Signal(int32(binary.LittleEndian.Uint32(b[8:]))),
			Notify:   int32(binary.LittleEndian.Uint32(b[12:])),
			ThreadID: kernel.ThreadID(int32(binary.LittleEndian.Uint32(b[16:]))),
		}
	}
	id, err := t.CreateTimer(clock, ev)
	if err != nil {
		return 0, err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(id))
	if err := t.CopyOut(idAddr, b[:]); err != nil {
		t.DeleteTimer(id)
		return 0, err
	}
	return 0, nil
}

// copyInItimerspec reads a struct itimerspec: interval, then value (EINVAL
// for a negative or malformed time, as timespec64_valid).
func copyInItimerspec(t *kernel.Task, addr uintptr) (interval, value time.Duration, err error) {
	var b [32]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, 0, err
	}
	ds := [2]time.Duration{}
	for i := range ds {
		sec, nsec := int64(binary.LittleEndian.Uint64(b[i*16:])), int64(binary.LittleEndian.Uint64(b[i*16+8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return 0, 0, unix.EINVAL
		}
		ds[i] = time.Duration(min(sec, 1<<33))*time.Second + time.Duration(nsec)
	}
	return ds[0], ds[1], nil
}

// itimerspecBytes is a struct itimerspec.
func itimerspecBytes(interval, value time.Duration) []byte {
	var b [32]byte
	for i, d := range []time.Duration{interval, value} {
		binary.LittleEndian.PutUint64(b[i*16:], uint64(d/time.Second))
		binary.LittleEndian.PutUint64(b[i*16+8:], uint64(d%time.Second))
	}
	return b[:]
}

func sysTimerSettime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, flags, newAddr, oldAddr := int32(a[0]), int(a[1]), uintptr(a[2]), uintptr(a[3])
	if newAddr == 0 {
		return 0, unix.EINVAL
	}
	interval, value, err := copyInItimerspec(t, newAddr)
	if err != nil {
		return 0, err
	}
	pt, err := t.Timer(id)
	if err != nil {
		return 0, err
	}
	oldValue, oldInterval := pt.Set(value, interval, flags&unix.TIMER_ABSTIME != 0)
	if oldAddr != 0 {
		return 0, t.CopyOut(oldAddr, itimerspecBytes(oldInterval, oldValue))
	}
	return 0, nil
}

func sysTimerGettime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pt, err := t.Timer(int32(a[0]))
	if err != nil {
		return 0, err
	}
	value, interval := pt.Get()
	return 0, t.CopyOut(uintptr(a[1]), itimerspecBytes(interval, value))
}

func sysTimerGetoverrun(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pt, err := t.Timer(int32(a[0]))
	if err != nil {
		return 0, err
	}
	return uintptr(pt.Overrun()), nil
}

func sysTimerDelete(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.DeleteTimer(int32(a[0]))
}
