package kernel

// ptrace(2) between tasks of the sandbox: the tracee's stops, their
// reports to the tracer through wait(2), and the tracer's requests.
//
// A traced task stops (a "ptrace-stop", ptrace(2) "Stopped states") on
// its own goroutine, in the run loop: before a signal is delivered
// (signal-delivery-stop), for a group-stop, at system call entry and exit
// (PTRACE_SYSCALL), at events (PTRACE_O_TRACE*), and when PTRACE_INTERRUPT
// asks. While it is stopped its goroutine waits for the tracer, which
// reads and writes its saved registers and memory; what only the task's
// own goroutine may touch (the FPU state, which lives in the platform
// context) is done there, through ptraceTask.work.
//
// Permission (ptrace(2) "Ptrace access mode checking"): a tracer needs the
// same real, effective and saved uids and gids as the tracee and a
// dumpable tracee, or CAP_SYS_PTRACE. Yama's kernel.yama.ptrace_scope is 0
// by default (Kernel.PtraceScope): any such process may attach; with 1,
// PTRACE_ATTACH and PTRACE_SEIZE also need the tracee to be a descendant
// of the tracer or to have named it with PR_SET_PTRACER.

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

// ptraceStopKind is what kind of ptrace-stop a task is in.
type ptraceStopKind int

const (
	stopNone ptraceStopKind = iota
	stopSignal
	stopGroup // group-stop, or PTRACE_EVENT_STOP of a seized tracee
	stopSyscallEntry
	stopSyscallExit
	stopEvent
	stopSeccomp // PTRACE_EVENT_SECCOMP
)

// Syscall tracing modes set by the resuming request.
const (
	ptraceSyscallNone = iota
	ptraceSyscallTrace
	ptraceSyscallEmu
)

// ptraceOptionsMask is the PTRACE_O_* options PTRACE_SETOPTIONS accepts.
const ptraceOptionsMask = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACEVFORKDONE |
	unix.PTRACE_O_TRACEEXIT | unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_EXITKILL

// si_code values of SIGTRAP (include/uapi/asm-generic/siginfo.h).
const (
	trapBrkpt  = 1 // TRAP_BRKPT
	trapTrace  = 2 // TRAP_TRACE
	siCodeUser = 0 // SI_USER
)

// ptraceTask is a task's ptrace state, protected by k.mu.
type ptraceTask struct {
	// tracer is the task tracing this one, or nil.
	tracer *Task
	// tracees are the tasks this one traces.
	tracees map[*Task]struct{}
	seized  bool
	opts    uint64
	// syscallMode and singlestep are how the last resume asked the
	// tracee to run.
	syscallMode int
	singlestep  bool
	eventMsg    uint64

	// The current stop: stopped while in a ptrace-stop; status is what
	// wait reports (once: reported), info what PTRACE_GETSIGINFO gets
	// (nil: EINVAL, as in a group-stop). listening: PTRACE_LISTEN left
	// the tracee stopped, but not waitable until the group-stop ends.
	stopped bool
	// trapNotify: the group-stop ended while the tracee was in a
	// PTRACE_EVENT_STOP; a PTRACE_LISTEN then re-traps at once.
	trapNotify bool
	kind       ptraceStopKind
	status     WaitStatus
	reported   bool
	info       *arch.SignalInfo
	listening  bool
	// resumeSig is the signal the resuming request gave (data).
	resumeSig unix.Signal
	// seq orders stops: wait reports the oldest first, as Linux's
	// tracers see their tracees' stops in the order they happened.
	seq uint64

	// trapStop asks the tracee for a PTRACE_EVENT_STOP at its next return
	// to the application (PTRACE_INTERRUPT, the start of an automatically
	// attached seized tracee); groupStop asks it to report the group-stop
	// in force.
	trapStop  bool
	groupStop bool
	// exitStop allows a PTRACE_EVENT_EXIT stop: the task exits by its own
	// exit(2), exit_group(2) or a fatal signal it took, not because
	// another thread or SIGKILL ended it.
	exitStop bool

	// wake tells the stopped tracee that it may have been resumed; work
	// runs functions on its goroutine for the tracer. Made once, at
	// attach, and never changed.
	wake chan struct{}
	work chan func()

	// ptracer is the process PR_SET_PTRACER allowed to attach (Yama): 0
	// none, -1 any.
	ptracer ThreadID
	// debugRegs are u_debugreg, which read back what was written; the
	// Sentry has no hardware breakpoints, so DR7 may not enable any.
	debugRegs [8]uint64
}

// ptraceExit is the exit of a tracee that is not the tracer's child, until
// the tracer's wait collects it.
type ptraceExit struct {
	tid    ThreadID // kernel id
	vid    ThreadID // the id in the tracer's pid namespace
	pgid   ThreadID
	status WaitStatus
}

// ownInfoLocked sets info's si_pid and si_uid to t's thread id and uid
// as t's own namespaces see them, as ptrace_do_notify does for the
// siginfo of a tracee's own stops (task_pid_vnr, current_user_ns).
func (t *Task) ownInfoLocked(info *arch.SignalInfo) {
	info.SetPID(int32(t.tg.pidns.taskIDLocked(t)))
	info.SetUID(t.UserNamespace().ViewUID(t.Credentials().UID))
}

// ptraceViewLocked is o's thread id in the pid namespace of t's tracer,
// 0 if t is not traced (or the tracer cannot see o): event messages carry
// ids as the tracer sees them (ptrace_event_pid).
func (t *Task) ptraceViewLocked(o *Task) ThreadID {
	if tr := t.ptrace.tracer; tr != nil {
		return tr.tg.pidns.taskIDLocked(o)
	}
	return 0
}

// tracedLocked reports whether any thread of tg is traced.
func (tg *ThreadGroup) tracedLocked() bool {
	for t := range tg.tasks {
		if t.ptrace.tracer != nil {
			return true
		}
	}
	return false
}

