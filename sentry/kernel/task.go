package kernel

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// ThreadID is a thread (or process, for a leader) id in the sandbox's pid
// namespace.
type ThreadID int32

// faultSite identifies a page fault: address and instruction.
type faultSite struct{ addr, rip uint64 }

// Task is one application thread. Its goroutine, locked to an OS thread
// for the platform's sake, runs the application and executes its system
// calls.
type Task struct {
	k    *Kernel
	tg   *ThreadGroup
	tid  ThreadID
	regs arch.Registers
	ctx  platform.Context
	// pendingFP is installed into the platform context when the task
	// starts (a clone's copy of its parent's FPU state).
	pendingFP arch.FPState

	mm      *mm.MemoryManager
	fdTable *vfs.FDTable
	fs      *vfs.FSContext
	// creds is replaced, never modified (see Credentials), and only by
	// the task itself; other tasks load it.
	creds atomic.Pointer[Credentials]
	name  string // comm
	// ioprio is the I/O priority ioprio_set(2) remembers (ioprio.go).
	ioprio atomic.Int32

	// Signal state, protected by k.mu.
	sigMask     uint64
	savedMask   uint64 // restored after a sigsuspend-style wait
	haveSaved   bool
	pending     sigQueue
	altStack    arch.SignalStack
	sigWaitSet  uint64 // signals rt_sigtimedwait is waiting for
	forced      uint64 // pending signals raised by faults: they always act
	exiting     bool   // exit requested (group exit, SIGKILL)
	interruptCh chan struct{}
	// inApp is set (under k.mu, by prepareToRun) while the task is in or
	// about to enter ctx.Switch, so interrupt must kick the platform. It is
	// cleared without the lock: a sender that still sees it only causes
	// one spurious ErrInterrupted.
	inApp atomic.Bool
	// appExits counts returns from the application (membarrier(2)
	// waits for them).
	appExits atomic.Uint64

	// syscallReturn is set between a syscall's return and the next
	// switch, so restart codes in rax are recognised as such.
	syscallReturn bool

	// lastFault is where the previous trap faulted, if it was a fault:
	// the same fault twice in a row is a real protection violation.
	lastFault faultSite

	clearTID   uintptr // CLONE_CHILD_CLEARTID / set_tid_address
	robustList uintptr
	vforkDone  chan struct{} // closed when a vfork child execs or exits

	// blocks counts the times the task waited in the Sentry (the
	// voluntary context switches of /proc/PID/status).
	blocks atomic.Uint64

	// seccomp is the task's seccomp mode and filters (seccomp.go); nil
	// when it has none, so the syscall path pays one nil check. Only
	// the task itself loads it on that path; changes (seccomp(2),
	// TSYNC from another thread) store a new state under k.mu.
	seccomp atomic.Pointer[seccompState]

	// ptrace is the task's tracing state, as tracer and as tracee
	// (ptrace.go); protected by k.mu.
	ptrace ptraceTask
	// exitCode is the status of the task's own exit(2), which its
	// tracer sees when the rest of the process lives on.
	exitCode WaitStatus

	// sched is the task's scheduling state (sched.go); protected by
	// k.mu.
	sched schedState
	// pdeathSig is prctl(PR_SET_PDEATHSIG)'s signal, 0 for none;
	// protected by k.mu.
	pdeathSig unix.Signal
	// timerSlack is prctl(PR_SET_TIMERSLACK)'s value in ns.
	timerSlack uint64

	// nsproxy is the task's namespaces but the user namespace (which is
	// in its credentials); only the task itself replaces it
	// (namespaces.go). semUndo is its SysV semaphore undo list, shared by
	// CLONE_SYSVSEM, guarded by k.mu.
	nsproxy atomic.Pointer[Namespaces]
	semUndo *semUndoRef

	// acct is the task's CPU time and resource usage (cputime.go).
	acct taskAcct
}

// Kernel returns the kernel t runs in.
func (t *Task) Kernel() *Kernel { return t.k }

// ThreadID returns t's tid.
func (t *Task) ThreadID() ThreadID { return t.tid }

// ThreadGroup returns t's process.
func (t *Task) ThreadGroup() *ThreadGroup { return t.tg }

// MemoryManager returns t's address space.
func (t *Task) MemoryManager() *mm.MemoryManager { return t.mm }

// FDTable returns t's file descriptor table.
func (t *Task) FDTable() *vfs.FDTable { return t.fdTable }

// FSContext returns t's root, working directory and umask.
func (t *Task) FSContext() *vfs.FSContext { return t.fs }

// Credentials returns t's credentials. They must not be modified: the
// task's own syscalls replace them (SetUID, Capset, ...).
func (t *Task) Credentials() *Credentials { return t.creds.Load() }

// Regs returns t's saved user registers (valid during a syscall).
func (t *Task) Regs() *arch.Registers { return &t.regs }

// Name returns the task's command name (comm).
func (t *Task) Name() string { return t.name }

