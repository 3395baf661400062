package systrap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// context runs one application thread.
//
// In the address space it last ran in, it owns a pair of stub threads:
// the application thread, which runs application code (untraced), and
// the mapper thread, traced by the context's own OS thread, on which the
// context injects its own mappings (see addrspace.go).
//
// Between switches the application thread waits in the stub's signal
// handler, and its state is the signal frame the kernel wrote into its
// slot: Switch writes the registers there, flips the slot's state word to
// RUN (waking the thread if it sleeps), and waits for the state word to
// say TRAPPED again, first spinning, then on the futex.
type context struct {
	p *Platform

	// as and pr are the stub threads, if any. Only the owning goroutine
	// changes them; Interrupt reads ids instead.
	as *addressSpace
	pr pair
	// tracer is the OS thread id of the owning goroutine, which traces
	// the mapper thread.
	tracer int
	// ids is stubPid<<32 | application tid while there is a pair.
	ids atomic.Uint64

	// interrupt is set by Interrupt and consumed by Switch. running is
	// true while Switch may resume the application. Interrupt stores
	// interrupt then loads running; Switch stores running then loads
	// interrupt: with sequentially consistent atomics at least one side
	// sees the other, so an interrupt is never lost. interruptAt is when
	// the pending interrupt was first asked for.
	interrupt   atomic.Bool
	running     atomic.Bool
	interruptAt atomic.Int64

	// fpPending, if non-nil, is an FP state (already normalised) to load
	// into the frame before the thread next runs.
	fpPending arch.FPState

	released bool

	// The frame of the last trap, valid while frameOK: the Sentry's views
	// of its ucontext and xsave area (and of the 4 bytes after it), and
	// the FS and GS bases the handler found.
	frameOK        bool
	uc, fp, fpTail []byte
	fpAddr         uint64
	trapFS, trapGS uint64

	// fast says the thread waits in the fast path (fastpath.go), with
	// the registers fastRegs in its slot and no frame. hot is a site to
	// report to the Sentry as worth patching.
	fast     bool
	fastRegs arch.Registers
	hot      uintptr

	// Adaptive spinning (see spin.go): the state, the spin budget given
	// to the handler at the last resume, and the CPU the application
	// thread is bound to.
	spin      spinState
	stubIters uint32
	appCPU    int

	// Scratch for injections on the mapper thread, and its CPU binding.
	regs arch.Registers
	cpu  int

	// clock is the application thread's CPU accounting (cputime.go).
	clock cpuClock

	// singlestep makes Switch resume the frame with the trap flag set:
	// the thread takes a debug trap (SIGTRAP, TRAP_TRACE) after one
	// instruction, and a system call instruction still only traps.
	// forcedTF says the flag was set by Switch, not by the application,
	// so that the registers read back do not show it.
	singlestep, forcedTF bool

	// spinning says both sides spin for the current round trip (see
	// spinRound).
	spinning bool
}

// eflagsTF is the trap flag.
const eflagsTF = 0x100

// SetSingleStep makes the following Switches run one instruction each
// (for PTRACE_SINGLESTEP inside the sandbox; platform.SingleStepper). The
// fast path is not used meanwhile: its resume and trampolines run stub
// code, which must never be stepped.
func (c *context) SetSingleStep(on bool) { c.singlestep = on }

var _ platform.SingleStepper = (*context)(nil)

var _ platform.Context = (*context)(nil)

var (
	errContextReleased = errors.New("systrap: context released")
	// errBadFrame: the slot does not describe a signal frame inside the
	// slot. Only the application can have done that.
	errBadFrame = errors.New("systrap: application thread slot corrupted")
)

// interruptKill is how long an interrupt may go unanswered before the
// stub is killed. An application thread always takes the interrupt
// signal at once unless the application has blocked it by editing its
// signal frame; then it can no longer be stopped any other way.
const interruptKill = 5 * time.Second

// waitTimeout bounds each futex sleep of Switch, so that a stub that died
// without waking it (the last thread of a process does not clear its tid
// word) or an unanswered interrupt is noticed.
const waitTimeout = 50 * time.Millisecond

func (c *context) mapperInjector() injector {
	return injector{tid: c.pr.mapper, base: &c.as.base, regs: &c.regs, cpu: &c.cpu}
}