// TracerPID returns the thread id in ns of the task tracing t, or 0
// (/proc/PID/status TracerPid, in the proc mount's pid namespace).
func (t *Task) TracerPID(ns *PIDNamespace) ThreadID {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if tr := t.ptrace.tracer; tr != nil {
		return ns.taskIDLocked(tr)
	}
	return 0
}

// PtraceStopped reports whether t is in a ptrace-stop (/proc/PID/stat
// state "t", "tracing stop").
func (t *Task) PtraceStopped() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.ptrace.stopped
}

// groupStopDueLocked reports whether t must stay out of the application
// because of its group's stop: a traced task stops only to report it, and
// runs again when its tracer resumes it.
func (t *Task) groupStopDueLocked() bool {
	if !t.tg.stopped {
		return false
	}
	if t.ptrace.tracer == nil {
		return true
	}
	return t.ptrace.groupStop
}

// ptraceKilledLocked reports whether t must leave a ptrace-stop to die:
// SIGKILL, or its process exiting (which Linux does by SIGKILL).
func (t *Task) ptraceKilledLocked(exitStop bool) bool {
	if (t.pending.set|t.tg.pending.set)&SigBit(unix.SIGKILL) != 0 {
		return true
	}
	return !exitStop && (t.exiting || t.tg.exiting)
}

// ptraceEnterStopLocked puts t in a ptrace-stop and tells its tracer.
func (t *Task) ptraceEnterStopLocked(kind ptraceStopKind, status WaitStatus, info *arch.SignalInfo) {
	p := &t.ptrace
	p.stopped, p.kind, p.status, p.info = true, kind, status, info
	t.k.ptraceSeq++
	p.seq = t.k.ptraceSeq
	p.reported, p.listening, p.resumeSig, p.trapNotify = false, false, 0, false
	t.ptraceNotifyLocked()
}

// ptraceNotifyLocked sends the tracer SIGCHLD (CLD_TRAPPED) for t's new
// stop and wakes its waits.
func (t *Task) ptraceNotifyLocked() {
	tr := t.ptrace.tracer
	if tr == nil {
		return
	}
	// The tracee's ids as the tracer's namespaces see them
	// (do_notify_parent_cldstop).
	info := &arch.SignalInfo{Signo: int32(unix.SIGCHLD), Code: CLD_TRAPPED}
	info.SetPID(int32(tr.tg.pidns.taskIDLocked(t)))
	info.SetUID(tr.UserNamespace().ViewUID(t.Credentials().UID))
	info.SetStatus(int32(t.ptrace.status>>8) & 0x7f)
	t.k.sendLocked(tr.tg, nil, info)
	tr.tg.childEvents.Notify(1)
}

// ptraceStop stops t, if traced, in a ptrace-stop and waits until the
// tracer resumes it. It returns the signal the tracer resumed it with and
// true, or false if t is not traced or must die instead.
func (t *Task) ptraceStop(kind ptraceStopKind, status WaitStatus, info *arch.SignalInfo) (unix.Signal, bool) {
	k := t.k
	k.mu.Lock()
	if t.ptrace.tracer == nil || t.ptraceKilledLocked(kind == stopEvent && status>>16 == unix.PTRACE_EVENT_EXIT) {
		k.mu.Unlock()
		return 0, false
	}
	t.ptraceEnterStopLocked(kind, status, info)
	k.mu.Unlock()
	return t.ptraceWaitResume()
}

// ptraceWaitResume blocks t, in a ptrace-stop, until the tracer resumes
// it or it must die, running the tracer's work meanwhile.
func (t *Task) ptraceWaitResume() (unix.Signal, bool) {
	k := t.k
	for {
		k.mu.Lock()
		p := &t.ptrace
		exitStop := p.kind == stopEvent && p.status>>16 == unix.PTRACE_EVENT_EXIT
		if !p.stopped || p.tracer == nil {
			p.stopped = false
			sig := p.resumeSig
			k.mu.Unlock()
			return sig, true
		}
		if t.ptraceKilledLocked(exitStop) {
			p.stopped = false
			k.mu.Unlock()
			return 0, false
		}
		wake, work := p.wake, p.work
		k.mu.Unlock()
		select {
		case <-wake:
		case <-t.interruptCh:
		case fn := <-work:
			fn()
		}
	}
}

// ptraceAttachLocked makes tracer trace t.
func (t *Task) ptraceAttachLocked(tracer *Task, seized bool, opts uint64) {
	p := &t.ptrace
	if p.tracer == nil {
		t.k.ptraceCount.Add(1)
	}
	p.tracer, p.seized, p.opts = tracer, seized, opts
	p.syscallMode, p.singlestep = ptraceSyscallNone, false
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
		p.work = make(chan func())
	}
	if tracer.ptrace.tracees == nil {
		tracer.ptrace.tracees = make(map[*Task]struct{})
	}
	tracer.ptrace.tracees[t] = struct{}{}
}

// ptraceDetachLocked ends t's tracing and lets it run if it was in a
// ptrace-stop (with sig, for a signal-delivery-stop).
func (t *Task) ptraceDetachLocked(sig unix.Signal) {
	p := &t.ptrace
	if tr := p.tracer; tr != nil {
		delete(tr.ptrace.tracees, t)
		t.k.ptraceCount.Add(-1)
	}
	p.tracer, p.seized, p.opts = nil, false, 0
	p.syscallMode, p.singlestep = ptraceSyscallNone, false
	p.trapStop, p.groupStop = false, false
	if p.stopped {
		// Back in a group-stop if the group is still stopped (ptrace(2):
		// a detached tracee in group-stop stays stopped).
		p.resumeSig = sig
		p.stopped = false
		t.ptraceWakeLocked()
	}
}

func (t *Task) ptraceWakeLocked() {
	select {
	case t.ptrace.wake <- struct{}{}:
	default:
	}
	t.interrupt()
}

