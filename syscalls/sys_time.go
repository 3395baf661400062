package syscalls

// Time: clock_gettime(2), clock_getres(2), gettimeofday(2), time(2),
// nanosleep(2), clock_nanosleep(2), setitimer(2), getitimer(2), alarm(2),
// times(2).

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_CLOCK_GETTIME, "clock_gettime", sysClockGettime, Int, Hex)
	register(unix.SYS_CLOCK_GETRES, "clock_getres", sysClockGetres, Int, Hex)
	register(unix.SYS_GETTIMEOFDAY, "gettimeofday", sysGettimeofday, Hex, Hex)
	register(unix.SYS_TIME, "time", sysTime, Hex)
	register(unix.SYS_NANOSLEEP, "nanosleep", sysNanosleep, Hex, Hex)
	register(unix.SYS_CLOCK_NANOSLEEP, "clock_nanosleep", sysClockNanosleep, Int, Int, Hex, Hex).partial("CPU-time clocks: EOPNOTSUPP")
	register(unix.SYS_SETITIMER, "setitimer", sysSetitimer, Int, Hex, Hex).partial("ITIMER_VIRTUAL and ITIMER_PROF: EINVAL")
	register(unix.SYS_GETITIMER, "getitimer", sysGetitimer, Int, Hex).partial("ITIMER_VIRTUAL and ITIMER_PROF: EINVAL")
	register(unix.SYS_ALARM, "alarm", sysAlarm, Int)
	register(unix.SYS_TIMES, "times", sysTimes, Hex)
}

// Clock readings come from the host's clocks read by the Sentry: the
// monotonic clocks share the host's origin (as Linux's do within a pid
// namespace without a time namespace).
func clockNow(t *kernel.Task, id int32) (unix.Timespec, error) {
	var ts unix.Timespec
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_TAI:
		return ts, unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	case unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_BOOTTIME:
		return ts, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	case unix.CLOCK_PROCESS_CPUTIME_ID, unix.CLOCK_THREAD_CPUTIME_ID:
		// CPU time accounting is not implemented; report time since
		// the process started, which only over-counts.
		d := time.Since(t.Kernel().BootTime())
		return unix.NsecToTimespec(d.Nanoseconds()), nil
	}
	return ts, unix.EINVAL
}

func copyOutTimespec(t *kernel.Task, addr uintptr, ts unix.Timespec) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(ts.Sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(ts.Nsec))
	return t.CopyOut(addr, b[:])
}

// copyInTimespec reads a struct timespec as a duration (EINVAL for a bad
// nsec field).
func copyInTimespec(t *kernel.Task, addr uintptr) (time.Duration, error) {
	var b [16]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if nsec < 0 || nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	if sec > 1<<33 {
		sec = 1 << 33 // ~272 years: forever, without overflowing Duration
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), nil
}

func sysClockGettime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ts, err := clockNow(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, copyOutTimespec(t, uintptr(a[1]), ts)
}

func sysClockGetres(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if _, err := clockNow(t, int32(a[0])); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	res := unix.Timespec{Nsec: 1}
	switch int32(a[0]) {
	case unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE:
		res.Nsec = 4000000
	}
	return 0, copyOutTimespec(t, uintptr(a[1]), res)
}

func sysGettimeofday(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0] != 0 {
		now := time.Now()
		var b [16]byte
		binary.LittleEndian.PutUint64(b[0:], uint64(now.Unix()))
		binary.LittleEndian.PutUint64(b[8:], uint64(now.Nanosecond()/1000))
		if err := t.CopyOut(uintptr(a[0]), b[:]); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz [8]byte // UTC
		return 0, t.CopyOut(uintptr(a[1]), tz[:])
	}
	return 0, nil
}

func sysTime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	now := time.Now().Unix()
	if a[0] != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(now))
		if err := t.CopyOut(uintptr(a[0]), b[:]); err != nil {
			return 0, err
		}
	}
	return uintptr(now), nil
}

