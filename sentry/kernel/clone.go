package kernel

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

// CloneArgs are clone(2)'s arguments.
type CloneArgs struct {
	Flags      uint64
	ExitSignal unix.Signal
	Stack      uintptr
	ParentTID  uintptr
	ChildTID   uintptr
	TLS        uintptr
	// SetTID, if not empty, are the thread ids the child must get
	// (clone3's set_tid): SetTID[0] in the child's pid namespace, each
	// next one in the parent of the namespace before (checked as
	// checkSetTIDLocked says).
	SetTID []ThreadID
	// NewProcess, if not nil, is called with a new process (not for
	// CLONE_THREAD) after it exists and before it runs (clone's
	// CLONE_PIDFD).
	NewProcess func(*ThreadGroup)
}

// CloneClearSighand is clone3's CLONE_CLEAR_SIGHAND: the child's
// handlers are reset to the default (ignored signals stay ignored).
const CloneClearSighand = 1 << 32

// Flags we implement; anything else is refused rather than ignored.
const supportedCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID |
	unix.CLONE_CHILD_CLEARTID | unix.CLONE_CHILD_SETTID | unix.CLONE_VFORK | unix.CLONE_PARENT |
	unix.CLONE_DETACHED | unix.CLONE_PTRACE | unix.CLONE_UNTRACED | unix.CLONE_IO | CloneClearSighand |
	supportedNamespaceFlags

// ErrUnsupportedClone is returned for clone flags the Sentry does not
// implement (new namespaces, pidfds, ...); the syscall layer reports it.
var ErrUnsupportedClone = unix.EINVAL