// Switch implements platform.Context.Switch.
func (c *context) Switch(asi platform.AddressSpace, regs *arch.Registers) (platform.Trap, error) {
	if c.released {
		return platform.Trap{}, errContextReleased
	}
	as, ok := asi.(*addressSpace)
	if !ok || as.p != c.p {
		return platform.Trap{}, fmt.Errorf("systrap: Switch into a foreign address space %T", asi)
	}
	if c.as != as {
		if err := c.moveTo(as); err != nil {
			return platform.Trap{}, err
		}
	}

	c.running.Store(true)
	for as.stopping.Load() > 0 {
		// The Sentry is patching code here (see Stopped).
		c.running.Store(false)
		as.waitNotStopped()
		c.running.Store(true)
	}
	c.p.active.Add(1)
	defer func() {
		c.p.active.Add(-1)
		c.running.Store(false)
	}()
	if c.interrupt.Swap(false) {
		return platform.Trap{}, platform.ErrInterrupted
	}
	c.forcedTF = false
	switch {
	case c.fast && !c.singlestep && c.fastResumable(regs):
		c.writeFast(regs)
	case c.fast:
		if err := c.toFrame(); err != nil {
			return platform.Trap{}, c.lost(err)
		}
		fallthrough
	default:
		if err := c.writeFrame(regs); err != nil {
			return platform.Trap{}, err
		}
		if c.singlestep && regs.Eflags&eflagsTF == 0 {
			// Set in the frame only: the application's registers
			// do not show it (as Linux's TIF_FORCED_TF).
			c.forcedTF = true
			le.PutUint64(c.uc[scEFLAGS:], regs.Eflags|eflagsTF)
		}
	}
	for {
		c.p.switches.Add(1)
		c.resume()
		if err := c.waitTrap(); err != nil {
			return platform.Trap{}, c.lost(err)
		}
		switch atomic.LoadUint32(c.p.slots.state(c.pr.slot)) & stateMask {
		case stateFastInterrupted:
			// Not resumed: regs and the slot still hold the resume state.
			if c.interrupt.Swap(false) {
				return platform.Trap{}, platform.ErrInterrupted
			}
			continue
		case stateFastTrapped:
			c.readFast(regs)
			c.fast, c.frameOK = true, false
			c.p.fastTraps.Add(1)
			return platform.Trap{}, nil
		}
		c.fast = false
		t, err := c.readFrame(regs)
		if err != nil {
			return platform.Trap{}, c.lost(err)
		}
		if c.forcedTF {
			regs.Eflags &^= eflagsTF
		}
		switch {
		case t.signo == int32(unix.SIGSYS) && t.code == sysSeccomp && t.errno == appTrapData:
			// The kernel rolled rax back to the system call number, all
			// 64 bits of it (si_syscall has only 32).
			regs.Orig_rax = regs.Rax
			c.countSite(regs.Rip)
			return platform.Trap{}, nil
		case t.signo == int32(unix.SIGSYS) && t.code == sysSeccomp && t.errno == vsyscallTrapData && isVsyscall(t.addr):
			// A vsyscall: the kernel skipped it and completed its `ret`
			// (rip is the return address, rsp past it). Report it as
			// the system call it is.
			regs.Orig_rax = uint64(t.syscall)
			return platform.Trap{}, nil
		case t.signo == int32(interruptSignal) && t.code <= 0:
			if c.interrupt.Swap(false) {
				return platform.Trap{}, platform.ErrInterrupted
			}
			// Stale: its interrupt was already served.
			continue
		case t.code <= 0:
			// SI_USER, SI_TKILL, SI_QUEUE...: sent by some host process,
			// not caused by the application. Drop it.
			continue
		case regs.Rip >= maxUserAddress:
			// The application jumped into the stub and faulted there.
			// To it that is unmapped memory.
			return platform.Trap{Signo: int(unix.SIGSEGV), Code: 1 /* SEGV_MAPERR */, Addr: uintptr(regs.Rip)}, platform.ErrFault
		}
		trap := platform.Trap{Signo: int(t.signo), Code: t.code, Addr: uintptr(t.addr), Write: t.write}
		// A SIGSEGV with SI_KERNEL is a general protection fault, not a
		// page fault: mapping memory would not fix it.
		if t.signo == int32(unix.SIGBUS) || (t.signo == int32(unix.SIGSEGV) && t.code != siKernel) {
			return trap, platform.ErrFault
		}
		return trap, platform.ErrSignal
	}
}

// siKernel is SI_KERNEL: e.g. #GP, int3.
const siKernel = 0x80