// sleep blocks for d; when a signal interrupts it, the remaining time is
// written to remAddr and the call ends with EINTR semantics.
func sleep(t *kernel.Task, deadline time.Time, remAddr uintptr) error {
	err := t.BlockUntil(nil, deadline)
	if err == unix.ETIMEDOUT {
		return nil
	}
	if remAddr != 0 {
		rem := time.Until(deadline)
		if rem < 0 {
			rem = 0
		}
		if err := copyOutTimespec(t, remAddr, unix.NsecToTimespec(rem.Nanoseconds())); err != nil {
			return err
		}
	}
	// nanosleep is not restarted after a handler (EINTR); without a
	// handler it restarts with its original duration (Linux would use
	// restart_syscall with the remaining time).
	return syserr.ERESTART_RESTARTBLOCK
}

func sysNanosleep(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	d, err := copyInTimespec(t, uintptr(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, sleep(t, time.Now().Add(d), uintptr(a[1]))
}

func sysClockNanosleep(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	clock, flags := int32(a[0]), int(a[1])
	switch clock {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_TAI:
	case unix.CLOCK_PROCESS_CPUTIME_ID:
		return 0, unsupported(t, "clock_nanosleep(CPU clock)", unix.EOPNOTSUPP)
	case unix.CLOCK_THREAD_CPUTIME_ID:
		return 0, unix.EINVAL
	default:
		return 0, unix.EINVAL
	}
	d, err := copyInTimespec(t, uintptr(a[2]))
	if err != nil {
		return 0, err
	}
	var deadline time.Time
	if flags&unix.TIMER_ABSTIME != 0 {
		now, _ := clockNow(t, clock)
		deadline = time.Now().Add(d - time.Duration(now.Nano()))
		if err := t.BlockUntil(nil, deadline); err != unix.ETIMEDOUT {
			return 0, syserr.ERESTARTNOHAND
		}
		return 0, nil
	}
	return 0, sleep(t, time.Now().Add(d), uintptr(a[3]))
}

func copyInTimeval(t *kernel.Task, addr uintptr) (time.Duration, error) {
	var b [16]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	sec, usec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if usec < 0 || usec >= 1e6 || sec < 0 {
		return 0, unix.EINVAL
	}
	sec = min(sec, 1<<33) // ~272 years: forever, without overflowing Duration
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

func timevalBytes(d time.Duration) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(d%time.Second/time.Microsecond))
	return b[:]
}

// setitimer(2): ITIMER_REAL only; the CPU-time timers need CPU accounting
// the Sentry does not do yet.
func sysSetitimer(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if int(a[0]) != unix.ITIMER_REAL {
		if int(a[0]) == unix.ITIMER_VIRTUAL || int(a[0]) == unix.ITIMER_PROF {
			return 0, unsupported(t, "setitimer(ITIMER_VIRTUAL/PROF)", unix.EINVAL)
		}
		return 0, unix.EINVAL
	}
	var interval, value time.Duration
	if a[1] != 0 {
		var err error
		if interval, err = copyInTimeval(t, uintptr(a[1])); err != nil {
			return 0, err
		}
		if value, err = copyInTimeval(t, uintptr(a[1])+16); err != nil {
			return 0, err
		}
	}
	oldInterval, oldValue := t.ThreadGroup().SetITimerReal(interval, value)
	if a[2] != 0 {
		return 0, t.CopyOut(uintptr(a[2]), append(timevalBytes(oldInterval), timevalBytes(oldValue)...))
	}
	return 0, nil
}

func sysGetitimer(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	switch int(a[0]) {
	case unix.ITIMER_REAL:
		interval, value := t.ThreadGroup().ITimerReal()
		return 0, t.CopyOut(uintptr(a[1]), append(timevalBytes(interval), timevalBytes(value)...))
	case unix.ITIMER_VIRTUAL, unix.ITIMER_PROF:
		return 0, t.CopyOut(uintptr(a[1]), make([]byte, 32))
	}
	return 0, unix.EINVAL
}

func sysAlarm(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	_, old := t.ThreadGroup().SetITimerReal(0, time.Duration(uint32(a[0]))*time.Second)
	secs := old / time.Second
	if old%time.Second != 0 {
		secs++
	}
	return uintptr(secs), nil
}

// times(2): CPU accounting is not implemented, so the tms fields are 0;
// the return value is clock ticks since boot.
func sysTimes(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0] != 0 {
		if err := t.CopyOut(uintptr(a[0]), make([]byte, 32)); err != nil {
			return 0, err
		}
	}
	return uintptr(t.Kernel().Uptime() / (10 * time.Millisecond)), nil
}
