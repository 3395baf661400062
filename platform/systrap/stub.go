package systrap

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// The stub executable.
//
// Like the ptrace platform's, the stub is a tiny static ELF generated at
// start-up and exec'd from a memfd. Only one stub is ever exec'd per
// platform, the zygote (zygote.go); every address space is a fork of it,
// made by a clone injected into the zygote with ptrace. The zygote is
// started before the Sentry installs its own seccomp filter, so its
// children do not inherit that filter: under it every application system
// call would be a "bad system call" killing the stub, since stacked
// filters take the strictest verdict (seccomp.go has the stub's own).
//
// The code (offsets from stubBase+stubCodeOff) has four parts:
//
//   - the zygote's set-up sequence, run once after exec: it unmaps
//     everything but the stub pages, closes every fd but 0 (the fd
//     passing socket) and 1 (the slot memfd), sets no_new_privs, ignores
//     every signal but the trap signals (SIGKILL and SIGSTOP aside),
//     installs the signal handler for those and the stub's seccomp
//     filter, and stops (int3);
//   - injection sites for the threads the Sentry drives with ptrace (the
//     zygote, each stub's control thread and its mapper threads): a
//     generic `syscall; int3`, the fork and clone sites, a pause loop and
//     the recvmsg sequence of fd passing (as in the ptrace platform);
//   - the application thread bootstrap: a thread cloned at the app-clone
//     site sets its alternate signal stack to its slot, installs the
//     per-thread filter that confines application threads, and traps
//     into the handler, where it waits for its first registers;
//   - the signal handler (see buildHandler).

// Flags of the clones the stub makes.
const (
	// forkFlags make a new stub from the zygote: a copy of the zygote
	// (memory, fds, signal handlers, seccomp filter), child of the Sentry
	// rather than of the zygote so that the Sentry can trace it, and no
	// exit signal (it is waited for with __WALL).
	forkFlags = unix.CLONE_PARENT
	// threadFlags make a stub thread sharing everything.
	threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM
	// appThreadFlags make an application thread: the kernel zeroes the
	// slot's state word and wakes its futex when the thread exits.
	appThreadFlags = threadFlags | unix.CLONE_CHILD_CLEARTID
)

// interruptSignal is what Interrupt sends a thread running application
// code: the handler reports it like any trap. Stubs run in their own
// session, so no terminal sends it.
const interruptSignal = unix.SIGWINCH

// trapSignals are the signals the handler catches: every way application
// code can stop, plus the interrupt.
var trapSignals = []unix.Signal{
	unix.SIGSYS, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, interruptSignal,
}

// Signal action flags (asm-generic values, as on x86-64).
const (
	saSiginfo  = 0x4
	saOnstack  = 0x0800_0000
	saRestorer = 0x0400_0000
)

// Data page scratch: the recvmsg sequence's buffers (rebuilt from
// registers on every call, as in the ptrace platform, so the application
// can at most redirect the stub's recvmsg into memory it could write
// anyway) and the set-up sequence's struct sigaction.
const (
	recvMsghdr     = 0   // struct msghdr, 56 bytes
	recvIovec      = 64  // struct iovec, 16 bytes
	recvBuf        = 128 // 8-byte data buffer
	recvCmsg       = 192 // cmsghdr + one int: CMSG_SPACE(4) = 24
	setupSigaction = 256
)