// ptraceTracerExitLocked detaches everything t traces as t exits, killing
// the tracees of a tracer that set PTRACE_O_EXITKILL.
func (t *Task) ptraceTracerExitLocked() {
	for tr := range t.ptrace.tracees {
		if tr.ptrace.opts&unix.PTRACE_O_EXITKILL != 0 {
			info := &arch.SignalInfo{Signo: int32(unix.SIGKILL), Code: 0x80 /* SI_KERNEL */}
			t.k.sendLocked(tr.tg, nil, info)
		}
		tr.ptraceDetachLocked(0)
	}
}

// ptraceTraceeExitLocked tells t's tracer that t exited with st: a tracer
// that is not the parent of t's process collects it as a ptrace child.
// The leader of a process is reported once the whole process is gone.
func (t *Task) ptraceTraceeExitLocked(st WaitStatus, last bool) {
	tr := t.ptrace.tracer
	if tr == nil {
		return
	}
	tg := t.tg
	isLeader := tg.leader == t || tg.tgid == t.tid
	t.ptraceDetachLocked(0)
	if isLeader && !last {
		// Reported when the process becomes a zombie.
		tg.leaderTracer = tr
		return
	}
	if isLeader && tg.parent == tr.tg {
		return // the tracer waits for its own child as usual
	}
	vid := tr.tg.pidns.taskIDLocked(t)
	tr.tg.ptraceExits = append(tr.tg.ptraceExits, ptraceExit{tid: t.tid, vid: vid, pgid: tg.pgid, status: st})
	info := &arch.SignalInfo{Signo: int32(unix.SIGCHLD)}
	if st&0x7f == 0 {
		info.Code = CLD_EXITED
		info.SetStatus(int32(st.ExitCode()))
	} else {
		info.Code = CLD_KILLED
		info.SetStatus(int32(st & 0x7f))
	}
	info.SetPID(int32(vid))
	info.SetUID(tr.UserNamespace().ViewUID(t.Credentials().UID))
	t.k.sendLocked(tr.tg, nil, info)
	tr.tg.childEvents.Notify(1)
}

// ptraceGroupExitedLocked reports the process's exit to the tracer of a
// leader that exited before its other threads (before the process can be
// reaped: its ids are still there).
func (tg *ThreadGroup) ptraceGroupExitedLocked() {
	tr := tg.leaderTracer
	tg.leaderTracer = nil
	if tr == nil || tg.parent == tr.tg || len(tr.tg.tasks) == 0 {
		return
	}
	vid := tr.tg.pidns.tgIDLocked(tg)
	tr.tg.ptraceExits = append(tr.tg.ptraceExits, ptraceExit{tid: tg.tgid, vid: vid, pgid: tg.pgid, status: tg.exitStatus})
	tr.tg.childEvents.Notify(1)
}

// stopSignalStatus is the wait status of a stop by signal sig with event
// ev (ptrace(2): status>>8 == sig | ev<<8).
func stopSignalStatus(sig unix.Signal, ev int) WaitStatus {
	return WaitStatus(int(sig)|ev<<8)<<8 | 0x7f
}

// ptraceEvent stops t at event ev with message msg if its tracer asked for
// it (option opt); it reports whether it stopped.
func (t *Task) ptraceEvent(opt uint64, ev int, msg uint64) bool {
	k := t.k
	k.mu.Lock()
	p := &t.ptrace
	if p.tracer == nil || p.opts&opt == 0 {
		k.mu.Unlock()
		return false
	}
	p.eventMsg = msg
	info := &arch.SignalInfo{Signo: int32(unix.SIGTRAP), Code: int32(unix.SIGTRAP) | int32(ev)<<8}
	t.ownInfoLocked(info)
	k.mu.Unlock()
	t.ptraceStop(stopEvent, stopSignalStatus(unix.SIGTRAP, ev), info)
	return true
}

// ptraceExec reports a successful execve to the tracer: a
// PTRACE_EVENT_EXEC stop with the former thread id, or, for a tracee
// attached without PTRACE_SEIZE that did not ask for it, a SIGTRAP.
func (t *Task) ptraceExec(oldTID ThreadID) {
	if t.ptraceEvent(unix.PTRACE_O_TRACEEXEC, unix.PTRACE_EVENT_EXEC, uint64(oldTID)) {
		return
	}
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if t.ptrace.tracer != nil && !t.ptrace.seized {
		t.pending.enqueue(&arch.SignalInfo{Signo: int32(unix.SIGTRAP), Code: siCodeUser})
	}
}

// ptraceSyscallStop makes a syscall-entry or syscall-exit stop if the
// tracer resumed t with PTRACE_SYSCALL (or PTRACE_SYSEMU, entry only). It
// reports whether t stopped and, at entry, whether the tracer wants the
// call emulated (skipped: PTRACE_SYSEMU).
func (t *Task) ptraceSyscallStop(kind ptraceStopKind) (stopped, emu bool) {
	k := t.k
	k.mu.Lock()
	p := &t.ptrace
	mode := p.syscallMode
	if p.tracer == nil || mode == ptraceSyscallNone || (kind == stopSyscallExit && mode == ptraceSyscallEmu) {
		k.mu.Unlock()
		return false, false
	}
	code := int32(unix.SIGTRAP)
	if p.opts&unix.PTRACE_O_TRACESYSGOOD != 0 {
		code |= 0x80
	}
	info := &arch.SignalInfo{Signo: int32(unix.SIGTRAP), Code: code}
	t.ownInfoLocked(info)
	k.mu.Unlock()
	if _, ok := t.ptraceStop(kind, WaitStatus(code)<<8|0x7f, info); !ok {
		return false, false
	}
	return true, mode == ptraceSyscallEmu
}

