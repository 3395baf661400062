package ptrace

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// interruptSignal is what Interrupt sends a running stub thread. A traced
// thread reports it even though its default action is "ignore", and an
// untraced stub thread (one that is being created) ignores it harmlessly.
// Stubs run in their own session, so the terminal never sends it.
const interruptSignal = unix.SIGWINCH

// syscallStop is the wait status stop signal of a syscall stop under
// PTRACE_O_TRACESYSGOOD.
const syscallStop = unix.SIGTRAP | 0x80

// context runs one application thread in a stub thread it traces itself.
type context struct {
	p *Platform

	// as and tid are the stub thread, if any. Only the owning goroutine
	// changes them; Interrupt reads ids instead.
	as  *addressSpace
	tid int
	// tracer is the OS thread id of the owning goroutine, which traces
	// the stub thread.
	tracer int
	// ids is stubPid<<32 | tid while a stub thread exists, else 0.
	ids atomic.Uint64

	// interrupt is set by Interrupt and consumed by Switch. running is
	// true while Switch may resume the stub thread. Interrupt stores
	// interrupt then loads running; Switch stores running then loads
	// interrupt: with sequentially consistent atomics at least one side
	// sees the other, so an interrupt is never lost. Both sides may see
	// each other; the signal then arrives when nobody asked for it and
	// Switch drops it (see Switch).
	interrupt atomic.Bool
	running   atomic.Bool

	// resume, if not 0, is the ptrace request resuming application code
	// instead of PTRACE_SYSEMU. Only for tests that simulate a platform
	// bug.
	resume int

	// singlestep makes Switch resume with PTRACE_SYSEMU_SINGLESTEP:
	// the host stops the thread after one instruction (SIGTRAP,
	// TRAP_TRACE), and a system call instruction still only traps,
	// never runs on the host.
	singlestep bool

	// fpPending, if non-nil, is an FP state (already normalised) to load
	// into the stub thread before it next runs.
	fpPending arch.FPState

	released bool

	// cpu is the CPU the stub thread is bound to and lastRun how long
	// it ran on its last resume (see cpu.go).
	cpu     int
	lastRun time.Duration

	// clock accounts the CPU time of the stub threads (cputime.go).
	clock cpuClock

	// Scratch buffers for ptrace, kept here so they are heap allocated
	// once and never moved.
	regs arch.Registers
	si   siginfo
}

var _ platform.Context = (*context)(nil)

var errContextReleased = errors.New("ptrace: context released")