// stubSites are the addresses the code was generated at; buildStub fills
// them in, so the byte layout is the single source of truth.
type stubSites struct {
	entry     uintptr // _start
	setupOK   uintptr // rip after the set-up sequence's final int3
	setupFail uintptr // rip after the int3 a failed set-up step ends at
	syscall   uintptr // syscall; int3
	syscallOK uintptr
	batch     uintptr // system calls from the request page (see reqPage)
	batchOK   uintptr
	fork      uintptr // fork a stub (zygote only)
	forkOK    uintptr
	pause     uintptr // the pause loop, where untraced stub threads idle
	cloneM    uintptr // clone a mapper thread
	cloneMOK  uintptr
	cloneA    uintptr // clone an application thread (r12 = its slot)
	cloneAOK  uintptr
	recv      uintptr // rebuild msghdr; recvmsg; rax = received fd; int3
	recvOK    uintptr
	bootTrap  uintptr // rip after the bootstrap's int3 (the first report)
	handler   uintptr
	restorer  uintptr

	// The fast path (fastpath.go): its entry, and where a thread
	// converting to a signal frame traps.
	fastEntry, convertTrap uintptr

	// Addresses after each syscall instruction that may run once the
	// filter is installed (seccomp_data.instruction_pointer).
	retSyscall, retBatch, retFork, retCloneM, retCloneA, retPause, retRecv uintptr
	retAltStack, retSeccomp                                                uintptr
	retWake, retWait, retYield, retSigreturn, retExit                      uintptr
	retArchPrctl                                                           []uintptr

	// The filters' struct sock_fprog addresses, in the code pages.
	stubFprog, appFprog uintptr

	codeEnd  uintptr // end of the code pages (page aligned)
	dataPage uintptr
}

// stub is the stub of this process's platforms: the code depends only on
// constants and on whether the CPU lets user code read and write the FS
// and GS bases (FSGSBASE), which the handler must save and restore.
type stub struct {
	stubSites
	image    []byte // the ELF file
	fsgsbase bool
}

// setupSteps name the set-up sequence's steps, by r12 at a failure.
var setupSteps = [...]string{
	1: "munmap below",
	2: "munmap above",
	3: "close_range",
	4: "prctl(PR_SET_NO_NEW_PRIVS)",
	5: "rt_sigaction",
	6: "seccomp(SECCOMP_SET_MODE_FILTER)",
}

// buildStub generates the stub executable. The filters are built from the
// site addresses, which depend on the code, which embeds the filters'
// addresses: the code is generated twice, the first pass only to learn
// the sizes.
func buildStub(fsgsbase bool) *stub {
	s := &stub{fsgsbase: fsgsbase}
	code := s.buildCode(0, 0)
	for pass := 0; pass < 2; pass++ {
		stubFprog := alignUp(stubBase+stubCodeOff+uintptr(len(code)), 8)
		stubFilter := buildStubFilter(&s.stubSites)
		appFprog := stubFprog + fprogSize + uintptr(len(stubFilter))*insnSize
		code = s.buildCode(stubFprog, appFprog)
		s.stubFprog, s.appFprog = stubFprog, appFprog
	}
	s.image = s.buildELF(code)
	return s
}

const (
	fprogSize = 16 // struct sock_fprog: u16 len, padding, u64 filter
	insnSize  = 8  // struct sock_filter
)

func alignUp(v, a uintptr) uintptr { return (v + a - 1) &^ (a - 1) }