// trapInfo is what the siginfo of a trap says.
type trapInfo struct {
	signo, errno, code int32
	addr               uint64
	syscall            int32
	write              bool // a page fault by a write
}

// lost handles a Switch that cannot go on: the application thread died
// (its stub was killed, or it exited by jumping into the stub) or its
// slot no longer describes a frame. The pair is dropped; the next Switch
// starts over with new threads, or fails if the stub is gone.
func (c *context) lost(err error) error {
	if c.as != nil {
		if errors.Is(err, errBadFrame) {
			// The thread cannot be resumed; nothing else in this stub can
			// be trusted to be the Sentry's either.
			unix.Kill(c.as.pid, unix.SIGKILL)
		}
		if ws := c.dropPair(false, false); errors.Is(err, errStubDied) && ws.Signaled() && ws.Signal() == unix.SIGSYS {
			// The mapper died with the whole stub: a seccomp filter
			// killed it.
			err = errStubSeccomp
		}
	}
	return err
}

// resume lets the application thread go.
func (c *context) resume() {
	f := c.p.slots
	s := c.pr.slot
	now := time.Now()
	// The Sentry's spin is reserved now, not when waitTrap starts it:
	// the handler is told to spin only if the Sentry will too.
	c.spinning = c.spin.spinRound(c.p, now) && c.p.reserveSpinner()
	c.bindApp(!c.spinning)
	if c.spinning && c.appCPU >= 0 {
		// Still bound to a CPU (the binding could not be changed):
		// spinning would only keep the thread off it.
		c.p.spinners.Add(-1)
		c.spinning = false
	}
	var iters uint32
	if c.spinning {
		iters = c.spin.stubIters(c.p)
	}
	f.setWord32(s, ctxSpin, iters)
	old := atomic.SwapUint32(f.state(s), stateRun)
	slept := old&flagStubSleeps != 0
	c.spin.resumed(now, c.stubIters > 0, slept)
	c.stubIters = iters
	if slept {
		c.p.wakes.Add(1)
		futexWake(f.state(s))
	}
}

// bindApp binds the application thread to the caller's CPU while the
// context does not spin, so that the hand-offs are same-CPU wake-ups, and
// away from it while it spins, so that both sides can run at once. (Left
// unbound, two threads that last slept on one CPU stay there and each
// spins while the other waits for the CPU.) appCPU records the binding:
// a CPU, or -3-cpu for "anywhere but cpu".
func (c *context) bindApp(sleeping bool) {
	cpu := currentCPU()
	if cpu < 0 {
		return
	}
	want := cpu
	if !sleeping {
		want = -3 - cpu
	}
	if want == c.appCPU {
		return
	}
	c.appCPU = want
	if sleeping {
		bindCPU(c.pr.app, cpu, &c.p.cpus)
		return
	}
	others := c.p.cpus
	others.Clear(cpu)
	if others.Count() == 0 {
		others = c.p.cpus
	}
	unix.SchedSetaffinity(c.pr.app, &others)
}

// waitTrap waits until the application thread reports a trap.
func (c *context) waitTrap() error {
	st := c.p.slots.state(c.pr.slot)
	found := false
	c.spin.spun = false
	if c.spinning {
		// This round's spin, reserved by resume; only the first wait
		// after a resume spins.
		n := c.spin.sentryIters(c.p)
		for i := 0; i < n; i++ {
			v := atomic.LoadUint32(st)
			if m := v & stateMask; m == stateTrapped || m == stateFastTrapped || m == stateFastInterrupted || v == stateDead {
				found = true
				break
			}
			cpuRelax()
		}
		c.p.spinners.Add(-1)
		c.spinning = false
	}
	for {
		v := atomic.LoadUint32(st)
		switch m := v & stateMask; {
		case m == stateTrapped || m == stateFastTrapped || m == stateFastInterrupted:
			if found {
				c.p.spinHits.Add(1)
			}
			c.spin.trapped(c.p, time.Now(), found)
			return nil
		case v == stateDead:
			return errStubDied
		}
		// Say we sleep, then sleep unless it changed meanwhile. The
		// value may be anything the application wrote: sleeping on it
		// still ends when the handler stores TRAPPED.
		if v&flagSentrySleeps == 0 {
			if !atomic.CompareAndSwapUint32(st, v, v|flagSentrySleeps) {
				continue
			}
			v |= flagSentrySleeps
		}
		c.p.sleeps.Add(1)
		if err := futexWait(st, v, int64(waitTimeout)); err == unix.ETIMEDOUT {
			if err := c.checkStuck(); err != nil {
				return err
			}
			if atomic.LoadUint32(st)&stateMask == stateRun {
				// Not picked up yet: the thread may be asleep and
				// have missed its wake-up. Another costs nothing.
				futexWake(st)
			}
		}
	}
}

