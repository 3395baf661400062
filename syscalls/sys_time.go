package syscalls

// Time: clock_gettime(2), clock_getres(2), gettimeofday(2), time(2),
// nanosleep(2), clock_nanosleep(2), setitimer(2), getitimer(2), alarm(2),
// times(2), and the calls that would set the clock: clock_settime(2),
// settimeofday(2), adjtimex(2), clock_adjtime(2). POSIX timers are in
// sys_timer.go, timerfd in sys_timerfd.go.

import (
	"encoding/binary"
	"time"
	"unsafe"

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
	register(unix.SYS_CLOCK_NANOSLEEP, "clock_nanosleep", sysClockNanosleep, Int, Int, Hex, Hex)
	register(unix.SYS_SETITIMER, "setitimer", sysSetitimer, Int, Hex, Hex)
	register(unix.SYS_GETITIMER, "getitimer", sysGetitimer, Int, Hex)
	register(unix.SYS_CLOCK_SETTIME, "clock_settime", sysClockSettime, Int, Hex).partial("the sandbox cannot set the clock: EPERM whatever the capabilities")
	register(unix.SYS_SETTIMEOFDAY, "settimeofday", sysSettimeofday, Hex, Hex).partial("the sandbox cannot set the clock: EPERM whatever the capabilities")
	register(unix.SYS_ADJTIMEX, "adjtimex", sysAdjtimex, Hex).partial("read-only queries (modes 0) answer the host's state; changes: EPERM whatever the capabilities")
	register(unix.SYS_CLOCK_ADJTIME, "clock_adjtime", sysClockAdjtime, Int, Hex).partial("CLOCK_REALTIME read-only queries answer the host's state; changes: EPERM whatever the capabilities")
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
	}
	if kernel.IsCPUClock(id) {
		c, err := t.LookupCPUClock(id, false)
		if err != nil {
			return ts, err
		}
		return unix.NsecToTimespec(c.Now().Nanoseconds()), nil
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
	id := int32(a[0])
	res := unix.Timespec{Nsec: 1}
	if kernel.IsCPUClock(id) {
		c, err := t.LookupCPUClock(id, false)
		if err != nil {
			return 0, err
		}
		res.Nsec = int64(c.Resolution())
	} else if _, err := clockNow(t, id); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	switch id {
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
	case unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
		if !t.HasCapability(unix.CAP_WAKE_ALARM) {
			return 0, unix.EPERM
		}
		// The sandbox never suspends: the alarm clocks are the others.
		clock = unix.CLOCK_BOOTTIME
		if int32(a[0]) == unix.CLOCK_REALTIME_ALARM {
			clock = unix.CLOCK_REALTIME
		}
	case unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE:
		return 0, unix.EOPNOTSUPP // no nsleep for these clocks in Linux either
	default:
		if kernel.IsCPUClock(clock) {
			return cpuClockNanosleep(t, clock, flags, uintptr(a[2]), uintptr(a[3]))
		}
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

// cpuClockNanosleep sleeps until a CPU clock reaches a time (posix_cpu_nsleep):
// a process clock, or another thread's clock (the caller's own thread clock
// would never advance: EINVAL). The clock is polled, at the soonest it can
// be due.
func cpuClockNanosleep(t *kernel.Task, id int32, flags int, reqAddr, remAddr uintptr) (uintptr, error) {
	c, err := t.LookupCPUClock(id, false)
	if err != nil {
		return 0, err
	}
	if c.Task == t {
		return 0, unix.EINVAL
	}
	d, err := copyInTimespec(t, reqAddr)
	if err != nil {
		return 0, err
	}
	deadline := d
	abs := flags&unix.TIMER_ABSTIME != 0
	if !abs {
		deadline += c.Now()
	}
	for {
		now := c.Now()
		if now >= deadline {
			return 0, nil
		}
		wait := max((deadline-now)/time.Duration(c.Threads()), time.Millisecond)
		if err := t.BlockTimeout(nil, wait); err != unix.ETIMEDOUT {
			if abs {
				return 0, syserr.ERESTARTNOHAND
			}
			if remAddr != 0 {
				rem := max(deadline-c.Now(), 0)
				if err := copyOutTimespec(t, remAddr, unix.NsecToTimespec(rem.Nanoseconds())); err != nil {
					return 0, err
				}
			}
			return 0, syserr.ERESTART_RESTARTBLOCK
		}
	}
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

// setitimer(2): ITIMER_REAL counts real time, ITIMER_VIRTUAL the
// process's user time and ITIMER_PROF its user and system time (checked by
// the kernel's CPU timer tick, so they expire up to a few milliseconds
// late).
func sysSetitimer(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	which := int(a[0])
	if which != unix.ITIMER_REAL && which != unix.ITIMER_VIRTUAL && which != unix.ITIMER_PROF {
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
	tg := t.ThreadGroup()
	var oldInterval, oldValue time.Duration
	if which == unix.ITIMER_REAL {
		oldInterval, oldValue = tg.SetITimerReal(interval, value)
	} else {
		oldInterval, oldValue = tg.SetITimerCPU(which == unix.ITIMER_PROF, interval, value)
	}
	if a[2] != 0 {
		return 0, t.CopyOut(uintptr(a[2]), append(timevalBytes(oldInterval), timevalBytes(oldValue)...))
	}
	return 0, nil
}

func sysGetitimer(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var interval, value time.Duration
	switch int(a[0]) {
	case unix.ITIMER_REAL:
		interval, value = t.ThreadGroup().ITimerReal()
	case unix.ITIMER_VIRTUAL, unix.ITIMER_PROF:
		interval, value = t.ThreadGroup().ITimerCPU(int(a[0]) == unix.ITIMER_PROF)
	default:
		return 0, unix.EINVAL
	}
	return 0, t.CopyOut(uintptr(a[1]), append(timevalBytes(interval), timevalBytes(value)...))
}

func sysAlarm(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	_, old := t.ThreadGroup().SetITimerReal(0, time.Duration(uint32(a[0]))*time.Second)
	secs := old / time.Second
	if old%time.Second != 0 {
		secs++
	}
	return uintptr(secs), nil
}

// times(2): the process's and its waited-for children's user and system
// time in clock ticks; the return value is clock ticks since boot.
func sysTimes(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0] != 0 {
		tg := t.ThreadGroup()
		u, s := tg.CPUTime()
		cu, cs := tg.ChildrenCPUTime()
		var b [32]byte
		for i, d := range []time.Duration{u, s, cu, cs} {
			binary.LittleEndian.PutUint64(b[i*8:], uint64(kernel.ClockTicks(d)))
		}
		if err := t.CopyOut(uintptr(a[0]), b[:]); err != nil {
			return 0, err
		}
	}
	return uintptr(t.Kernel().Uptime() / (10 * time.Millisecond)), nil
}

// The sandbox cannot set the host's clock, and keeps no clock of its own:
// whatever its capabilities (CAP_SYS_TIME), setting the time fails with
// EPERM after the argument checks Linux makes first.

// clock_settime(2).
func sysClockSettime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id := int32(a[0])
	switch {
	case id == unix.CLOCK_REALTIME:
	case kernel.IsCPUClock(id):
		if _, err := t.LookupCPUClock(id, false); err != nil {
			return 0, err
		}
		return 0, unix.EPERM // posix_cpu_clock_set
	default:
		return 0, unix.EINVAL // not a settable clock
	}
	if _, err := copyInTimespec(t, uintptr(a[1])); err != nil {
		return 0, err
	}
	return 0, unix.EPERM
}

// settimeofday(2).
func sysSettimeofday(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0] != 0 {
		if _, err := copyInTimeval(t, uintptr(a[0])); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz [8]byte
		if err := t.CopyIn(uintptr(a[1]), tz[:]); err != nil {
			return 0, err
		}
	}
	return 0, unix.EPERM
}

// sizeofTimex is sizeof(struct timex) on amd64.
const sizeofTimex = 208

var _ [sizeofTimex - unsafe.Sizeof(unix.Timex{})]byte // unix.Timex is struct timex
var _ [unsafe.Sizeof(unix.Timex{}) - sizeofTimex]byte

// adjtimex(2): a read-only query gets the host's clock state (which any
// unprivileged Linux process may read); anything else EPERM.
func sysAdjtimex(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return adjtime(t, uintptr(a[0]))
}

// clock_adjtime(2): adjtimex for CLOCK_REALTIME; the other clocks cannot
// be adjusted (EOPNOTSUPP, as in Linux).
func sysClockAdjtime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	switch id := int32(a[0]); {
	case id == unix.CLOCK_REALTIME:
		return adjtime(t, uintptr(a[1]))
	case id == unix.CLOCK_MONOTONIC || id == unix.CLOCK_MONOTONIC_RAW || id == unix.CLOCK_BOOTTIME ||
		id == unix.CLOCK_TAI || id == unix.CLOCK_REALTIME_COARSE || id == unix.CLOCK_MONOTONIC_COARSE:
		return 0, unix.EOPNOTSUPP
	case kernel.IsCPUClock(id):
		if _, err := t.LookupCPUClock(id, false); err != nil {
			return 0, err
		}
		return 0, unix.EOPNOTSUPP
	}
	return 0, unix.EINVAL
}

func adjtime(t *kernel.Task, addr uintptr) (uintptr, error) {
	var b [sizeofTimex]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	var tx unix.Timex
	tx.Modes = binary.LittleEndian.Uint32(b[:])
	// timekeeping_validate_timex: ADJ_ADJTIME (adjtime(3)) needs the
	// whole of ADJ_OFFSET_SINGLESHOT and reads with ADJ_OFFSET_READONLY.
	const adjAdjtime, adjOffsetReadonly = 0x8000, 0x2000
	switch {
	case tx.Modes&adjAdjtime != 0 && tx.Modes&unix.ADJ_OFFSET_SINGLESHOT != unix.ADJ_OFFSET_SINGLESHOT:
		return 0, unix.EINVAL
	case tx.Modes&adjAdjtime != 0 && tx.Modes&adjOffsetReadonly == 0, tx.Modes&adjAdjtime == 0 && tx.Modes != 0:
		return 0, unix.EPERM
	}
	tx.Modes = 0 // a query either way
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return 0, err
	}
	out := (*[sizeofTimex]byte)(unsafe.Pointer(&tx))
	if err := t.CopyOut(addr, out[:]); err != nil {
		return 0, err
	}
	return uintptr(state), nil
}
