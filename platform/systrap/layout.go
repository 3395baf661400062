package systrap

// Address-space layout of a stub process (everything above
// maxUserAddress is the platform's):
//
//	[0, maxUserAddress)          the application's, mirrored from the Sentry
//	[maxUserAddress, slotBase)   gap: a stray mapping never touches the stub
//	reqPage                      the request page of batched system
//	                             calls (see below), read-only
//	[slotBase, slotEnd)          thread slots, one per stub thread running
//	                             application code (see below), each a
//	                             MAP_SHARED window of the platform's slot
//	                             memfd, which the Sentry maps too
//	[stubBase, stubDataPage)     stub code and seccomp programs, R+X, from
//	                             the stub executable; never writable
//	[stubDataPage, stubEnd)      scratch page (R+W bss) for the stub's own
//	                             system calls that need memory (recvmsg,
//	                             rt_sigaction at start-up)
//
// The code page must never be writable, for the same reason as the ptrace
// platform's: the seccomp filter trusts system calls by the address they
// are made from, and threads that are not the application's execute stub
// code natively.
const (
	maxUserAddress = 0x7ffe_0000_0000

	slotBase = 0x7ffe_8000_0000
	slotSize = 0x1_0000 // 64 KiB, a power of two: the handler finds its slot from rsp
	maxSlots = 0x8000
	slotEnd  = slotBase + maxSlots*slotSize // == stubBase

	stubBase = 0x7fff_0000_0000

	// reqPage is where each stub maps its request page: a page of the
	// slot memfd that only the Sentry writes. The batch site reads its
	// system calls from it, so the page must never be writable in the
	// stub, for the same reason as the code page: the threads that run
	// the batch site trust what they read there.
	reqPage = slotBase - 0x1000_0000

	// taskSize is the top of the 47-bit user address space; stub start-up
	// unmaps everything above the stub (exec'd stack, vdso, vvar).
	taskSize = 0x7fff_ffff_f000

	pageSize = 0x1000

	// stubCodeOff is where the code starts in the file and in the code
	// page; the ELF headers sit in front of it.
	stubCodeOff = 0x100
)

// A thread slot: the context page, which the stub's signal handler and
// the Sentry use to talk, followed by the thread's alternate signal stack,
// on which the kernel writes the signal frame (all general registers and
// the xsave area). The Sentry reads and writes that frame in place: it is
// the thread's state while the thread waits in the handler, and
// rt_sigreturn resumes the application from it.
//
// Everything in a slot is writable by the application (it shares the
// address space with the handler), so the Sentry treats all of it as
// untrusted application data: pointers are range-checked against the
// slot, and a forged state only ever looks like a system call or fault
// the application could have made anyway.
const (
	ctxState    = 0x00 // uint32: state word and futex, see below
	ctxSigno    = 0x08 // the handler's rdi
	ctxSiginfo  = 0x10 // the handler's rsi (stub address)
	ctxUcontext = 0x18 // the handler's rdx (stub address)
	ctxFSBase   = 0x20 // FS base at the trap
	ctxGSBase   = 0x28 // GS base at the trap
	ctxNewFS    = 0x30 // FS base to load before resuming, if ctxSetBase&1
	ctxNewGS    = 0x38 // GS base to load before resuming, if ctxSetBase&2
	ctxSetBase  = 0x40 // uint32
	ctxSpin     = 0x44 // uint32: how long the handler spins before sleeping
	ctxAltStack = 0x48 // stack_t for sigaltstack (24 bytes)
	ctxSelf     = 0x60 // the slot's own stub address, which the fast path checks GS base against
	// ctxDropped (uint32) is set by the handler when it drops an
	// interrupt that landed in stub code (see fastpath.go).
	ctxDropped = 0x68

	// The fast path's register save area (see fastpath.go): the general
	// registers in ISA order (rax = 0 .. r15 = 15), then rip, rflags, FS
	// base, and the packed system call number and arithmetic flags the
	// trampoline hands over.
	ctxFastRegs   = 0x100
	ctxFastRIP    = 0x180
	ctxFastRFLAGS = 0x188
	ctxFastFS     = 0x190
	ctxFastPacked = 0x198
	// ctxFastStack is the top of the fast path's private stack (the rest
	// of the context page below it).
	ctxFastStack = pageSize

	altStackOff  = pageSize
	altStackSize = slotSize - altStackOff
)