// checkStuck is called when the application thread has not trapped for
// waitTimeout: fine, unless it is gone or ignores an interrupt.
func (c *context) checkStuck() error {
	if !tgkillAlive(c.as.pid, c.pr.app) {
		return errStubDied
	}
	if !c.interrupt.Load() {
		return nil
	}
	if time.Since(time.Unix(0, c.interruptAt.Load())) > interruptKill {
		unix.Kill(c.as.pid, unix.SIGKILL)
		return fmt.Errorf("systrap: application thread ignored an interrupt for %v (its signals blocked?): stub killed", interruptKill)
	}
	// The signal may have been dropped at the very end of a fast-path
	// resume (see fastpath.go): send it again.
	unix.Tgkill(c.as.pid, c.pr.app, interruptSignal)
	return nil
}

var le = binary.LittleEndian

// readFrame reads the trap the application thread reported: its
// registers into regs, and what its siginfo says. Everything comes from
// the slot, which the application can write: pointers are checked to lie
// inside the slot's alternate stack, and each field is read once.
func (c *context) readFrame(regs *arch.Registers) (trapInfo, error) {
	f := c.p.slots
	s := c.pr.slot
	c.frameOK = false
	uc := f.region(s, f.word(s, ctxUcontext), ucSize)
	si := f.region(s, f.word(s, ctxSiginfo), siSize)
	if uc == nil || si == nil {
		return trapInfo{}, errBadFrame
	}
	var b [ucSize]byte
	copy(b[:], uc)
	fpAddr := le.Uint64(b[scFPSTATE:])
	fpSize := c.p.fpSize
	if fpSize == 0 {
		fpSize = 576 // the probe, before the layout is known
	}
	fp := f.region(s, fpAddr, fpSize+4)
	if fp == nil || fpAddr%64 != 0 {
		return trapInfo{}, errBadFrame
	}
	c.uc, c.fp, c.fpTail, c.fpAddr = uc, fp[:fpSize:fpSize], fp[fpSize:], fpAddr
	c.trapFS, c.trapGS = f.word(s, ctxFSBase), f.word(s, ctxGSBase)
	c.frameOK = true

	regs.R8 = le.Uint64(b[scR8:])
	regs.R9 = le.Uint64(b[scR9:])
	regs.R10 = le.Uint64(b[scR10:])
	regs.R11 = le.Uint64(b[scR11:])
	regs.R12 = le.Uint64(b[scR12:])
	regs.R13 = le.Uint64(b[scR13:])
	regs.R14 = le.Uint64(b[scR14:])
	regs.R15 = le.Uint64(b[scR15:])
	regs.Rdi = le.Uint64(b[scRDI:])
	regs.Rsi = le.Uint64(b[scRSI:])
	regs.Rbp = le.Uint64(b[scRBP:])
	regs.Rbx = le.Uint64(b[scRBX:])
	regs.Rdx = le.Uint64(b[scRDX:])
	regs.Rax = le.Uint64(b[scRAX:])
	regs.Rcx = le.Uint64(b[scRCX:])
	regs.Rsp = le.Uint64(b[scRSP:])
	regs.Rip = le.Uint64(b[scRIP:])
	regs.Eflags = le.Uint64(b[scEFLAGS:])
	regs.Cs = uint64(le.Uint16(b[scCS:]))
	regs.Gs = uint64(le.Uint16(b[scGS:]))
	regs.Fs = uint64(le.Uint16(b[scFS:]))
	regs.Ss = uint64(le.Uint16(b[scSS:]))
	regs.Ds, regs.Es = 0, 0
	regs.Fs_base, regs.Gs_base = c.trapFS, c.trapGS
	if c.p.stub.fsgsbase && c.trapGS == uint64(slotAddr(s)) {
		// The platform's, for the fast path: the application's is 0.
		regs.Gs_base = 0
	}
	regs.Orig_rax = ^uint64(0)

	var sb [32]byte
	copy(sb[:], si)
	return trapInfo{
		signo:   int32(le.Uint32(sb[siSigno:])),
		errno:   int32(le.Uint32(sb[siErrno:])),
		code:    int32(le.Uint32(sb[siCode:])),
		addr:    le.Uint64(sb[siAddr:]),
		syscall: int32(le.Uint32(sb[siSyscall:])),
		// The kernel's page fault error code: like the rest of the frame
		// the application can forge it, which gains it nothing, since a
		// write fault only gets the page the write itself would.
		write: le.Uint64(b[scTRAPNO:]) == trapPageFault && le.Uint64(b[scERR:])&pfWrite != 0,
	}, nil
}