// Switch implements platform.Context.Switch.
func (c *context) Switch(asi platform.AddressSpace, regs *arch.Registers) (platform.Trap, error) {
	if c.released {
		return platform.Trap{}, errContextReleased
	}
	as, ok := asi.(*addressSpace)
	if !ok || as.p != c.p {
		return platform.Trap{}, fmt.Errorf("ptrace: Switch into a foreign address space %T", asi)
	}
	if c.as != as {
		if err := c.moveTo(as); err != nil {
			return platform.Trap{}, err
		}
	}
	if c.fpPending != nil {
		if err := c.p.setXstate(c.tid, c.fpPending); err != nil {
			return platform.Trap{}, c.failed("PTRACE_SETREGSET", err)
		}
		c.fpPending = nil
	}

	c.running.Store(true)
	defer c.running.Store(false)
	if c.interrupt.Swap(false) {
		return platform.Trap{}, platform.ErrInterrupted
	}

	c.regs = *regs
	// The thread may be stopped inside a syscall (it always is, after a
	// syscall trap). With orig_rax = -1 the kernel's restart logic never
	// rewrites rip/rax behind our back, whatever we put in rax.
	c.regs.Orig_rax = ^uint64(0)
	if err := c.p.setRegs(c.tid, &c.regs); err != nil {
		return platform.Trap{}, c.failed("PTRACE_SETREGS", err)
	}
	c.p.switches.Add(1)
	want := unbound
	if c.lastRun < bindMaxRun {
		want = currentCPU()
	}
	if want != c.cpu {
		bindCPU(c.tid, want, &c.p.cpus)
		c.cpu = want
	}
	req := unix.PTRACE_SYSEMU
	if c.singlestep {
		req = unix.PTRACE_SYSEMU_SINGLESTEP
	}
	if c.resume != 0 {
		req = c.resume
	}
	start := time.Now()
	for {
		// Every resume of application code is SYSEMU, and always with
		// signal 0: no application syscall and no signal ever reaches
		// the host kernel's handling. (Should one get through anyway,
		// the stub's seccomp filter kills the stub: see seccomp.go.)
		c.clock.resumes.Add(1)
		if err := c.p.ptraceData(req, c.tid, 0, 0); err != nil {
			return platform.Trap{}, c.failed("PTRACE_SYSEMU", err)
		}
		ws, err := c.p.wait(c.tid)
		c.lastRun = time.Since(start)
		if err != nil {
			return platform.Trap{}, c.failed("wait4", err)
		}
		if !ws.Stopped() {
			c.forgetThread()
			return platform.Trap{}, stubGone(ws)
		}
		sig := ws.StopSignal()
		if sig == syscallStop {
			return platform.Trap{}, c.getRegs(regs)
		}
		if eventOf(ws) != 0 {
			// Group-stop (someone sent the stub SIGSTOP) or similar:
			// just keep running.
			continue
		}
		if sig == interruptSignal {
			if !c.interrupt.Swap(false) {
				continue // stale: its interrupt was already served
			}
			if err := c.getRegs(regs); err != nil {
				return platform.Trap{}, err
			}
			return platform.Trap{}, platform.ErrInterrupted
		}
		if err := c.p.ptrace(unix.PTRACE_GETSIGINFO, c.tid, 0, unsafe.Pointer(&c.si)); err != nil {
			return platform.Trap{}, c.failed("PTRACE_GETSIGINFO", err)
		}
		if c.si.Code <= 0 {
			// SI_USER, SI_TKILL, SI_QUEUE...: sent by some host process,
			// not caused by the application. Drop it.
			continue
		}
		if sig == unix.SIGSYS && c.si.Code == sysSeccomp && c.si.Errno == vsyscallTrapData && isVsyscall(c.si.Addr) {
			// A vsyscall, stopped by the stub's seccomp filter before
			// the host ran it. The kernel has done the rest of the
			// emulation: rip is the return address and rsp is past
			// it (rax holds the system call number). Report it as
			// the system call it is; resuming the thread drops the
			// SIGSYS.
			if err := c.getRegs(regs); err != nil {
				return platform.Trap{}, err
			}
			regs.Orig_rax = uint64(c.si.Syscall)
			return platform.Trap{}, nil
		}
		trap := platform.Trap{Signo: int(sig), Code: c.si.Code, Addr: uintptr(c.si.Addr)}
		if err := c.getRegs(regs); err != nil {
			return platform.Trap{}, err
		}
		// A SIGSEGV with SI_KERNEL is a general protection fault (e.g. a
		// privileged instruction), not a page fault: mapping memory
		// would not fix it, so report it as a signal.
		if sig == unix.SIGBUS || (sig == unix.SIGSEGV && c.si.Code != siKernel) {
			return trap, platform.ErrFault
		}
		return trap, platform.ErrSignal
	}
}

// getRegs reads the stub thread's registers into regs.
func (c *context) getRegs(regs *arch.Registers) error {
	if err := c.p.getRegs(c.tid, &c.regs); err != nil {
		return c.failed("PTRACE_GETREGS", err)
	}
	*regs = c.regs
	return nil
}

// failed wraps an error of a request on the stub thread. ESRCH means the
// thread is no longer stoppable (its stub is being killed) and ECHILD that
// it is gone: either way drop it, so the next Switch starts over with a new
// thread (or fails cleanly if the address space was released).
func (c *context) failed(op string, err error) error {
	switch err {
	case unix.ESRCH:
		c.exitThread()
	case unix.ECHILD:
		c.forgetThread()
	}
	return fmt.Errorf("ptrace: %s: %w", op, err)
}

// moveTo gives the context a stopped stub thread in as, first disposing of
// the one in its previous address space. The FP state moves along, except
// from a released address space, whose thread is already dead: the new
// thread then starts from the initial state, which is also what execve
// (the usual reason for releasing it under a live context) requires.
func (c *context) moveTo(as *addressSpace) error {
	if c.as != nil {
		c.dropThread(true)
	}
	tid, err := as.newThread()
	if err != nil {
		return err
	}
	if err := c.p.ptraceData(unix.PTRACE_SEIZE, tid, 0,
		unix.PTRACE_O_EXITKILL|unix.PTRACE_O_TRACESYSGOOD); err != nil {
		// The thread stays in its pause loop, untraced and harmless,
		// until the stub dies.
		return fmt.Errorf("ptrace: PTRACE_SEIZE %d: %w", tid, err)
	}
	c.tracer = unix.Gettid()
	as.threadAdded(c, c.tracer)
	c.as, c.tid = as, tid
	c.cpu, c.lastRun = cpuUnknown, 0
	c.clock.attach(as.pid, tid)
	c.ids.Store(uint64(as.pid)<<32 | uint64(uint32(tid)))
	if err := c.p.ptraceData(unix.PTRACE_INTERRUPT, tid, 0, 0); err != nil {
		c.exitThread()
		return fmt.Errorf("ptrace: PTRACE_INTERRUPT %d: %w", tid, err)
	}
	for {
		ws, err := c.p.wait(tid)
		if err != nil {
			c.forgetThread()
			return fmt.Errorf("ptrace: wait4 %d: %w", tid, err)
		}
		if exited(ws) {
			c.forgetThread()
			return stubGone(ws)
		}
		if isEventStop(ws) {
			return nil
		}
		// A signal-delivery-stop: discard the signal; the interrupt stop
		// is still pending.
		if err := c.p.ptraceData(unix.PTRACE_CONT, tid, 0, 0); err != nil {
			c.exitThread()
			return fmt.Errorf("ptrace: PTRACE_CONT %d: %w", tid, err)
		}
	}
}