// ptraceSignalStopLocked makes the signal-delivery-stop of info, k.mu held (and
// held again on return). It returns the signal to deliver instead (nil:
// none, the tracer suppressed it).
func (t *Task) ptraceSignalStopLocked(info *arch.SignalInfo) *arch.SignalInfo {
	k := t.k
	sig := unix.Signal(info.Signo)
	t.ptraceEnterStopLocked(stopSignal, stopSignalStatus(sig, 0), info)
	k.mu.Unlock()
	newSig, ok := t.ptraceWaitResume()
	k.mu.Lock()
	if !ok {
		return nil // dying: the SIGKILL is taken next
	}
	if newSig == 0 {
		return nil
	}
	// The tracer may have replaced the siginfo (PTRACE_SETSIGINFO);
	// a different signal gets a fresh SI_USER one from the tracer
	// (ptrace_signal).
	cur := t.ptrace.info
	if cur == nil {
		cur = info
	}
	if unix.Signal(cur.Signo) != newSig {
		n := &arch.SignalInfo{Signo: int32(newSig), Code: siCodeUser}
		if tr := t.ptrace.tracer; tr != nil {
			// The tracer as the tracee's namespaces see it.
			n.SetPID(int32(t.tg.pidns.taskIDLocked(tr)))
			n.SetUID(t.UserNamespace().ViewUID(tr.Credentials().UID))
		}
		cur = n
	}
	if t.sigMask&SigBit(newSig) != 0 {
		// Blocked now: queue it again.
		t.pending.enqueue(cur)
		return nil
	}
	return cur
}

// ptraceTrapStopLocked makes a PTRACE_EVENT_STOP (or the group-stop
// report of a tracee attached without PTRACE_SEIZE), k.mu held and held
// again on return.
func (t *Task) ptraceTrapStopLocked() {
	p := &t.ptrace
	tg := t.tg
	p.trapStop = false
	sig := unix.SIGTRAP
	if tg.stopped {
		sig = tg.stopSignal
	}
	group := p.groupStop
	p.groupStop = false
	var status WaitStatus
	var info *arch.SignalInfo
	if p.seized {
		status = stopSignalStatus(sig, unix.PTRACE_EVENT_STOP)
		info = &arch.SignalInfo{Signo: int32(sig), Code: int32(sig) | unix.PTRACE_EVENT_STOP<<8}
		t.ownInfoLocked(info)
	} else {
		// A group-stop of a tracee attached by PTRACE_ATTACH or
		// TRACEME: no siginfo (PTRACE_GETSIGINFO fails with EINVAL).
		status = stopSignalStatus(sig, 0)
		if !group && !tg.stopped {
			status = stopSignalStatus(unix.SIGTRAP, 0)
		}
	}
	kind := stopGroup
	t.ptraceEnterStopLocked(kind, status, info)
	t.k.mu.Unlock()
	t.ptraceWaitResume()
	t.k.mu.Lock()
}

// ptraceSingleStep reports whether t's next run is a single step
// (PTRACE_SINGLESTEP).
func (t *Task) ptraceSingleStep() bool {
	if t.k.ptraceCount.Load() == 0 {
		return false // nobody is traced: no lock on every switch
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.ptrace.tracer != nil && t.ptrace.singlestep
}

// PtraceMayAccess implements __ptrace_may_access for t acting on target
// (also process_vm_readv(2), /proc/PID/mem): the same process always;
// otherwise matching real, effective and saved uids and gids and a
// dumpable target, or CAP_SYS_PTRACE in the target's user namespace
// (ptrace_has_cap: a namespace's root has it over the processes of its
// namespace and those below, never over those outside).
func (t *Task) PtraceMayAccess(target *Task) error {
	if target.tg == t.tg {
		return nil
	}
	c, tc := t.Credentials(), target.Credentials()
	if c.HasCapabilityIn(unix.CAP_SYS_PTRACE, tc.UserNamespace()) {
		return nil
	}
	if c.UID != tc.UID || c.UID != tc.EUID || c.UID != tc.SUID ||
		c.GID != tc.GID || c.GID != tc.EGID || c.GID != tc.SGID {
		return unix.EPERM
	}
	if !target.tg.Dumpable() {
		return unix.EPERM
	}
	return nil
}

// PtraceMayAttach is ptrace_may_access with PTRACE_MODE_ATTACH:
// PtraceMayAccess, then Yama's ptrace_scope (process_vm_readv(2),
// pidfd_getfd(2)).
func (t *Task) PtraceMayAttach(target *Task) error {
	if target.tg == t.tg {
		return nil
	}
	if err := t.PtraceMayAccess(target); err != nil {
		return err
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.mayAttachYamaLocked(target)
}

// ptraceCapableOver reports whether t has CAP_SYS_PTRACE in the user
// namespace of target (Yama's ns_capable(__task_cred(child)->user_ns)).
func (t *Task) ptraceCapableOver(target *Task) bool {
	return t.Credentials().HasCapabilityIn(unix.CAP_SYS_PTRACE, target.UserNamespace())
}

// mayAttachYamaLocked applies Yama's ptrace_scope to PTRACE_ATTACH and
// PTRACE_SEIZE (Documentation/admin-guide/LSM/Yama.rst).
func (t *Task) mayAttachYamaLocked(target *Task) error {
	switch t.k.PtraceScope {
	case 0:
		return nil
	case 1:
		if t.ptraceCapableOver(target) {
			return nil
		}
		for p := target.tg; p != nil; p = p.parent {
			if p == t.tg {
				return nil
			}
		}
		if pt := target.ptracer(); pt == -1 || (pt > 0 && pt == t.tg.tgid) {
			return nil
		}
		return unix.EPERM
	case 2:
		if t.ptraceCapableOver(target) {
			return nil
		}
	}
	return unix.EPERM
}

// ptracer is the tracer PR_SET_PTRACER allowed, for t's process.
func (t *Task) ptracer() ThreadID {
	if l := t.tg.leader; l != nil {
		return l.ptrace.ptracer
	}
	return t.ptrace.ptracer
}

// SetPtracer implements prctl(PR_SET_PTRACER): pid 0 clears, -1
// (PR_SET_PTRACER_ANY) allows any process, otherwise pid, in t's pid
// namespace, must exist (EINVAL); its process is remembered.
func (t *Task) SetPtracer(pid int64) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	id := ThreadID(pid)
	switch {
	case pid == -1 || pid == 0:
	case pid > 0 && pid < 1<<22:
		ns := t.tg.pidns
		if o := ns.taskLocked(id); o != nil {
			id = o.tg.tgid
		} else if tg := ns.tgLocked(id); tg != nil {
			id = tg.tgid
		} else {
			return unix.EINVAL
		}
	default:
		return unix.EINVAL
	}
	l := t.tg.leader
	if l == nil {
		l = t
	}
	l.ptrace.ptracer = id
	return nil
}

// PtraceTraceme implements PTRACE_TRACEME: t's parent becomes its tracer.
func (t *Task) PtraceTraceme() error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if t.ptrace.tracer != nil {
		return unix.EPERM
	}
	p := t.tg.parent
	if p == nil || p.exiting || len(p.tasks) == 0 {
		return unix.EPERM
	}
	tracer := p.leader
	if tracer == nil {
		for o := range p.tasks {
			tracer = o
			break
		}
	}
	k.mu.Unlock()
	err := tracer.PtraceMayAccess(t)
	k.mu.Lock()
	if err != nil {
		return err
	}
	if t.ptrace.tracer != nil || tracer.exiting {
		return unix.EPERM
	}
	t.ptraceAttachLocked(tracer, false, 0)
	return nil
}