// taskSizeMax is one past the highest canonical user address: a base
// register beyond it cannot be loaded (the kernel refuses it too).
const taskSizeMax = 0x7fff_ffff_f000

// writeFrame makes the frame of the last trap resume with regs (and the
// pending FP state, if any).
func (c *context) writeFrame(regs *arch.Registers) error {
	if !c.frameOK {
		return fmt.Errorf("systrap: no frame to resume")
	}
	if regs.Fs_base >= taskSizeMax || regs.Gs_base >= taskSizeMax {
		return fmt.Errorf("systrap: invalid FS/GS base %#x/%#x", regs.Fs_base, regs.Gs_base)
	}
	b := c.uc
	le.PutUint64(b[scR8:], regs.R8)
	le.PutUint64(b[scR9:], regs.R9)
	le.PutUint64(b[scR10:], regs.R10)
	le.PutUint64(b[scR11:], regs.R11)
	le.PutUint64(b[scR12:], regs.R12)
	le.PutUint64(b[scR13:], regs.R13)
	le.PutUint64(b[scR14:], regs.R14)
	le.PutUint64(b[scR15:], regs.R15)
	le.PutUint64(b[scRDI:], regs.Rdi)
	le.PutUint64(b[scRSI:], regs.Rsi)
	le.PutUint64(b[scRBP:], regs.Rbp)
	le.PutUint64(b[scRBX:], regs.Rbx)
	le.PutUint64(b[scRDX:], regs.Rdx)
	le.PutUint64(b[scRAX:], regs.Rax)
	le.PutUint64(b[scRCX:], regs.Rcx)
	le.PutUint64(b[scRSP:], regs.Rsp)
	le.PutUint64(b[scRIP:], regs.Rip)
	le.PutUint64(b[scEFLAGS:], regs.Eflags)
	le.PutUint16(b[scCS:], uint16(regs.Cs))
	le.PutUint16(b[scSS:], uint16(regs.Ss))
	le.PutUint64(b[scFPSTATE:], c.fpAddr)
	// What the kernel restores besides the registers, reset to what the
	// platform wants whatever the application wrote: no blocked signals,
	// the slot's alternate stack, and the flags of a pristine frame.
	le.PutUint64(b[ucFlags:], c.p.ucFlags)
	le.PutUint64(b[ucSigmask:], 0)
	s := c.pr.slot
	le.PutUint64(b[ucStack:], uint64(slotAddr(s))+altStackOff)
	le.PutUint64(b[ucStack+8:], 0)
	le.PutUint64(b[ucStack+16:], altStackSize)

	f := c.p.slots
	var set uint32
	if regs.Fs_base != c.trapFS {
		f.setWord(s, ctxNewFS, regs.Fs_base)
		set |= 1
	}
	gs := regs.Gs_base
	if gs == 0 && c.p.stub.fsgsbase {
		gs = uint64(slotAddr(s)) // the fast path finds the slot through it
	}
	if gs != c.trapGS {
		f.setWord(s, ctxNewGS, gs)
		set |= 2
	}
	f.setWord32(s, ctxSetBase, set)
	if c.fpPending != nil {
		c.writeFP(c.fpPending)
		c.fpPending = nil
	}
	return nil
}

// Offsets in the standard-format xsave area.
const (
	xsaveSwBytes   = 464 // _fpx_sw_bytes in a signal frame, XCR0 for ptrace
	xsaveBV        = 512 // xsave header: xstate_bv
	xsaveHeaderEnd = 576
	xfeatureFPSSE  = 0x3
	fpXstateMagic2 = 0x46505845
)