// buildCode generates the code for filters at the given addresses and
// records the sites.
func (s *stub) buildCode(stubFprog, appFprog uintptr) []byte {
	a := newAsm(stubBase + stubCodeOff)
	st := &s.stubSites
	st.retArchPrctl = nil
	// The data page follows the code pages; its address only depends on
	// how many code pages there are, which a generous bound fixes.
	st.dataPage = stubBase + stubCodePages*pageSize
	st.codeEnd = st.dataPage

	// The zygote's set-up sequence.
	st.entry = a.pc()
	fail := func() {
		a.testRR(rax, rax)
		a.jcc(condS, "setupFail")
	}
	step := func(n uint32) { a.movImm32(r12, n) }
	step(1)
	a.xor32(rdi)
	a.movImm64(rsi, stubBase)
	a.movImm32(rax, unix.SYS_MUNMAP)
	a.syscall()
	fail()
	step(2)
	a.movImm64(rdi, uint64(stubDataEnd()))
	a.movImm64(rsi, taskSize-uint64(stubDataEnd()))
	a.movImm32(rax, unix.SYS_MUNMAP)
	a.syscall()
	fail()
	step(3)
	a.movImm32(rdi, 2)
	a.movImm32(rsi, ^uint32(0))
	a.xor32(rdx)
	a.movImm32(rax, unix.SYS_CLOSE_RANGE)
	a.syscall()
	a.cmp64(rax, -int32(unix.ENOSYS)) // old kernels: nothing leaked then either
	a.jcc(condE, "closed")
	fail()
	a.label("closed")
	step(4)
	a.movImm32(rdi, unix.PR_SET_NO_NEW_PRIVS)
	a.movImm32(rsi, 1)
	a.xor32(rdx)
	a.xor32(r10)
	a.xor32(r8)
	a.movImm32(rax, unix.SYS_PRCTL)
	a.syscall()
	fail()
	// Every other signal is ignored: nothing outside the Sentry may stop
	// or kill a stub by signalling it (but SIGKILL and SIGSTOP). The
	// Sentry never sends any; a stray one is dropped.
	step(5)
	a.movImm64(rbx, uint64(st.dataPage))
	a.storeImm64(rbx, setupSigaction+32, 1) // SIG_IGN
	a.movImm64(rax, saRestorer)
	a.store64(rbx, setupSigaction+40, rax)
	a.movImm64(rax, uint64(st.restorer))
	a.store64(rbx, setupSigaction+48, rax)
	a.storeImm64(rbx, setupSigaction+56, 0)
	a.movImm32(r13, 1)
	a.label("ignore")
	a.cmp32(r13, uint32(unix.SIGKILL))
	a.jcc(condE, "ignoreNext")
	a.cmp32(r13, uint32(unix.SIGSTOP))
	a.jcc(condE, "ignoreNext")
	a.movRR(rdi, r13)
	a.lea(rsi, rbx, setupSigaction+32)
	a.xor32(rdx)
	a.movImm32(r10, 8)
	a.movImm32(rax, unix.SYS_RT_SIGACTION)
	a.syscall()
	fail()
	a.label("ignoreNext")
	a.add64(r13, 1)
	a.cmp32(r13, 65)
	a.jcc(condB, "ignore")
	// The trap signals' handler: struct sigaction = handler, flags,
	// restorer, mask (all signals blocked while the handler runs).
	a.movImm64(rax, uint64(st.handler))
	a.store64(rbx, setupSigaction, rax)
	a.movImm64(rax, saSiginfo|saOnstack|saRestorer)
	a.store64(rbx, setupSigaction+8, rax)
	a.movImm64(rax, uint64(st.restorer))
	a.store64(rbx, setupSigaction+16, rax)
	a.storeImm64(rbx, setupSigaction+24, -1)
	for _, sig := range trapSignals {
		a.movImm32(rdi, uint32(sig))
		a.lea(rsi, rbx, setupSigaction)
		a.xor32(rdx)
		a.movImm32(r10, 8)
		a.movImm32(rax, unix.SYS_RT_SIGACTION)
		a.syscall()
		fail()
	}
	step(6)
	a.movImm32(rdi, unix.SECCOMP_SET_MODE_FILTER)
	a.xor32(rsi)
	a.movImm64(rdx, uint64(stubFprog))
	a.movImm32(rax, unix.SYS_SECCOMP)
	a.syscall()
	fail()
	a.int3()
	st.setupOK = a.pc()
	a.label("setupFail")
	a.int3()
	st.setupFail = a.pc()

	// Injection sites.
	st.syscall = a.pc()
	st.retSyscall = a.syscallAt()
	a.int3()
	st.syscallOK = a.pc()

	// The batch site (r12 = the request page, r13 = how many requests):
	// each request is a system call number, six arguments and the
	// result it must return; the loop stops at the first that returns
	// anything else, with r13 = the requests not done and rax = that
	// result. The page is the Sentry's and read-only here.
	st.batch = a.pc()
	a.label("batch")
	a.testRR(r13, r13)
	a.jcc(condE, "batchDone")
	a.load64(rax, r12, reqNr)
	a.load64(rdi, r12, reqArgs)
	a.load64(rsi, r12, reqArgs+8)
	a.load64(rdx, r12, reqArgs+16)
	a.load64(r10, r12, reqArgs+24)
	a.load64(r8, r12, reqArgs+32)
	a.load64(r9, r12, reqArgs+40)
	st.retBatch = a.syscallAt()
	a.cmpMemR64(r12, reqWant, rax)
	a.jcc(condNE, "batchDone")
	a.add64(r12, reqSize)
	a.dec32(r13)
	a.jmp("batch")
	a.label("batchDone")
	a.int3()
	st.batchOK = a.pc()

	st.fork = a.pc()
	st.retFork = a.syscallAt()
	a.testRR(rax, rax)
	a.jcc(condE, "pause")
	a.int3()
	st.forkOK = a.pc()

	st.cloneM = a.pc()
	st.retCloneM = a.syscallAt()
	a.testRR(rax, rax)
	a.jcc(condE, "pause")
	a.int3()
	st.cloneMOK = a.pc()

	// New threads (and forked stubs) idle here until the Sentry seizes
	// them.
	a.label("pause")
	st.pause = a.pc()
	a.movImm32(rax, unix.SYS_PAUSE)
	st.retPause = a.syscallAt()
	a.jmp("pause")

	st.cloneA = a.pc()
	st.retCloneA = a.syscallAt()
	a.testRR(rax, rax)
	a.jcc(condE, "boot")
	a.int3()
	st.cloneAOK = a.pc()

	// The application thread bootstrap (r12 = slot). Once its filter is
	// installed, the thread can only make the handler's system calls.
	a.label("boot")
	a.lea(rax, r12, altStackOff)
	a.store64(r12, ctxAltStack, rax)    // ss_sp
	a.storeImm64(r12, ctxAltStack+8, 0) // ss_flags (and padding)
	a.storeImm64(r12, ctxAltStack+16, altStackSize)
	a.lea(rdi, r12, ctxAltStack)
	a.xor32(rsi)
	a.movImm32(rax, unix.SYS_SIGALTSTACK)
	st.retAltStack = a.syscallAt()
	a.testRR(rax, rax)
	a.jcc(condNE, "exit")
	a.movImm32(rdi, unix.SECCOMP_SET_MODE_FILTER)
	a.xor32(rsi)
	a.movImm64(rdx, uint64(appFprog))
	a.movImm32(rax, unix.SYS_SECCOMP)
	st.retSeccomp = a.syscallAt()
	a.testRR(rax, rax)
	a.jcc(condNE, "exit")
	a.int3() // into the handler: the first report
	st.bootTrap = a.pc()
	a.jmp("exit") // never resumed here

	// recvmsg(rdi, rsi=msghdr, rdx) with r8=iovec r9=buf r10=cmsg; rax =
	// the received fd (or -1, or -errno).
	st.recv = a.pc()
	a.xor32(rcx)
	a.store64(rsi, 0, rcx)   // msg_name
	a.store64(rsi, 8, rcx)   // msg_namelen
	a.store64(rsi, 16, r8)   // msg_iov
	a.storeImm64(rsi, 24, 1) // msg_iovlen
	a.store64(rsi, 32, r10)  // msg_control
	a.storeImm64(rsi, 40, 24)
	a.store64(rsi, 48, rcx) // msg_flags
	a.store64(r8, 0, r9)    // iov_base
	a.storeImm64(r8, 8, 8)  // iov_len
	a.storeImm32(r10, 16, ^uint32(0))
	a.movImm32(rax, unix.SYS_RECVMSG)
	st.retRecv = a.syscallAt()
	a.testRR(rax, rax)
	a.jcc(condS, "recvDone")
	a.load32(rax, r10, 16)
	a.emit(0x48, 0x63, 0xc0) // movsxd rax, eax
	a.label("recvDone")
	a.int3()
	st.recvOK = a.pc()

	s.buildHandler(a)
	code := a.finish()
	if stubBase+stubCodeOff+uintptr(len(code)) > st.codeEnd {
		panic("systrap: stub code overflows its pages")
	}
	return code
}