// SetName sets the command name (prctl PR_SET_NAME), truncated as Linux
// does to 15 bytes.
func (t *Task) SetName(n string) {
	if len(n) > 15 {
		n = n[:15]
	}
	t.name = n
}

// FSUID implements vfs.Context.
func (t *Task) FSUID() uint32 { return t.Credentials().FSUID }

// FSGID implements vfs.Context.
func (t *Task) FSGID() uint32 { return t.Credentials().FSGID }

// ProcessID implements vfs.Context.
func (t *Task) ProcessID() int32 { return int32(t.tg.tgid) }

// CopyIn copies application memory into dst (EFAULT on a bad address).
func (t *Task) CopyIn(addr uintptr, dst []byte) error {
	_, err := t.mm.CopyIn(addr, dst)
	return err
}

// CopyOut copies src to application memory.
func (t *Task) CopyOut(addr uintptr, src []byte) error {
	_, err := t.mm.CopyOut(addr, src)
	return err
}

// CopyInString reads a NUL-terminated string of at most maxLen bytes
// (ENAMETOOLONG beyond).
func (t *Task) CopyInString(addr uintptr, maxLen int) (string, error) {
	var buf []byte
	var chunk [256]byte
	for len(buf) < maxLen+1 {
		// Read up to the end of the page so a string ending just before
		// an unmapped page is not an error.
		n := min(len(chunk), int(4096-(addr+uintptr(len(buf)))%4096))
		got, err := t.mm.CopyIn(addr+uintptr(len(buf)), chunk[:n])
		for i := 0; i < got; i++ {
			if chunk[i] == 0 {
				buf = append(buf, chunk[:i]...)
				if len(buf) > maxLen {
					return "", unix.ENAMETOOLONG
				}
				return string(buf), nil
			}
		}
		if err != nil {
			return "", err
		}
		buf = append(buf, chunk[:got]...)
	}
	return "", unix.ENAMETOOLONG
}

// Block waits until ch is readable or the task has a signal to handle (or
// must exit), returning syserr.ErrInterrupted then.
func (t *Task) Block(ch <-chan struct{}) error {
	return t.BlockTimeout(ch, -1)
}

// BlockTimeout is Block with a timeout (unix.ETIMEDOUT); d < 0 waits
// forever.
func (t *Task) BlockTimeout(ch <-chan struct{}, d time.Duration) error {
	t.blocks.Add(1)
	var timeout <-chan time.Time
	if d >= 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		if t.interrupted() {
			return syserr.ErrInterrupted
		}
		select {
		case <-ch:
			return nil
		default:
			if d != 0 {
				t.countBlock() // about to sleep: a voluntary switch
			}
		}
		select {
		case <-ch:
			return nil
		case <-timeout:
			return unix.ETIMEDOUT
		case <-t.interruptCh:
		}
	}
}

// VoluntarySwitches is how many times t has waited in the Sentry (for
// I/O, a futex, a child, a sleep...): what Linux counts as voluntary
// context switches.
func (t *Task) VoluntarySwitches() uint64 { return t.blocks.Load() }

// BlockUntil is BlockTimeout with an absolute deadline.
func (t *Task) BlockUntil(ch <-chan struct{}, deadline time.Time) error {
	d := time.Until(deadline)
	if d < 0 {
		d = 0
	}
	return t.BlockTimeout(ch, d)
}

// interrupt makes t look at its signals and exit state soon, wherever it
// is: blocked in the Sentry or running application code.
func (t *Task) interrupt() {
	select {
	case t.interruptCh <- struct{}{}:
	default:
	}
	if t.inApp.Load() {
		t.ctx.Interrupt()
	}
}

// start runs t's goroutine.
func (t *Task) start() {
	go t.run()
}