// dropThread makes the stub thread exit and reaps it. If saveFP, its FP
// state is kept as pending for the next thread (unless one is pending
// already), so it survives a change of address space.
func (c *context) dropThread(saveFP bool) {
	if saveFP && c.fpPending == nil && !c.as.isReleased() {
		buf := make(arch.FPState, c.p.fpSize)
		if n, err := c.p.getXstate(c.tid, buf); err == nil && n == len(buf) {
			c.fpPending = buf
		}
	}
	c.exitThread()
}

// exitThread makes the stub thread run exit(0), natively, at the stub's
// syscall site, reaps it and forgets it. It is also right for a thread that
// is dying because its stub was killed: the register write then fails and
// only the wait remains. The thread is only ever resumed with rip in stub
// code, never in application code without SYSEMU.
func (c *context) exitThread() {
	c.clock.retire(false) // while the thread is still there to read
	r := &c.regs
	for {
		// The control thread's start-up registers supply valid segments
		// and flags.
		*r = c.as.base
		r.Rip = uint64(stubSyscall)
		r.Rax = unix.SYS_EXIT
		r.Rdi = 0
		r.Orig_rax = ^uint64(0)
		if c.p.setRegs(c.tid, r) == nil {
			c.p.ptraceData(unix.PTRACE_CONT, c.tid, 0, 0)
		}
		ws, err := c.p.wait(c.tid)
		if err != nil || exited(ws) {
			break
		}
		// Stopped again before reaching exit (a pending signal, which
		// the next PTRACE_CONT discards): go round.
	}
	c.forgetThread()
}

// forgetThread drops the context's record of a stub thread that has been
// reaped.
func (c *context) forgetThread() {
	c.clock.retire(true)
	as := c.as
	c.ids.Store(0)
	c.as, c.tid = nil, 0
	if as != nil {
		as.threadGone(c, c.tracer)
	}
}

// SetSingleStep implements platform.SingleStepper.
func (c *context) SetSingleStep(on bool) { c.singlestep = on }

var _ platform.SingleStepper = (*context)(nil)

// Interrupt implements platform.Context.Interrupt.
func (c *context) Interrupt() {
	c.interrupt.Store(true)
	if !c.running.Load() {
		return
	}
	if ids := c.ids.Load(); ids != 0 {
		// Fails with ESRCH if the thread is gone, which is fine.
		unix.Tgkill(int(ids>>32), int(uint32(ids)), interruptSignal)
	}
}

// FPState implements platform.Context.FPState. It costs one ptrace request
// when the state lives in a stub thread, none otherwise.
func (c *context) FPState() (arch.FPState, error) {
	if c.fpPending != nil {
		return c.fpPending.Clone(), nil
	}
	if c.tid == 0 || c.as.isReleased() {
		// No thread, or one killed with its stub: the next thread
		// starts from the initial state (see moveTo).
		return c.p.fpInit.Clone(), nil
	}
	buf := make(arch.FPState, c.p.fpSize)
	n, err := c.p.getXstate(c.tid, buf)
	if err != nil {
		return nil, c.failed("PTRACE_GETREGSET", err)
	}
	return buf[:n], nil
}

// SetFPState implements platform.Context.SetFPState. The state is loaded
// by the next Switch (one ptrace request then).
func (c *context) SetFPState(s arch.FPState) error {
	st, err := c.p.normalizeFP(s)
	if err != nil {
		return err
	}
	c.fpPending = st
	return nil
}

// Release implements platform.Context.Release.
func (c *context) Release() {
	if c.released {
		return
	}
	c.released = true
	if c.as != nil {
		c.dropThread(false)
	}
	c.fpPending = nil
}