// buildHandler generates the signal handler. It runs on the thread's
// alternate stack with rdi = signo, rsi = siginfo, rdx = ucontext, all
// signals blocked:
//
//	if an interrupt landed in the fast path: rt_sigreturn (drop it: the
//	        thread is about to report a trap anyway)
//	ctx = rsp &^ (slotSize-1)            ; the slot (altstack is inside it)
//	ctx.signo, ctx.siginfo, ctx.ucontext = rdi, rsi, rdx
//	ctx.fsbase, ctx.gsbase = FS base, GS base
//	publishWait(TRAPPED)                 ; returns once the state is RUN
//	load the new FS/GS base if asked; rt_sigreturn
//
// publishWait(state) stores state in the slot's state word, wakes the
// Sentry if it sleeps on it, then spins up to min(ctx.spin, maxStubSpin)
// times until the Sentry answers, and sleeps on the futex while it has
// not: RUN and CONVERT return, EXIT exits the thread.
//
// The Sentry edits the signal frame while the thread waits, so
// rt_sigreturn resumes the application with the Sentry's registers and FP
// state. Nothing here needs to be safe against the application (which
// can write the slot and jump into this code): the thread is the
// application's own, and its filter lets it make only the handler's
// harmless system calls, whatever it does with them.
func (s *stub) buildHandler(a *asm) {
	st := &s.stubSites
	st.handler = a.pc()
	if s.fsgsbase {
		// An interrupt in stub code or a trampoline: the thread is on
		// its way into or out of the fast path, with registers that are
		// not the application's. It is dropped, and noted for the fast
		// path's resume (which then reports it instead of resuming).
		a.cmp32(rdi, uint32(interruptSignal))
		a.jcc(condNE, "handle")
		a.load64(rax, rdx, scRIP)
		a.cmpRipRel(rax, "stubLoAddr")
		a.jcc(condB, "notStub")
		a.cmpRipRel(rax, "stubHiAddr")
		a.jcc(condB, "drop")
		a.label("notStub")
		a.cmpRipRel(rax, "tableLoAddr")
		a.jcc(condB, "handle")
		a.cmpRipRel(rax, "tableHiAddr")
		a.jcc(condAE, "handle")
		a.label("drop")
		a.movRR(rbx, rsp)
		a.and64(rbx, -slotSize)
		a.storeImm32(rbx, ctxDropped, 1)
		a.add64(rsp, 8)
		a.jmp("sigreturn")
	}
	a.label("handle")
	a.movRR(rbx, rsp)
	a.and64(rbx, -slotSize)
	a.store64(rbx, ctxSigno, rdi)
	a.store64(rbx, ctxSiginfo, rsi)
	a.store64(rbx, ctxUcontext, rdx)
	if s.fsgsbase {
		a.rdfsbase(rax)
		a.store64(rbx, ctxFSBase, rax)
		a.rdgsbase(rax)
		a.store64(rbx, ctxGSBase, rax)
	} else {
		for _, f := range []struct {
			code uint32
			off  int32
		}{{archGetFS, ctxFSBase}, {archGetGS, ctxGSBase}} {
			a.movImm32(rdi, f.code)
			a.lea(rsi, rbx, f.off)
			a.movImm32(rax, unix.SYS_ARCH_PRCTL)
			st.retArchPrctl = append(st.retArchPrctl, a.syscallAt())
		}
	}
	a.movImm32(rax, stateTrapped)
	a.call("publishWait")

	a.load32(rax, rbx, ctxSetBase)
	a.test32(rax, 1)
	a.jcc(condE, "fsDone")
	a.load64(rcx, rbx, ctxNewFS)
	s.setBase(a, archSetFS, rcx)
	a.label("fsDone")
	a.load32(rax, rbx, ctxSetBase)
	a.test32(rax, 2)
	a.jcc(condE, "gsDone")
	a.load64(rcx, rbx, ctxNewGS)
	s.setBase(a, archSetGS, rcx)
	a.label("gsDone")
	a.storeImm32(rbx, ctxSetBase, 0)
	// rt_sigreturn finds the frame at rsp-8 (as after the `ret` into a
	// restorer).
	a.add64(rsp, 8)
	a.label("sigreturn")
	st.restorer = a.pc()
	a.movImm32(rax, unix.SYS_RT_SIGRETURN)
	st.retSigreturn = a.syscallAt()
	a.jmp("exit") // a frame the kernel refused: there is nothing to resume

	a.label("exit")
	a.xor32(rdi)
	a.movImm32(rax, unix.SYS_EXIT)
	st.retExit = a.syscallAt()
	a.int3()

	// publishWait (rbx = slot, eax = state to publish).
	a.label("publishWait")
	a.xchg32(rbx, ctxState, rax)
	a.test32(rax, flagSentrySleeps)
	a.jcc(condE, "wait")
	a.movRR(rdi, rbx)
	a.movImm32(rsi, futexOpWake)
	a.movImm32(rdx, futexWakeAll)
	a.xor32(r10)
	a.xor32(r8)
	a.xor32(r9)
	a.movImm32(rax, unix.SYS_FUTEX)
	st.retWake = a.syscallAt()
	a.label("wait")
	a.load32(rcx, rbx, ctxSpin)
	a.cmp32(rcx, maxStubSpin)
	a.jcc(condB, "spin")
	a.movImm32(rcx, maxStubSpin)
	a.label("spin")
	a.test32(rcx, ^uint32(0))
	a.jcc(condE, "sleep")
	a.load32(rax, rbx, ctxState)
	a.and32(rax, stateMask)
	a.cmp32(rax, stateRun)
	a.jcc(condE, "answered")
	a.cmp32(rax, stateConvert)
	a.jcc(condE, "answered")
	a.cmp32(rax, stateExit)
	a.jcc(condE, "exit")
	a.pause()
	a.dec32(rcx)
	a.jmp("spin")
	a.label("sleep")
	a.load32(rax, rbx, ctxState)
	a.movRR(rdx, rax)
	a.and32(rdx, stateMask)
	a.cmp32(rdx, stateRun)
	a.jcc(condE, "answeredRDX")
	a.cmp32(rdx, stateConvert)
	a.jcc(condE, "answeredRDX")
	a.cmp32(rdx, stateExit)
	a.jcc(condE, "exit")
	a.movRR(rdx, rax)
	a.or32(rdx, flagStubSleeps)
	a.cmpxchg32(rbx, ctxState, rdx)
	a.jcc(condNE, "sleep") // changed under us: look again
	a.movRR(rdi, rbx)
	a.movImm32(rsi, futexOpWait)
	// rdx: the value just stored
	a.xor32(r10)
	a.xor32(r8)
	a.xor32(r9)
	a.movImm32(rax, unix.SYS_FUTEX)
	st.retWait = a.syscallAt()
	a.jmp("sleep")
	a.label("answeredRDX")
	a.movRR(rax, rdx)
	a.label("answered")
	a.ret()

	if s.fsgsbase {
		s.buildFastPath(a)
	}
	a.align(8)
	a.label("stubLoAddr")
	a.quad(stubBase)
	a.label("stubHiAddr")
	a.quad(uint64(st.dataPage))
	a.label("tableLoAddr")
	a.quad(patchTableAddr)
	a.label("tableHiAddr")
	a.quad(patchTableAddr + patchTableSize)
	a.label("slotBaseAddr")
	a.quad(slotBase)
	a.label("slotEndAddr")
	a.quad(slotEnd)
}

