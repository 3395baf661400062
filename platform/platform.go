// Package platform is the contract between the Sentry and the mechanism
// that runs application code: the Sentry keeps all application memory in one
// host memory file and decides every mapping; a platform mirrors those
// mappings into an address space and runs application threads in it until
// they trap back (a syscall, a fault, a signal, or an interrupt).
//
// Two implementations exist: systrap (platform/systrap: a seccomp filter
// turns each application system call into a signal handled in the stub
// process, with shared memory to the Sentry) and ptrace (platform/ptrace,
// works everywhere); kvm is planned. The interface is small, and the
// contract tests in platformtest hold for every implementation.
package platform

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/sentry/arch"
)

// AccessType says how a mapping may be accessed.
type AccessType struct {
	Read, Write, Execute bool
}

// Prot is at as mmap's protection bits.
func (at AccessType) Prot() int {
	p := unix.PROT_NONE
	if at.Read {
		p |= unix.PROT_READ
	}
	if at.Write {
		p |= unix.PROT_WRITE
	}
	if at.Execute {
		p |= unix.PROT_EXEC
	}
	return p
}

// Common access types.
var (
	NoAccess  = AccessType{}
	Read      = AccessType{Read: true}
	ReadWrite = AccessType{Read: true, Write: true}
	AnyAccess = AccessType{Read: true, Write: true, Execute: true}
)

// Platform creates address spaces and per-thread execution contexts.
type Platform interface {
	// NewAddressSpace returns an empty address space.
	NewAddressSpace() (AddressSpace, error)
	// NewContext returns an execution context for one application thread.
	// A Context must only be used from a single goroutine, which must be
	// locked to its OS thread (runtime.LockOSThread) for the Context's
	// whole life: ptrace binds a tracee to the tracing OS thread.
	NewContext() (Context, error)
	// MaxUserAddress is one past the highest address the application may
	// map; the platform keeps what it needs for itself above it.
	MaxUserAddress() uintptr
}

// AddressSpace is a set of mappings application threads run in.
// Its methods may be called from any goroutine.
type AddressSpace interface {
	// MapFile maps [off, off+length) of host file fd at addr with access
	// at, replacing whatever was mapped there (MAP_SHARED|MAP_FIXED
	// semantics). addr, off and length are page-aligned.
	MapFile(addr uintptr, fd int, off int64, length uintptr, at AccessType) error
	// Unmap removes all mappings in [addr, addr+length).
	Unmap(addr, length uintptr)
	// Release frees the address space; it must have no running contexts.
	Release()
}

// Mapping is one range of a MapFiles call: [Off, Off+Length) of the file
// at Addr, with access Access.
type Mapping struct {
	Addr   uintptr
	Off    int64
	Length uintptr
	Access AccessType
}

// MultiMapper is implemented by address spaces that make several mappings
// of one file at once for about the price of one MapFile: where each
// MapFile is a round trip to another process, a fault that needs several
// ranges mapped pays that once.
type MultiMapper interface {
	// MapFiles is MapFile of fd for each of ms, in order.
	MapFiles(fd int, ms []Mapping) error
}

// Trap describes why Switch returned with ErrFault or ErrSignal.
type Trap struct {
	Signo int     // host signal number (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, ...)
	Code  int32   // si_code
	Addr  uintptr // si_addr: the faulting address for SIGSEGV/SIGBUS
	// Write says that a page fault was a write. A platform that cannot
	// tell leaves it false; the Sentry then learns of a write to a page
	// it mapped read-only from a second fault.
	Write bool
}

// Errors returned by Context.Switch.
var (
	// ErrFault: a page fault at Trap.Addr (Trap.Signo is SIGSEGV or SIGBUS).
	// The Sentry either maps the page and switches again, or delivers a
	// signal to the application.
	ErrFault = errors.New("platform: page fault")
	// ErrSignal: the application got a synchronous signal (SIGILL, SIGFPE,
	// SIGTRAP, ...) described by Trap.
	ErrSignal = errors.New("platform: signal")
	// ErrInterrupted: Interrupt was called; nothing happened to the
	// application state.
	ErrInterrupted = errors.New("platform: interrupted")
)