// PtraceAttach implements PTRACE_ATTACH (seize false: the tracee gets
// SIGSTOP) and PTRACE_SEIZE (with options opts; a tracee in a group-stop
// reports it at once as PTRACE_EVENT_STOP).
func (t *Task) PtraceAttach(target *Task, seize bool, opts uint64) error {
	if seize && opts&^ptraceOptionsMask != 0 {
		return unix.EINVAL
	}
	if target.tg == t.tg {
		return unix.EPERM
	}
	if err := t.PtraceMayAccess(target); err != nil {
		return err
	}
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := t.mayAttachYamaLocked(target); err != nil {
		return err
	}
	if target.ptrace.tracer != nil || target.exiting || target.tg.exiting || len(target.tg.tasks) == 0 {
		return unix.EPERM
	}
	if _, live := k.tasks[target.tid]; !live {
		return unix.ESRCH
	}
	target.ptraceAttachLocked(t, seize, opts)
	if !seize {
		// From the tracer, as the tracee's namespaces see it.
		info := &arch.SignalInfo{Signo: int32(unix.SIGSTOP), Code: siCodeUser}
		info.SetPID(int32(target.tg.pidns.tgIDLocked(t.tg)))
		info.SetUID(target.UserNamespace().ViewUID(t.Credentials().UID))
		k.sendLocked(target.tg, target, info)
		return nil
	}
	if target.tg.stopped {
		// Linux makes a stopped task re-trap into PTRACE_EVENT_STOP
		// before PTRACE_SEIZE returns (JOBCTL_TRAP_STOP): do it for the
		// task, which waits in its group-stop and finds itself in a
		// ptrace-stop when it wakes.
		p := &target.ptrace
		sig := target.tg.stopSignal
		info := &arch.SignalInfo{Signo: int32(sig), Code: int32(sig) | unix.PTRACE_EVENT_STOP<<8}
		target.ownInfoLocked(info)
		target.ptraceEnterStopLocked(stopGroup, stopSignalStatus(sig, unix.PTRACE_EVENT_STOP), info)
		p.groupStop = false
		target.interrupt()
	}
	return nil
}

// PtraceTracee returns the task tid (in t's pid namespace) that t traces,
// for a request that needs it in a ptrace-stop (ESRCH otherwise, as
// ptrace_check_attach).
func (t *Task) PtraceTracee(tid ThreadID, mustBeStopped bool) (*Task, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tr := t.tg.pidns.taskLocked(tid)
	if tr == nil || tr.ptrace.tracer != t {
		return nil, unix.ESRCH
	}
	if mustBeStopped && (!tr.ptrace.stopped || tr.ptrace.listening) {
		return nil, unix.ESRCH
	}
	return tr, nil
}

// PtraceResume restarts a stopped tracee: req is PTRACE_CONT,
// PTRACE_SYSCALL, PTRACE_SINGLESTEP, PTRACE_SYSEMU or
// PTRACE_SYSEMU_SINGLESTEP; sig is the signal to deliver (0 for none).
func (tr *Task) PtraceResume(req int, sig unix.Signal) error {
	if sig < 0 || sig > numSignals {
		return unix.EIO
	}
	step := req == unix.PTRACE_SINGLESTEP || req == unix.PTRACE_SYSEMU_SINGLESTEP
	k := tr.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if step && tr.ctx != nil && !platform.CanSingleStep(tr.ctx) {
		// The platform cannot run one instruction: as on hardware
		// without single-step (arch_has_single_step() false).
		return unix.EIO
	}
	p := &tr.ptrace
	if !p.stopped {
		return unix.ESRCH
	}
	switch req {
	case unix.PTRACE_SYSCALL:
		p.syscallMode = ptraceSyscallTrace
	case unix.PTRACE_SYSEMU, unix.PTRACE_SYSEMU_SINGLESTEP:
		p.syscallMode = ptraceSyscallEmu
	default:
		p.syscallMode = ptraceSyscallNone
	}
	p.singlestep = step
	p.resumeSig = sig
	p.stopped, p.listening = false, false
	tr.ptraceWakeLocked()
	return nil
}

