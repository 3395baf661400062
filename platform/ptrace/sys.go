package ptrace

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/sentry/arch"
)

// siginfo is the prefix of the kernel's siginfo_t for fault signals
// (si_addr follows the three ints and padding) and seccomp's SIGSYS, padded
// to the full 128 bytes.
type siginfo struct {
	Signo   int32
	Errno   int32
	Code    int32
	_       int32
	Addr    uint64 // si_addr; si_call_addr for SIGSYS
	Syscall int32  // SIGSYS: si_syscall
	Arch    uint32 // SIGSYS: si_arch
	_       [96]byte
}

// si_code values the platform distinguishes.
const (
	siKernel = 0x80 // SI_KERNEL: e.g. #GP, int3
)

// counters are the platform-wide request statistics.
type counters struct {
	requests   atomic.Uint64 // ptrace(2) calls
	waits      atomic.Uint64 // wait4(2) calls that returned a status
	switches   atomic.Uint64 // Context.Switch calls that resumed the stub
	injections atomic.Uint64 // syscalls injected into stub control threads
	rebinds    atomic.Uint64 // bindCPU calls
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

// ptraceData is ptrace for requests whose data argument is a plain value
// (signal numbers, options).
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
// happens when the Go runtime signals this thread (preemption) and is
// retried.
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

// getXstate reads the xsave area of tid into buf and returns its length.
func (c *counters) getXstate(tid int, buf []byte) (int, error) {
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	err := c.ptrace(unix.PTRACE_GETREGSET, tid, unix.NT_X86_XSTATE, unsafe.Pointer(&iov))
	return int(iov.Len), err
}

// setXstate loads buf, which must be exactly the kernel's xsave size, as the
// xsave area of tid.
func (c *counters) setXstate(tid int, buf []byte) error {
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	return c.ptrace(unix.PTRACE_SETREGSET, tid, unix.NT_X86_XSTATE, unsafe.Pointer(&iov))
}

// exited reports whether ws says the thread is gone.
func exited(ws unix.WaitStatus) bool { return ws.Exited() || ws.Signaled() }

// isEventStop reports whether ws is a PTRACE_EVENT_STOP (group-stop or
// PTRACE_INTERRUPT stop of a seized thread).
func isEventStop(ws unix.WaitStatus) bool {
	return ws.Stopped() && eventOf(ws) == unix.PTRACE_EVENT_STOP
}

// eventOf returns the PTRACE_EVENT_* number of a stop (0 for none). Unlike
// WaitStatus.TrapCause it also works for group-stops, whose stop signal is
// not SIGTRAP.
func eventOf(ws unix.WaitStatus) int { return int(uint32(ws) >> 16) }