// Clone creates a new task (thread or process) copying t.
func (t *Task) Clone(a CloneArgs) (ThreadID, error) {
	f := a.Flags
	if f&^supportedCloneFlags != 0 {
		return 0, ErrUnsupportedClone
	}
	if f&unix.CLONE_THREAD != 0 && f&unix.CLONE_SIGHAND == 0 || f&unix.CLONE_SIGHAND != 0 && f&unix.CLONE_VM == 0 {
		return 0, unix.EINVAL
	}
	if f&unix.CLONE_PARENT != 0 && (t.tg == t.k.init || t.tg.pidns.init == t.tg) {
		return 0, unix.EINVAL // init's siblings would have no parent
	}
	if f&unix.CLONE_THREAD != 0 && t.Namespaces().PIDForChildren != t.tg.pidns {
		return 0, unix.EINVAL // threads stay in the process's namespace
	}
	if err := checkNamespaceCloneFlags(f); err != nil {
		return 0, err
	}
	creds, nsp, move, err := t.newNamespaces(f)
	if err != nil {
		return 0, err
	}
	k := t.k
	nt := &Task{
		k:           k,
		regs:        t.regs,
		name:        t.name,
		interruptCh: make(chan struct{}, 1),
	}
	// fork(2): the child has a copy of the parent's credentials (the
	// same immutable value), moved into a new user namespace by
	// CLONE_NEWUSER, and the parent's namespaces or new ones.
	nt.setCredentials(creds)
	nt.nsproxy.Store(nsp)
	nt.ioprio.Store(t.ioprio.Load())
	if f&unix.CLONE_VM != 0 {
		t.mm.IncUsers()
		nt.mm = t.mm
	} else if nt.mm, err = t.mm.Fork(k.Platform); err != nil {
		discardMountNamespace(k, nsp, move)
		return 0, err
	}
	if f&unix.CLONE_FILES != 0 {
		t.fdTable.IncRef()
		nt.fdTable = t.fdTable
	} else {
		nt.fdTable = t.fdTable.Fork()
	}
	if f&unix.CLONE_FS != 0 {
		t.fs.IncRef()
		nt.fs = t.fs
	} else {
		nt.fs = t.fs.Fork()
		moveFS(nt.fs, move)
	}
	if nt.pendingFP, err = t.ctx.FPState(); err != nil {
		nt.release()
		discardMountNamespace(k, nsp, move)
		return 0, err
	}
	nt.regs.Rax = 0
	if a.Stack != 0 {
		nt.regs.Rsp = uint64(a.Stack)
	}
	if f&unix.CLONE_SETTLS != 0 {
		nt.regs.Fs_base = uint64(a.TLS)
	}
	if f&unix.CLONE_CHILD_CLEARTID != 0 {
		nt.clearTID = a.ChildTID
	}
	if f&unix.CLONE_VM == 0 {
		// A forked child starts with nothing mapped; what it touches
		// first is its code, its stack and its thread's TLS.
		nt.mm.SetPrefault([]uintptr{uintptr(nt.regs.Rip), uintptr(nt.regs.Rsp), uintptr(nt.regs.Fs_base)})
	}

	k.mu.Lock()
	if t.tg.exiting || t.exiting || t.tg.execing {
		k.mu.Unlock()
		nt.release()
		discardMountNamespace(k, nsp, move)
		return 0, unix.EINTR
	}
	if err := t.mayCreateTaskLocked(); err != nil { // RLIMIT_NPROC (rlimit.go)
		k.mu.Unlock()
		nt.release()
		discardMountNamespace(k, nsp, move)
		return 0, err
	}
	// clone3's set_tid: ids the child must have, from its own pid
	// namespace outwards (the rest are allocated).
	rootLevel := nsp.PIDForChildren.level
	if err := t.checkSetTIDLocked(nsp.PIDForChildren, a.SetTID); err != nil {
		k.mu.Unlock()
		nt.release()
		discardMountNamespace(k, nsp, move)
		return 0, err
	}
	if len(a.SetTID) > rootLevel {
		nt.tid = a.SetTID[rootLevel]
	} else {
		nt.tid = k.allocTID()
	}
	nt.sigMask = t.sigMask
	// Under k.mu, so a TSYNC from another thread reaches the child too.
	nt.seccomp.Store(t.seccomp.Load())
	if f&unix.CLONE_VM == 0 || f&unix.CLONE_VFORK != 0 {
		nt.altStack = t.altStack
	}
	if f&unix.CLONE_THREAD != 0 {
		nt.tg = t.tg
	} else {
		handlers := t.tg.handlers
		if f&unix.CLONE_SIGHAND == 0 {
			handlers = handlers.clone()
		}
		if f&CloneClearSighand != 0 {
			for i := range handlers.acts {
				if handlers.acts[i].Handler != sigIGN {
					handlers.acts[i] = arch.SignalAct{}
				}
			}
		}
		parent := t.tg
		if f&unix.CLONE_PARENT != 0 && t.tg.parent != nil {
			parent = t.tg.parent
		}
		nt.tg = &ThreadGroup{
			k: k, tgid: nt.tid, leader: nt, parent: parent, container: t.tg.container,
			children:   make(map[*ThreadGroup]struct{}),
			tasks:      make(map[*Task]struct{}),
			exitSignal: a.ExitSignal,
			pgid:       t.tg.pgid, sid: t.tg.sid,
			handlers: handlers,
			limits:   t.tg.limits.copy(),
			start:    time.Now(),
			execPath: t.tg.execPath,
			exited:   make(chan struct{}),
			pidns:    nsp.PIDForChildren,
		}
	}
	if err := nt.tg.pidns.addTaskLocked(nt, f&unix.CLONE_THREAD == 0, a.SetTID); err != nil {
		k.mu.Unlock()
		nt.release()
		discardMountNamespace(k, nsp, move)
		return 0, err
	}
	if f&unix.CLONE_THREAD == 0 {
		nt.tg.parent.children[nt.tg] = struct{}{}
		nt.tg.creator = t
		nt.tg.thpDisable = t.tg.thpDisable
		nt.tg.personality = t.tg.personality
		k.tgs[nt.tid] = nt.tg
	}
	if f&unix.CLONE_SYSVSEM != 0 {
		t.shareSemUndoLocked(nt)
	}
	if f&unix.CLONE_VM == 0 {
		nt.mm.OwnerPID.Store(int32(nt.tg.tgid))
	}
	k.useNamespacesLocked(nsp, 1)
	nt.tg.tasks[nt] = struct{}{}
	k.tasks[nt.tid] = nt
	k.live++
	var vfork chan struct{}
	if f&unix.CLONE_VFORK != 0 {
		vfork = make(chan struct{})
		nt.vforkDone = vfork
	}
	ptraceEv := t.ptraceCloneLocked(nt, f, a.ExitSignal)
	// The child's id in the tracer's pid namespace, for the event
	// messages.
	ptraceMsg := uint64(t.ptraceViewLocked(nt))
	nt.sched = t.sched.forkCopy()
	nt.timerSlack = t.timerSlack
	if f&unix.CLONE_THREAD == 0 {
		nt.tg.hasSubreaper = t.tg.subreaper || t.tg.hasSubreaper
	}
	k.mu.Unlock()

	// The parent sees the child's id in its own namespace, the child
	// its own in its namespace.
	k.mu.Lock()
	vid, own := t.tg.pidns.taskIDLocked(nt), nt.tg.pidns.taskIDLocked(nt)
	k.mu.Unlock()
	var tidBuf [4]byte
	binary.LittleEndian.PutUint32(tidBuf[:], uint32(vid))
	if f&unix.CLONE_PARENT_SETTID != 0 {
		t.CopyOut(a.ParentTID, tidBuf[:])
	}
	if f&unix.CLONE_CHILD_SETTID != 0 {
		binary.LittleEndian.PutUint32(tidBuf[:], uint32(own))
		nt.mm.CopyOut(a.ChildTID, tidBuf[:])
	}
	if f&unix.CLONE_THREAD == 0 {
		nt.tg.applyLimits() // inherited RLIMIT_CPU (rlimit.go)
		if a.NewProcess != nil {
			a.NewProcess(nt.tg)
		}
	}
	nt.start()
	if ptraceEv != 0 {
		t.ptraceEvent(^uint64(0), ptraceEv, ptraceMsg)
	}
	if vfork != nil {
		// The parent sleeps until the child releases the shared memory
		// (execve or exit). Like Linux's vfork wait it is killable but
		// not interruptible by other signals.
	wait:
		for {
			select {
			case <-vfork:
				break wait
			case <-t.interruptCh:
				if t.mustExit() {
					break wait
				}
			}
		}
		t.ptraceEvent(unix.PTRACE_O_TRACEVFORKDONE, unix.PTRACE_EVENT_VFORK_DONE, ptraceMsg)
	}
	return vid, nil
}

// mustExit reports whether t has been told to exit.
func (t *Task) mustExit() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.exiting || t.tg.exiting
}

// release frees a task that never ran.
func (t *Task) release() {
	if t.fdTable != nil {
		t.fdTable.DecRef()
	}
	if t.fs != nil {
		t.fs.DecRef()
	}
	if t.mm != nil {
		t.mm.DecUsers()
	}
}

// NewMemoryManager returns an empty address space for a new program.
func (k *Kernel) NewMemoryManager() (*mm.MemoryManager, error) {
	return mm.New(k.Platform, k.MF)
}