// PtraceListen implements PTRACE_LISTEN: a seized tracee in a
// PTRACE_EVENT_STOP stays stopped, takes no requests and is not waitable
// until its group-stop changes (SIGCONT: it then reports
// PTRACE_EVENT_STOP with SIGTRAP) or PTRACE_INTERRUPT.
func (tr *Task) PtraceListen() error {
	k := tr.k
	k.mu.Lock()
	defer k.mu.Unlock()
	p := &tr.ptrace
	if !p.seized || p.kind != stopGroup || p.info == nil {
		return unix.EIO
	}
	p.listening = true
	if p.trapNotify {
		// The group-stop changed while the tracee was trapped
		// (JOBCTL_TRAP_NOTIFY): it re-traps at once.
		tr.ptraceRelistenLocked()
	}
	return nil
}

// ptraceRelistenLocked ends the listening of a tracee whose group-stop
// ended (SIGCONT): it reports a new PTRACE_EVENT_STOP.
func (tr *Task) ptraceRelistenLocked() {
	sig := unix.SIGTRAP
	if tr.tg.stopped {
		sig = tr.tg.stopSignal
	}
	info := &arch.SignalInfo{Signo: int32(sig), Code: int32(sig) | unix.PTRACE_EVENT_STOP<<8}
	tr.ownInfoLocked(info)
	tr.ptraceEnterStopLocked(stopGroup, stopSignalStatus(sig, unix.PTRACE_EVENT_STOP), info)
}

// ptraceGroupContinuedLocked is SIGCONT's effect on tg's tracees: pending
// group-stop reports are dropped and listening tracees report again.
func (tg *ThreadGroup) ptraceGroupContinuedLocked() {
	for t := range tg.tasks {
		p := &t.ptrace
		p.groupStop = false
		switch {
		case p.stopped && p.listening:
			t.ptraceRelistenLocked()
		case p.stopped && p.seized && p.kind == stopGroup:
			p.trapNotify = true
		}
	}
}

// ptraceGroupStopLocked asks every traced thread of tg to report the
// group-stop that starts.
func (tg *ThreadGroup) ptraceGroupStopLocked() {
	for t := range tg.tasks {
		if t.ptrace.tracer != nil {
			t.ptrace.groupStop = true
		}
	}
}

// PtraceInterrupt implements PTRACE_INTERRUPT of a seized tracee.
func (tr *Task) PtraceInterrupt() error {
	k := tr.k
	k.mu.Lock()
	defer k.mu.Unlock()
	p := &tr.ptrace
	if !p.seized {
		return unix.EIO
	}
	if p.stopped && !p.listening {
		return nil // already stopped: the stop is the trap
	}
	if p.stopped && p.listening {
		tr.ptraceRelistenLocked()
		return nil
	}
	p.trapStop = true
	tr.interrupt()
	return nil
}

// PtraceDetach implements PTRACE_DETACH.
func (tr *Task) PtraceDetach(sig unix.Signal) error {
	if sig < 0 || sig > numSignals {
		return unix.EIO
	}
	k := tr.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tr.ptraceDetachLocked(sig)
	return nil
}

// PtraceKill implements PTRACE_KILL: the tracee dies of SIGKILL.
func (tr *Task) PtraceKill() {
	k := tr.k
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sendLocked(tr.tg, nil, &arch.SignalInfo{Signo: int32(unix.SIGKILL), Code: 0x80})
}

// PtraceSetOptions implements PTRACE_SETOPTIONS.
func (tr *Task) PtraceSetOptions(opts uint64) error {
	if opts&^ptraceOptionsMask != 0 {
		return unix.EINVAL
	}
	tr.k.mu.Lock()
	tr.ptrace.opts = opts
	tr.k.mu.Unlock()
	return nil
}

// PtraceEventMsg implements PTRACE_GETEVENTMSG.
func (tr *Task) PtraceEventMsg() uint64 {
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	return tr.ptrace.eventMsg
}

// PtraceSiginfo implements PTRACE_GETSIGINFO: EINVAL in a stop without
// one (a group-stop of a tracee not attached by PTRACE_SEIZE).
func (tr *Task) PtraceSiginfo() (arch.SignalInfo, error) {
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	if tr.ptrace.info == nil {
		return arch.SignalInfo{}, unix.EINVAL
	}
	return *tr.ptrace.info, nil
}

// PtraceSetSiginfo implements PTRACE_SETSIGINFO.
func (tr *Task) PtraceSetSiginfo(info arch.SignalInfo) error {
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	if tr.ptrace.info == nil {
		return unix.EINVAL
	}
	tr.ptrace.info = &info
	return nil
}

// PtraceRegs returns the stopped tracee's registers.
func (tr *Task) PtraceRegs() arch.Registers {
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	return tr.regs
}

// userFlagMask are the rflags bits a tracer may change (Linux's
// FLAG_MASK): CF PF AF ZF SF TF DF OF NT RF AC.
const userFlagMask = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 | 0x10000 | 0x40000

// PtraceSetRegs implements PTRACE_SETREGS as Linux's putreg does: segment
// selectors must be user selectors (EIO), fs_base and gs_base user
// addresses (EIO), and only the user-changeable flags change. The code
// and stack segments stay those of 64-bit user mode: the Sentry runs no
// other mode.
func (tr *Task) PtraceSetRegs(r arch.Registers) error {
	for _, sel := range []uint64{r.Cs, r.Ss, r.Ds, r.Es, r.Fs, r.Gs} {
		if sel > 0xffff || (sel != 0 && sel&3 != 3) {
			return unix.EIO
		}
	}
	if r.Cs&3 != 3 || r.Ss&3 != 3 {
		return unix.EIO
	}
	max := uint64(tr.mm.StackTop()) // below the platform's reserved top
	if r.Fs_base >= max || r.Gs_base >= max {
		return unix.EIO
	}
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	old := tr.regs
	r.Cs, r.Ss, r.Ds, r.Es, r.Fs, r.Gs = old.Cs, old.Ss, old.Ds, old.Es, old.Fs, old.Gs
	r.Eflags = old.Eflags&^userFlagMask | r.Eflags&userFlagMask
	tr.regs = r
	return nil
}