// writeFP loads FP state st (normalised, fpSize bytes) into the frame, with
// the software bytes and end marker of a pristine frame so that
// rt_sigreturn takes the whole xsave image.
func (c *context) writeFP(st arch.FPState) {
	fp := c.fp
	copy(fp[:xsaveSwBytes], st[:xsaveSwBytes])
	copy(fp[xsaveSwBytes:xsaveBV], c.p.fpSw[:])
	copy(fp[xsaveBV:], st[xsaveBV:])
	le.PutUint64(fp[xsaveBV:], le.Uint64(st[xsaveBV:])&c.p.xfeatures)
	le.PutUint32(c.fpTail, fpXstateMagic2)
}

// readFP returns the frame's FP state in the ptrace (PTRACE_GETREGSET)
// form the Sentry uses: the software bytes hold the user XCR0.
func (c *context) readFP() arch.FPState {
	out := make(arch.FPState, c.p.fpSize)
	copy(out, c.fp)
	clear(out[xsaveSwBytes:xsaveBV])
	le.PutUint64(out[xsaveSwBytes:], c.p.xfeatures)
	return out
}

// moveTo gives the context a thread pair in as, first disposing of the one
// in its previous address space. The FP state moves along, except from a
// released address space, whose threads are already dead: the new thread
// then starts from the initial state, which is also what execve (the
// usual reason for releasing it under a live context) requires.
func (c *context) moveTo(as *addressSpace) error {
	if c.as != nil {
		c.dropPair(true, true)
	}
	pr := as.takeSpare()
	if pr == nil {
		m := as.takeParked()
		if m == 0 {
			var err error
			if m, err = as.newMapper(); err != nil {
				return err
			}
		}
		pr = &pair{mapper: m, slot: -1}
	}
	if err := c.p.seize(pr.mapper); err != nil {
		// The mapper stays in its pause loop, untraced and harmless,
		// until the stub dies; so does a spare application thread.
		return fmt.Errorf("systrap: %w", err)
	}
	c.tracer = unix.Gettid()
	as.threadAdded(c, c.tracer)
	c.as, c.pr = as, *pr
	c.cpu, c.appCPU = cpuUnknown, cpuUnknown
	c.spin, c.stubIters, c.spinning = spinState{}, 0, false
	if c.pr.app == 0 {
		// A thread cloned from the mapper inherits its binding.
		c.appCPU = cpuUnknown
		slot, err := as.mapSlot(c.mapperInjector())
		if err != nil {
			c.dropPair(false, false)
			return err
		}
		c.pr.slot = slot
		a, err := as.cloneApp(c.mapperInjector(), slot)
		if err != nil {
			c.dropPair(false, false)
			return err
		}
		c.pr.app = a
	}
	c.ids.Store(uint64(as.pid)<<32 | uint64(uint32(c.pr.app)))
	c.clock.attach(as.pid, c.pr.app)
	if err := c.waitReady(); err != nil {
		c.dropPair(false, false)
		return err
	}
	return nil
}

// waitReady waits for the first report of a new application thread: the
// trap at the end of its bootstrap, whose frame the first Switch resumes
// into the application.
func (c *context) waitReady() error {
	if err := c.waitTrap(); err != nil {
		return fmt.Errorf("systrap: new application thread: %w", err)
	}
	var regs arch.Registers
	t, err := c.readFrame(&regs)
	if err != nil {
		return err
	}
	if t.signo != int32(unix.SIGTRAP) || regs.Rip != uint64(c.p.stub.bootTrap) {
		return fmt.Errorf("systrap: new application thread reported signal %d at %#x", t.signo, regs.Rip)
	}
	return c.p.learnFP(c)
}

// dropPair disposes of the context's stub threads: the application thread
// is told to exit (it waits in the handler); the mapper thread, if park
// and the stub lives on, is parked for the next context that moves into
// the address space, else made to exit and reaped. If saveFP, the FP state
// is kept as pending for the next thread (unless one is pending already),
// so it survives a change of address space.
// It returns the mapper's exit status (0 if it was parked).
func (c *context) dropPair(saveFP, park bool) unix.WaitStatus {
	as := c.as
	if saveFP && c.fast && c.fpPending == nil && !as.isReleased() {
		c.toFrame() // on failure the state is lost with the thread anyway
	}
	c.fast = false
	if saveFP && c.fpPending == nil && c.frameOK && !as.isReleased() {
		c.fpPending = c.readFP()
	}
	if c.pr.slot >= 0 && c.pr.app == 0 {
		// A slot that never got its thread.
		atomic.StoreUint32(c.p.slots.state(c.pr.slot), stateDead)
		as.retire(c.pr.slot)
	}
	if c.pr.slot >= 0 && c.pr.app != 0 {
		c.clock.retire() // while the thread is still there to read
		c.exitApp(as)
		as.retire(c.pr.slot)
	}
	if park && !as.isReleased() && c.p.parkThread(c.mapperInjector()) {
		as.parkMapper(c.pr.mapper)
		c.forgetPair()
		return 0
	}
	ws := c.p.exitThread(c.mapperInjector())
	c.forgetPair()
	return ws
}