// A request of the batch site: 64 bytes, so a page holds reqMax.
const (
	reqNr   = 0  // system call number
	reqArgs = 8  // six arguments
	reqWant = 56 // the result it must return
	reqSize = 64
	reqMax  = pageSize / reqSize
)

// The state word. The low byte is the state; the flags say who sleeps on
// the futex, so that the other side only makes a futex_wake system call
// when someone is asleep.
const (
	// stateDead: written by the kernel when the thread exits
	// (CLONE_CHILD_CLEARTID points here).
	stateDead uint32 = 0
	// stateInit: the Sentry set up the slot; the thread has not reported.
	stateInit uint32 = 1
	// stateTrapped: the handler published a signal frame and waits.
	stateTrapped uint32 = 2
	// stateRun: the Sentry wrote the registers to resume with.
	stateRun uint32 = 3
	// stateExit: the Sentry wants the thread to exit.
	stateExit uint32 = 4
	// stateFastTrapped: the fast path (a rewritten system call site)
	// saved the registers in the slot and waits; there is no frame.
	stateFastTrapped uint32 = 5
	// stateConvert: the Sentry wants a thread waiting in the fast path to
	// trap into the handler, so that its state becomes a signal frame.
	stateConvert uint32 = 6
	// stateFastInterrupted: a thread told to resume from the fast path
	// took an interrupt on the way and did not resume.
	stateFastInterrupted uint32 = 7

	stateMask        uint32 = 0xff
	flagStubSleeps   uint32 = 0x100
	flagSentrySleeps uint32 = 0x200
)

// maxStubSpin bounds the handler's spin loop whatever the slot says (the
// application can write it): about 50 µs of PAUSE here.
const maxStubSpin = 1 << 14

// slotAddr is where slot i is mapped in every stub.
func slotAddr(i int) uintptr { return slotBase + uintptr(i)*slotSize }

// Offsets in struct ucontext and struct sigcontext (x86-64).
const (
	ucFlags    = 0
	ucStack    = 16
	ucMcontext = 40
	ucSigmask  = 296
	ucSize     = 304

	scR8      = ucMcontext + 0
	scR9      = ucMcontext + 8
	scR10     = ucMcontext + 16
	scR11     = ucMcontext + 24
	scR12     = ucMcontext + 32
	scR13     = ucMcontext + 40
	scR14     = ucMcontext + 48
	scR15     = ucMcontext + 56
	scRDI     = ucMcontext + 64
	scRSI     = ucMcontext + 72
	scRBP     = ucMcontext + 80
	scRBX     = ucMcontext + 88
	scRDX     = ucMcontext + 96
	scRAX     = ucMcontext + 104
	scRCX     = ucMcontext + 112
	scRSP     = ucMcontext + 120
	scRIP     = ucMcontext + 128
	scEFLAGS  = ucMcontext + 136
	scCS      = ucMcontext + 144 // uint16; then gs, fs, ss
	scGS      = ucMcontext + 146
	scFS      = ucMcontext + 148
	scSS      = ucMcontext + 150
	scERR     = ucMcontext + 152 // the page fault's error code (trapno 14)
	scTRAPNO  = ucMcontext + 160
	scFPSTATE = ucMcontext + 184

	// x86 page faults: the trap number and the error code's write bit.
	trapPageFault = 14
	pfWrite       = 2

	// siginfo_t fields the platform reads.
	siSigno   = 0
	siErrno   = 4
	siCode    = 8
	siAddr    = 16 // si_addr; si_call_addr for SIGSYS
	siSyscall = 24 // SIGSYS: si_syscall
	siSize    = 128
)

// ABI constants x/sys/unix does not export.
const (
	futexOpWait = 0 // FUTEX_WAIT (shared: the stub and the Sentry map the slot from one memfd)
	futexOpWake = 1 // FUTEX_WAKE
	// futexWakeAll is how many waiters a wake-up wakes: all of them.
	futexWakeAll = 1<<31 - 1

	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)