// userRegsSize is sizeof(struct user_regs_struct).
const userRegsSize = 27 * 8

// Offsets in struct user (sys/user.h) PEEKUSER and POKEUSER address.
const (
	userDebugRegOffset = 848
	userSize           = 912
)

// PtracePeekUser implements PTRACE_PEEKUSER: registers, debug registers
// (as written), and 0 for the rest of struct user.
func (tr *Task) PtracePeekUser(off uint64) (uint64, error) {
	if off&7 != 0 || off >= userSize {
		return 0, unix.EIO
	}
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	switch {
	case off < userRegsSize:
		return *regsFields(&tr.regs)[off/8], nil
	case off >= userDebugRegOffset:
		return tr.ptrace.debugRegs[(off-userDebugRegOffset)/8], nil
	}
	return 0, nil
}

// PtracePokeUser implements PTRACE_POKEUSER: a register (with
// PTRACE_SETREGS's checks) or a debug register. DR7 may not enable a
// hardware breakpoint (EIO): the Sentry has none.
func (tr *Task) PtracePokeUser(off, v uint64) error {
	if off&7 != 0 || off >= userSize {
		return unix.EIO
	}
	switch {
	case off < userRegsSize:
		r := tr.PtraceRegs()
		*regsFields(&r)[off/8] = v
		return tr.PtraceSetRegs(r)
	case off >= userDebugRegOffset:
		n := (off - userDebugRegOffset) / 8
		if n == 4 || n == 5 || (n == 7 && v&0xff != 0) {
			return unix.EIO
		}
		tr.k.mu.Lock()
		tr.ptrace.debugRegs[n] = v
		tr.k.mu.Unlock()
		return nil
	}
	return nil
}

// regsFields points at the 27 words of r in the order of struct
// user_regs_struct.
func regsFields(r *arch.Registers) [27]*uint64 {
	return [27]*uint64{&r.R15, &r.R14, &r.R13, &r.R12, &r.Rbp, &r.Rbx, &r.R11, &r.R10, &r.R9, &r.R8,
		&r.Rax, &r.Rcx, &r.Rdx, &r.Rsi, &r.Rdi, &r.Orig_rax, &r.Rip, &r.Cs, &r.Eflags, &r.Rsp, &r.Ss,
		&r.Fs_base, &r.Gs_base, &r.Ds, &r.Es, &r.Fs, &r.Gs}
}

// MarshalRegs returns r as struct user_regs_struct.
func MarshalRegs(r *arch.Registers) []byte {
	b := make([]byte, userRegsSize)
	for i, w := range regsFields(r) {
		binary.LittleEndian.PutUint64(b[i*8:], *w)
	}
	return b
}

// UnmarshalRegs decodes struct user_regs_struct.
func UnmarshalRegs(b []byte) arch.Registers {
	var r arch.Registers
	for i, w := range regsFields(&r) {
		*w = binary.LittleEndian.Uint64(b[i*8:])
	}
	return r
}

// onTracee runs fn on the stopped tracee's goroutine (which owns the
// platform context) and waits for it. It fails with ESRCH if the tracee
// leaves its stop first, or EINTR if the tracer is interrupted.
func (t *Task) onTracee(tr *Task, fn func()) error {
	done := make(chan struct{})
	work := func() { fn(); close(done) }
	for {
		t.k.mu.Lock()
		ok := tr.ptrace.stopped && tr.ptrace.tracer == t
		ch := tr.ptrace.work
		t.k.mu.Unlock()
		if !ok {
			return unix.ESRCH
		}
		// The tracee takes the work in its stop; if it dies first
		// (its exit does not wake the tracer), look again soon.
		tm := time.NewTimer(10 * time.Millisecond)
		select {
		case ch <- work:
			tm.Stop()
			<-done
			return nil
		case <-t.interruptCh:
			tm.Stop()
			if t.interrupted() {
				return syserr.ErrInterrupted
			}
		case <-tm.C:
		}
	}
}

// PtraceFPState returns the stopped tracee's FPU state (the xsave area;
// its first 512 bytes are the fxsave area, struct user_fpregs_struct).
func (t *Task) PtraceFPState(tr *Task) (arch.FPState, error) {
	var fp arch.FPState
	var err error
	if e := t.onTracee(tr, func() { fp, err = tr.ctx.FPState() }); e != nil {
		return nil, e
	}
	return fp, err
}

// PtraceSetFPState replaces the first len(b) bytes of the stopped
// tracee's xsave area; with fxsaveOnly (PTRACE_SETFPREGS, NT_PRFPREG) the
// x87 and SSE state are marked in use in the xsave header.
func (t *Task) PtraceSetFPState(tr *Task, b []byte, fxsaveOnly bool) error {
	var err error
	e := t.onTracee(tr, func() {
		var fp arch.FPState
		if fp, err = tr.ctx.FPState(); err != nil {
			return
		}
		if len(b) > len(fp) {
			err = unix.EINVAL
			return
		}
		copy(fp, b)
		if fxsaveOnly && len(fp) >= 520 {
			fp[512] |= 3 // XFEATURE_MASK_FPSSE in xstate_bv
		}
		err = tr.ctx.SetFPState(fp)
	})
	if e != nil {
		return e
	}
	if err != nil {
		return unix.EINVAL
	}
	return nil
}

// PtraceSignalMask implements PTRACE_GETSIGMASK.
func (tr *Task) PtraceSignalMask() uint64 { return tr.SignalMask() }

// PtraceSetSignalMask implements PTRACE_SETSIGMASK.
func (tr *Task) PtraceSetSignalMask(m uint64) { tr.SetSignalMask(m) }