// run is the task goroutine: switch into the application, handle what
// brought it back, repeat.
func (t *Task) run() {
	// The platform binds the application thread to this OS thread. The
	// goroutine never unlocks, so the OS thread dies with it.
	runtime.LockOSThread()
	ctx, err := t.k.Platform.NewContext()
	if err != nil {
		fmt.Fprintf(os.Stderr, "veil: task %d: %v\n", t.tid, err)
		t.exitNow(WaitStatusSignaled(unix.SIGKILL))
		return
	}
	t.k.mu.Lock()
	t.ctx = ctx
	t.k.mu.Unlock()
	t.startAccounting(ctx)
	if t.pendingFP != nil {
		ctx.SetFPState(t.pendingFP)
		t.pendingFP = nil
	}
	for {
		if done := t.prepareToRun(); done {
			return
		}
		if ss, ok := ctx.(platform.SingleStepper); ok {
			step := t.ptraceSingleStep()
			if step {
				t.unpatchForStep()
			}
			ss.SetSingleStep(step)
		}
		trap, err := ctx.Switch(t.mm.AddressSpace(), &t.regs)
		t.inApp.Store(false)
		t.appExits.Add(1)
		if err != platform.ErrFault {
			t.lastFault = faultSite{}
		}
		switch err {
		case nil:
			t.maybePatchSite()
			t.doSyscall()
		case platform.ErrFault:
			t.countFault()
			accErr := trap.Code == 2 // SEGV_ACCERR
			repeated := t.lastFault == (faultSite{uint64(trap.Addr), t.regs.Rip})
			t.lastFault = faultSite{uint64(trap.Addr), t.regs.Rip}
			if fr := t.mm.HandleFault(mm.Fault{Addr: trap.Addr, AccessErr: accErr, Write: trap.Write, Repeated: repeated}); fr != nil {
				if debugFaults {
					fmt.Fprintf(os.Stderr, "veil: task %d: fault at %#x (code %d) rip %#x -> signal %d\n", t.tid, trap.Addr, trap.Code, t.regs.Rip, fr.Signo)
				}
				t.forceSignal(fr.Signo, fr.Code, uint64(trap.Addr))
			}
		case platform.ErrSignal:
			if t.patchedSyscall(trap) {
				t.doSyscall()
				break
			}
			t.forceSignal(trap.Signo, trap.Code, uint64(trap.Addr))
		case platform.ErrInterrupted:
		default:
			fmt.Fprintf(os.Stderr, "veil: task %d: platform: %v\n", t.tid, err)
			t.tg.groupExit(WaitStatusSignaled(unix.SIGKILL))
		}
	}
}

var debugFaults = os.Getenv("VEIL_DEBUG_FAULTS") != ""

// ErrNoReturn is returned by syscall handlers that set all registers
// themselves (rt_sigreturn, a successful execve, exit).
var ErrNoReturn = fmt.Errorf("kernel: no syscall return value")

func (t *Task) doSyscall() {
	// ptrace(2) syscall-entry-stop, before seccomp as since Linux 4.8;
	// the tracer may change the call (orig_rax -1 skips it) or, with
	// PTRACE_SYSEMU, take it over.
	traced := t.ptraceTracedFast()
	if traced {
		t.regs.Rax = negErrno(unix.ENOSYS)
		if stopped, emu := t.ptraceSyscallStop(stopSyscallEntry); stopped {
			if emu {
				t.syscallReturn = true
				return
			}
			if int64(t.regs.Orig_rax) == -1 {
				t.syscallReturn = true
				t.ptraceSyscallExit()
				return
			}
		}
	}
	int80 := t.isInt80()
	if s := t.seccomp.Load(); s != nil && !t.seccompAllows(s, int80) {
		if traced {
			t.ptraceSyscallExit()
		}
		return
	}
	// Read after seccomp: a tracer at PTRACE_EVENT_SECCOMP may have
	// changed the call.
	nr := arch.SyscallNo(&t.regs)
	if traced {
		defer t.ptraceSyscallExit()
	}
	if int80 {
		// A 32-bit "int $0x80" syscall: its numbers and arguments follow
		// the i386 ABI, which the Sentry does not implement.
		t.k.CountUnimplemented("int $0x80 (32-bit syscall)")
		t.syscallReturn = true
		arch.SetReturn(&t.regs, negErrno(unix.ENOSYS))
		return
	}
	rv, err := t.k.Syscall(t, nr, arch.Args(&t.regs))
	if err == ErrNoReturn {
		return
	}
	t.syscallReturn = true
	if err != nil {
		errno, ok := err.(unix.Errno)
		if !ok {
			// A Go error from deep inside the Sentry: EIO is the honest
			// answer and the log says why.
			fmt.Fprintf(os.Stderr, "veil: syscall %d: %v\n", nr, err)
			errno = unix.EIO
		}
		arch.SetReturn(&t.regs, uint64(-int64(errno)))
		return
	}
	arch.SetReturn(&t.regs, uint64(rv))
}

// ptraceTracedFast reports whether t is traced at all, so that untraced
// syscalls pay one lock for it only when some task is traced.
func (t *Task) ptraceTracedFast() bool {
	if t.k.ptraceCount.Load() == 0 {
		return false
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.ptrace.tracer != nil
}

// ptraceSyscallExit makes the syscall-exit-stop of a traced task that did
// not exit, and reports a single step over a system call (Linux's
// user_single_step_report: SIGTRAP, TRAP_BRKPT).
func (t *Task) ptraceSyscallExit() {
	if t.mustExit() {
		return
	}
	t.ptraceSyscallStop(stopSyscallExit)
	if t.ptraceSingleStep() {
		t.forceSignal(int(unix.SIGTRAP), trapBrkpt, 0)
	}
}

// isInt80 reports whether the trapping instruction was "int $0x80" (cd 80)
// rather than "syscall" (0f 05); both leave rip just past them.
func (t *Task) isInt80() bool {
	var insn [2]byte
	if _, err := t.mm.CopyIn(uintptr(t.regs.Rip-2), insn[:]); err != nil {
		return false
	}
	return insn[0] == 0xcd && insn[1] == 0x80
}
