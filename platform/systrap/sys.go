package systrap

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/sentry/arch"
)

// counters are the platform-wide statistics.
type counters struct {
	requests    atomic.Uint64 // ptrace(2) calls
	waits       atomic.Uint64 // wait4(2) calls that returned a status
	switches    atomic.Uint64 // Context.Switch calls that resumed application code
	injections  atomic.Uint64 // syscalls injected into stub threads
	wakes       atomic.Uint64 // futex wakes of a sleeping stub thread
	sleeps      atomic.Uint64 // Sentry futex waits for a trap
	spinHits    atomic.Uint64 // traps seen while the Sentry was still spinning
	fastTraps   atomic.Uint64 // system calls through rewritten sites
	conversions atomic.Uint64 // fast-path waits turned into frames
}

// ptrace issues one ptrace request. None of the requests used here block
// for long, so the raw form (no scheduler hand-off) is used.
func (c *counters) ptrace(req int, tid int, addr uintptr, data unsafe.Pointer) error {
	c.requests.Add(1)
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, uintptr(data), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// ptraceData is ptrace for requests whose data argument is a plain value.
func (c *counters) ptraceData(req int, tid int, addr, data uintptr) error {
	c.requests.Add(1)
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func (c *counters) getRegs(tid int, r *arch.Registers) error {
	return c.ptrace(unix.PTRACE_GETREGS, tid, 0, unsafe.Pointer(r))
}

func (c *counters) setRegs(tid int, r *arch.Registers) error {
	return c.ptrace(unix.PTRACE_SETREGS, tid, 0, unsafe.Pointer(r))
}

// wait waits for a state change of tid (any thread kind: __WALL). EINTR
// (the Go runtime signalling this thread) is retried.
func (c *counters) wait(tid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err == nil {
			c.waits.Add(1)
		}
		return ws, err
	}
}

// exited reports whether ws says the thread is gone.
func exited(ws unix.WaitStatus) bool { return ws.Exited() || ws.Signaled() }

// isEventStop reports whether ws is a PTRACE_EVENT_STOP (group-stop or
// PTRACE_INTERRUPT stop of a seized thread).
func isEventStop(ws unix.WaitStatus) bool {
	return ws.Stopped() && eventOf(ws) == unix.PTRACE_EVENT_STOP
}

// eventOf returns the PTRACE_EVENT_* number of a stop (0 for none).
func eventOf(ws unix.WaitStatus) int { return int(uint32(ws) >> 16) }

// futexWait sleeps while *addr == val, for at most timeout ns. It is a
// blocking system call as far as the Go scheduler is concerned, so the
// thread's P goes to other goroutines meanwhile.
func futexWait(addr *uint32, val uint32, timeout int64) error {
	ts := unix.NsecToTimespec(timeout)
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexOpWait, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// futexWake wakes every waiter on addr: normally there is one, the other
// side, but a wake-up taken by anyone else would leave it asleep.
func futexWake(addr *uint32) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexOpWake, futexWakeAll, 0, 0, 0)
}

// cpuRelax is the PAUSE instruction, for spin loops (pause_amd64.s).
func cpuRelax()