// SyscallInfo is struct ptrace_syscall_info, for PTRACE_GET_SYSCALL_INFO.
type SyscallInfo struct {
	Op      uint8 // PTRACE_SYSCALL_INFO_NONE, ENTRY, EXIT, SECCOMP
	IP, SP  uint64
	Nr      uint64
	Args    [6]uint64
	RVal    int64
	IsError bool
	RetData uint32
}

// Marshal encodes the structure, as many bytes of it as Linux fills for
// this op (PTRACE_GET_SYSCALL_INFO returns that size).
func (s *SyscallInfo) Marshal() []byte {
	b := make([]byte, 88)
	b[0] = s.Op
	binary.LittleEndian.PutUint32(b[4:], unix.AUDIT_ARCH_X86_64)
	binary.LittleEndian.PutUint64(b[8:], s.IP)
	binary.LittleEndian.PutUint64(b[16:], s.SP)
	switch s.Op {
	case unix.PTRACE_SYSCALL_INFO_ENTRY, unix.PTRACE_SYSCALL_INFO_SECCOMP:
		binary.LittleEndian.PutUint64(b[24:], s.Nr)
		for i, a := range s.Args {
			binary.LittleEndian.PutUint64(b[32+8*i:], a)
		}
		if s.Op == unix.PTRACE_SYSCALL_INFO_SECCOMP {
			binary.LittleEndian.PutUint32(b[80:], s.RetData)
			return b[:84]
		}
		return b[:80]
	case unix.PTRACE_SYSCALL_INFO_EXIT:
		binary.LittleEndian.PutUint64(b[24:], uint64(s.RVal))
		if s.IsError {
			b[32] = 1
		}
		return b[:33]
	}
	return b[:24]
}

// PtraceSyscallInfo implements PTRACE_GET_SYSCALL_INFO for the stopped
// tracee.
func (tr *Task) PtraceSyscallInfo() SyscallInfo {
	tr.k.mu.Lock()
	defer tr.k.mu.Unlock()
	r := &tr.regs
	s := SyscallInfo{IP: r.Rip, SP: r.Rsp}
	switch tr.ptrace.kind {
	case stopSyscallEntry, stopSeccomp:
		s.Op = unix.PTRACE_SYSCALL_INFO_ENTRY
		if tr.ptrace.kind == stopSeccomp {
			s.Op = unix.PTRACE_SYSCALL_INFO_SECCOMP
			s.RetData = uint32(tr.ptrace.eventMsg)
		}
		s.Nr = r.Orig_rax
		s.Args = arch.Args(r)
	case stopSyscallExit:
		s.Op = unix.PTRACE_SYSCALL_INFO_EXIT
		s.RVal = int64(r.Rax)
		s.IsError = s.RVal < 0 && s.RVal >= -4095
	}
	return s
}

// ptraceSeccompTrace is SECCOMP_RET_TRACE for a traced task whose tracer
// set PTRACE_O_TRACESECCOMP: a PTRACE_EVENT_SECCOMP stop with the
// filter's data as the event message. It reports false when there is no
// such tracer (the call then fails with ENOSYS).
func (t *Task) ptraceSeccompTrace(data uint16) bool {
	k := t.k
	k.mu.Lock()
	p := &t.ptrace
	if p.tracer == nil || p.opts&unix.PTRACE_O_TRACESECCOMP == 0 {
		k.mu.Unlock()
		return false
	}
	p.eventMsg = uint64(data)
	info := &arch.SignalInfo{Signo: int32(unix.SIGTRAP), Code: int32(unix.SIGTRAP) | unix.PTRACE_EVENT_SECCOMP<<8}
	t.ownInfoLocked(info)
	k.mu.Unlock()
	t.regs.Rax = negErrno(unix.ENOSYS)
	t.ptraceStop(stopSeccomp, stopSignalStatus(unix.SIGTRAP, unix.PTRACE_EVENT_SECCOMP), info)
	return true
}

// ptraceCloneLocked attaches a new task to t's tracer, as the clone event
// the tracer asked for (or CLONE_PTRACE) says, before the child runs; it
// returns the event to report (0 for none).
func (t *Task) ptraceCloneLocked(nt *Task, flags uint64, exitSignal unix.Signal) int {
	p := &t.ptrace
	if p.tracer == nil || flags&unix.CLONE_UNTRACED != 0 {
		return 0
	}
	ev, opt := unix.PTRACE_EVENT_FORK, uint64(unix.PTRACE_O_TRACEFORK)
	switch {
	case flags&unix.CLONE_VFORK != 0:
		ev, opt = unix.PTRACE_EVENT_VFORK, unix.PTRACE_O_TRACEVFORK
	case exitSignal != unix.SIGCHLD:
		ev, opt = unix.PTRACE_EVENT_CLONE, unix.PTRACE_O_TRACECLONE
	}
	if p.opts&opt == 0 {
		if flags&unix.CLONE_PTRACE == 0 {
			return 0
		}
		ev = 0
	}
	nt.ptraceAttachLocked(p.tracer, p.seized, p.opts)
	// The child starts in its first ptrace-stop, a PTRACE_EVENT_STOP
	// (seized) or the delivery of a SIGSTOP, entered here rather than
	// when its goroutine first runs, so that the tracer sees the child
	// before anything the parent does next (strace learns of new
	// children from that stop).
	if p.seized {
		info := &arch.SignalInfo{Signo: int32(unix.SIGTRAP), Code: int32(unix.SIGTRAP) | unix.PTRACE_EVENT_STOP<<8}
		nt.ownInfoLocked(info)
		nt.ptraceEnterStopLocked(stopGroup, stopSignalStatus(unix.SIGTRAP, unix.PTRACE_EVENT_STOP), info)
	} else {
		info := &arch.SignalInfo{Signo: int32(unix.SIGSTOP), Code: siCodeUser}
		nt.ptraceEnterStopLocked(stopSignal, stopSignalStatus(unix.SIGSTOP, 0), info)
	}
	return ev
}