// setBase loads FS or GS base from r.
func (s *stub) setBase(a *asm, code uint32, r reg) {
	if s.fsgsbase {
		if code == archSetFS {
			a.wrfsbase(r)
		} else {
			a.wrgsbase(r)
		}
		return
	}
	a.movImm32(rdi, code)
	a.movRR(rsi, r)
	a.movImm32(rax, unix.SYS_ARCH_PRCTL)
	s.retArchPrctl = append(s.retArchPrctl, a.syscallAt())
}

// stubCodePages bounds the code and the two filters.
const stubCodePages = 2

func stubDataEnd() uintptr { return stubBase + (stubCodePages+1)*pageSize }

// buildELF returns a minimal static ELF64 executable: an ELF header, two
// PT_LOAD program headers (code pages R+X backed by the file, data page
// R+W as bss), the stub code, and the two filters: a struct sock_fprog
// at stubFprog followed by its BPF instructions, then the same for
// appFprog. They live in the read-only code pages, so that nothing but
// the Sentry's own programs can be installed.
func (s *stub) buildELF(code []byte) []byte {
	const (
		ehdrSize = 64
		phdrSize = 56
		phnum    = 2
	)
	stubFilter := buildStubFilter(&s.stubSites)
	appFilter := buildAppFilter(&s.stubSites)
	end := s.appFprog + fprogSize + uintptr(len(appFilter))*insnSize
	if ehdrSize+phnum*phdrSize > stubCodeOff || end > s.codeEnd || len(stubFilter) > 0xffff {
		panic("systrap: stub layout overflow")
	}
	img := make([]byte, end-stubBase)
	le := binary.LittleEndian

	copy(img, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le.PutUint16(img[16:], 2)  // e_type = ET_EXEC
	le.PutUint16(img[18:], 62) // e_machine = EM_X86_64
	le.PutUint32(img[20:], 1)  // e_version
	le.PutUint64(img[24:], uint64(s.entry))
	le.PutUint64(img[32:], ehdrSize) // e_phoff
	le.PutUint16(img[52:], ehdrSize)
	le.PutUint16(img[54:], phdrSize)
	le.PutUint16(img[56:], phnum)
	phdr := func(i int, flags uint32, off, vaddr, filesz, memsz uint64) {
		p := img[ehdrSize+i*phdrSize:]
		le.PutUint32(p[0:], 1) // PT_LOAD
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], vaddr) // p_paddr
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], pageSize) // p_align
	}
	const pfX, pfW, pfR = 1, 2, 4
	phdr(0, pfR|pfX, 0, stubBase, uint64(len(img)), uint64(len(img)))
	phdr(1, pfR|pfW, 0, uint64(s.dataPage), 0, pageSize)

	copy(img[stubCodeOff:], code)
	putFilter := func(fprog uintptr, f []unix.SockFilter) {
		at := fprog - stubBase
		le.PutUint16(img[at:], uint16(len(f)))
		le.PutUint64(img[at+8:], uint64(fprog+fprogSize))
		for i, ins := range f {
			b := img[at+fprogSize+uintptr(i)*insnSize:]
			le.PutUint16(b[0:], ins.Code)
			b[2], b[3] = ins.Jt, ins.Jf
			le.PutUint32(b[4:], ins.K)
		}
	}
	putFilter(s.stubFprog, stubFilter)
	putFilter(s.appFprog, appFilter)
	return img
}

// writeStubFile puts the stub executable in a memfd and returns a
// read-only, close-on-exec descriptor for it (fd >= 3, so that the child's
// fd remapping cannot clobber it). The writable descriptor is closed
// because execve refuses files open for writing (ETXTBSY).
func writeStubFile(img []byte) (int, error) {
	wfd, err := unix.MemfdCreate("veil-systrap-stub", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(wfd)
	if n, err := unix.Pwrite(wfd, img, 0); err != nil || n != len(img) {
		return -1, fmt.Errorf("writing stub: %d, %v", n, err)
	}
	rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", wfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("reopening stub memfd: %w", err)
	}
	if rfd < 3 {
		nfd, err := unix.FcntlInt(uintptr(rfd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(rfd)
		if err != nil {
			return -1, fmt.Errorf("dup stub fd: %w", err)
		}
		rfd = nfd
	}
	return rfd, nil
}