// exitApp tells the application thread to exit. The thread waits in the
// handler, which exits at once, and the kernel then zeroes the state word
// (so the slot can be reused, see mapSlot). Nothing waits for that on the
// way out; but a thread that is still there after appExitWait (the
// application changed its state word under it, so it went back to
// running application code without a context) gets its stub killed.
func (c *context) exitApp(as *addressSpace) {
	st := c.p.slots.state(c.pr.slot)
	for {
		v := atomic.LoadUint32(st)
		if v == stateDead || as.isReleased() {
			return
		}
		if atomic.CompareAndSwapUint32(st, v, stateExit) {
			break
		}
	}
	futexWake(st)
	pid, tid := as.pid, c.pr.app
	go func() {
		deadline := time.Now().Add(appExitWait)
		for atomic.LoadUint32(st) != stateDead && tgkillAlive(pid, tid) && !as.isReleased() {
			if time.Now().After(deadline) {
				unix.Kill(pid, unix.SIGKILL)
				return
			}
			// Polled, not a futex wait on the state word: the slot may
			// already serve a new thread, whose wake-ups a waiter here
			// could take.
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

// appExitWait is how long an application thread told to exit may take.
var appExitWait = time.Second

// forgetPair drops the context's record of its threads once the mapper
// thread has been reaped.
func (c *context) forgetPair() {
	as := c.as
	c.ids.Store(0)
	c.as, c.pr = nil, pair{}
	c.frameOK, c.fast, c.hot = false, false, 0
	c.uc, c.fp, c.fpTail = nil, nil, nil
	if as != nil {
		as.threadGone(c, c.tracer)
	}
}

// patchAfter is how many system call traps a site takes before the
// Sentry is told it is worth patching.
const patchAfter = 8

// countSite counts a system call trap at rip (the address after the
// syscall instruction) and, at the patchAfter'th, records the site for
// HotSyscallSite.
func (c *context) countSite(rip uint64) {
	if !c.p.patchOK() || rip < 7 || rip >= maxUserAddress || (rip >= patchTableAddr && rip < patchTableAddr+patchTableSize) {
		return
	}
	site := uintptr(rip - 7)
	as := c.as
	as.mu.Lock()
	n := as.siteHits[site]
	if n >= 0 {
		n++
		if n >= patchAfter {
			n = -1 // reported once, patched or not
			c.hot = site
		}
		as.siteHits[site] = n
	}
	as.mu.Unlock()
}

// HotSyscallSite implements platform.HotSyscallSites.
func (c *context) HotSyscallSite() (uintptr, bool) {
	site := c.hot
	c.hot = 0
	return site, site != 0
}

// Interrupt implements platform.Context.Interrupt.
func (c *context) Interrupt() {
	if !c.interrupt.Load() {
		c.interruptAt.Store(time.Now().UnixNano())
	}
	c.interrupt.Store(true)
	if !c.running.Load() {
		return
	}
	if ids := c.ids.Load(); ids != 0 {
		// Fails with ESRCH if the thread is gone, which is fine.
		unix.Tgkill(int(ids>>32), int(uint32(ids)), interruptSignal)
	}
}

// FPState implements platform.Context.FPState. It reads the frame: no
// system call at all.
func (c *context) FPState() (arch.FPState, error) {
	if c.fpPending != nil {
		return c.fpPending.Clone(), nil
	}
	if c.fast {
		// The FP state lives in the thread's registers: get a frame.
		if err := c.toFrame(); err != nil {
			err = c.lost(err)
			return nil, err
		}
	}
	if !c.frameOK || c.as.isReleased() {
		// No thread, or one killed with its stub: the next thread
		// starts from the initial state (see moveTo).
		return c.p.fpInit.Clone(), nil
	}
	return c.readFP(), nil
}

// SetFPState implements platform.Context.SetFPState. The state is written
// into the frame by the next Switch.
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
		c.dropPair(false, true)
	}
	c.fpPending = nil
}