// Context runs one application thread.
type Context interface {
	// Switch runs the application with registers regs inside as until it
	// traps. A nil error means it made a system call: the syscall number
	// is in regs.Orig_rax, its arguments in the usual registers, and regs.Rip
	// points after the syscall instruction. The syscall has not been
	// executed on the host. On return regs holds the thread's registers at
	// the trap.
	Switch(as AddressSpace, regs *arch.Registers) (Trap, error)
	// Interrupt makes a running (or the next) Switch return ErrInterrupted
	// soon. Safe to call from any goroutine.
	Interrupt()
	// FPState returns a copy of the thread's floating point state. The FPU
	// state lives with the platform between switches, so it is only moved
	// when the Sentry needs it (signal frames, clone, exec).
	FPState() (arch.FPState, error)
	// SetFPState replaces the thread's floating point state; it takes
	// effect at the next Switch.
	SetFPState(arch.FPState) error
	// Release frees the context. It must not be switched again.
	Release()
}

// SyscallPatcher is implemented by platforms that can run the system calls
// of a call site without a trap once the site is rewritten into a jump to
// a trampoline of theirs. The Sentry owns application memory, so it does
// the rewriting, with copy-on-write, and only where no other thread can
// be running the site; the platform says what to write.
type SyscallPatcher interface {
	// PatchTable returns the region of every address space where the
	// trampolines go, which the Sentry reserves on the first patch, and
	// the size of one trampoline. size 0 means no patching here.
	PatchTable() (addr, size, cell uintptr)
	// PatchSite returns the trampoline for the 7-byte site at addr whose
	// current bytes are code, to be written at cellAddr (a free
	// trampoline of the table), and the 7 bytes to write over the site;
	// ok is false if the site's instructions are not a pattern the
	// platform can run. A jump into the middle of a patched site, to
	// where its syscall instruction was (addr+5), must raise SIGILL
	// there: the Sentry then runs the system call as the original
	// instruction would have.
	PatchSite(addr uintptr, code []byte, cellAddr uintptr) (cell, patch []byte, ok bool)
	// Stopped runs f while no thread of as runs application code (the
	// Sentry patches a site shared by several threads inside it).
	Stopped(as AddressSpace, f func())
}

// HotSyscallSites is implemented by contexts of a SyscallPatcher: after a
// system call trap, HotSyscallSite says whether the site it came from
// (rip-7) has trapped often enough to be worth patching. It reports each
// site at most once per address space.
type HotSyscallSites interface {
	HotSyscallSite() (addr uintptr, ok bool)
}

// SingleStepper is implemented by contexts that can run exactly one
// application instruction, for ptrace(2)'s PTRACE_SINGLESTEP inside the
// sandbox: while SetSingleStep(true) is in effect, Switch returns after
// at most one instruction, with ErrSignal and a SIGTRAP of si_code
// TRAP_TRACE if it was not a system call.
type SingleStepper interface {
	SetSingleStep(on bool)
}

// CanSingleStep reports whether c implements SingleStepper.
func CanSingleStep(c Context) bool {
	_, ok := c.(SingleStepper)
	return ok
}

// CPUClock is implemented by a Context that can tell how much host CPU
// time its application thread has used, for the Sentry's CPU accounting
// (getrusage(2), times(2), the CPU-time clocks and timers).
type CPUClock interface {
	// CPUUsage returns what the application thread has used so far in
	// this context, across every host thread the context has run it on.
	// It may be called from any goroutine, also after Release (it then
	// reports the final figures).
	CPUUsage() CPUUsage
}

// CPUUsage is the host CPU time an application thread has used.
type CPUUsage struct {
	// Time is the CPU time the host gave the thread running application
	// code (including what the host kernel spent on its traps).
	Time time.Duration
	// Preemptions counts the times the host scheduler took the CPU away
	// from the thread while it ran application code (involuntary
	// context switches).
	Preemptions uint64
}
