package kernel

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

// numSignals is the number of signals (1..64).
const numSignals = 64

// SigBit returns the mask bit of signal sig.
func SigBit(sig unix.Signal) uint64 { return 1 << (uint(sig) - 1) }

// unblockable signals can never be masked.
var unblockable = SigBit(unix.SIGKILL) | SigBit(unix.SIGSTOP)

// Default actions (signal(7)).
type defaultAction int

const (
	actTerm defaultAction = iota
	actCore
	actIgnore
	actStop
	actContinue
)

func defaultActionOf(sig unix.Signal) defaultAction {
	switch sig {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
		return actIgnore
	case unix.SIGCONT:
		return actContinue
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return actStop
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE,
		unix.SIGSEGV, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return actCore
	}
	return actTerm
}

const (
	sigDFL = 0
	sigIGN = 1
)

// sigQueue holds pending signals: one entry per standard signal, a queue
// per real-time signal.
type sigQueue struct {
	set   uint64
	infos map[unix.Signal][]*arch.SignalInfo
}

func (q *sigQueue) enqueue(info *arch.SignalInfo) {
	sig := unix.Signal(info.Signo)
	if q.infos == nil {
		q.infos = make(map[unix.Signal][]*arch.SignalInfo)
	}
	if sig < sigRTMin && q.set&SigBit(sig) != 0 {
		return // standard signals do not queue
	}
	q.set |= SigBit(sig)
	q.infos[sig] = append(q.infos[sig], info)
}

// dequeue removes and returns the lowest pending signal in mask.
func (q *sigQueue) dequeue(mask uint64) *arch.SignalInfo {
	avail := q.set & mask
	if avail == 0 {
		return nil
	}
	var sig unix.Signal
	for s := unix.Signal(1); s <= numSignals; s++ {
		if avail&SigBit(s) != 0 {
			sig = s
			break
		}
	}
	l := q.infos[sig]
	info := l[0]
	if len(l) == 1 {
		delete(q.infos, sig)
		q.set &^= SigBit(sig)
	} else {
		q.infos[sig] = l[1:]
	}
	return info
}

func (q *sigQueue) discard(sig unix.Signal) {
	delete(q.infos, sig)
	q.set &^= SigBit(sig)
}

// isIgnoredLocked reports whether sig would be ignored by tg right now.
func (tg *ThreadGroup) isIgnoredLocked(sig unix.Signal) bool {
	h := tg.handlers.acts[sig].Handler
	return h == sigIGN || (h == sigDFL && defaultActionOf(sig) == actIgnore)
}

// SendSignal sends a process-directed signal to tg (kill(2)).
func (k *Kernel) SendSignal(tg *ThreadGroup, info *arch.SignalInfo) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sendLocked(tg, nil, info)
}

// SendThreadSignal sends a thread-directed signal to t (tgkill(2)).
func (k *Kernel) SendThreadSignal(t *Task, info *arch.SignalInfo) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sendLocked(t.tg, t, info)
}

// sendLocked queues info for tg (or just thread t) and wakes a thread
// that can take it.
func (k *Kernel) sendLocked(tg *ThreadGroup, t *Task, info *arch.SignalInfo) error {
	return k.sendFromLocked(tg, t, info, nil)
}

// sendFromLocked is sendLocked for a signal a task sent (sender; nil for
// the kernel's own and those from outside): the init of a pid namespace
// drops those it has no handler for (nsInitDropsLocked).
func (k *Kernel) sendFromLocked(tg *ThreadGroup, t *Task, info *arch.SignalInfo, sender *Task) error {
	sig := unix.Signal(info.Signo)
	if sig < 1 || sig > numSignals {
		return unix.EINVAL
	}
	if tg.zombie || len(tg.tasks) == 0 {
		return nil
	}
	if nsInitDropsLocked(tg, sender, int(sig)) {
		return nil
	}
	// Like a pid namespace's init (SIGNAL_UNKILLABLE), the first process
	// drops signals from inside the sandbox that would take their default
	// action, unless it blocks them (it may wait for them).
	if tg == k.init && !k.initTakesLocked(info) && tg.handlers.acts[sig].Handler == sigDFL && !tg.blockedLocked(sig) {
		return nil
	}
	switch sig {
	case unix.SIGKILL:
		tg.stopped = false
		tg.wakeStopped()
	case unix.SIGCONT:
		for _, q := range tg.allQueues() {
			for _, s := range []unix.Signal{unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
				q.discard(s)
			}
		}
		tg.ptraceGroupContinuedLocked()
		if tg.stopped {
			tg.stopped = false
			tg.reportContinue = true
			tg.reportStop = false
			tg.wakeStopped()
			tg.notifyParentLocked(CLD_CONTINUED, int32(unix.SIGCONT))
		}
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		for _, q := range tg.allQueues() {
			q.discard(unix.SIGCONT)
		}
	}
	// Ignored signals are dropped at generation unless blocked
	// somewhere (they might be unignored before being unblocked).
	// A traced process gets them anyway: its tracer sees every signal
	// (sig_ignored).
	if tg.isIgnoredLocked(sig) && sig != unix.SIGKILL && !tg.blockedLocked(sig) && !tg.tracedLocked() {
		return nil
	}
	// RLIMIT_SIGPENDING (rlimit.go), for a signal that will be queued.
	var err error
	if info, err = k.queueLimitLocked(tg, t, info); info == nil {
		return err
	}
	tg.signalfds.queued()
	if t != nil {
		t.pending.enqueue(info)
		t.interrupt()
		return nil
	}
	tg.pending.enqueue(info)
	// Wake one thread that can take it (prefer the leader), or every
	// thread for SIGKILL.
	if sig == unix.SIGKILL {
		for tt := range tg.tasks {
			tt.interrupt()
		}
		return nil
	}
	if l := tg.leader; l != nil && !l.exiting && l.canTake(sig) {
		l.interrupt()
		return nil
	}
	for tt := range tg.tasks {
		if tt.canTake(sig) {
			tt.interrupt()
			return nil
		}
	}
	return nil
}

// initTakesLocked reports whether the first process takes the default
// action of a signal it has no handler for. From inside the sandbox it
// never does (SIGNAL_UNKILLABLE). From outside, Linux lets only SIGKILL
// and SIGSTOP through (so `docker stop` of a process that ignores SIGTERM
// waits for the SIGKILL); with HostSignalsActOnInit every signal from
// outside acts (runsc do: ^C stops `runsc do sleep 100`).
func (k *Kernel) initTakesLocked(info *arch.SignalInfo) bool {
	if !FromHost(info) {
		return false
	}
	sig := unix.Signal(info.Signo)
	return k.HostSignalsActOnInit || sig == unix.SIGKILL || sig == unix.SIGSTOP
}

// FromHost reports whether info describes a signal sent from outside the
// sandbox: like a sender in an ancestor pid namespace, it is SI_USER with
// sender pid 0 (tasks inside all have pids >= 1). runsc uses this for the
// signals it forwards, so Ctrl-C reaches "runsc do sleep 100".
func FromHost(info *arch.SignalInfo) bool {
	return info.Code == 0 && info.PID() == 0
}

// blockedLocked reports whether some thread of tg blocks sig.
func (tg *ThreadGroup) blockedLocked(sig unix.Signal) bool {
	for t := range tg.tasks {
		if t.sigMask&SigBit(sig) != 0 {
			return true
		}
	}
	return false
}

// canTake reports whether t could handle sig now.
func (t *Task) canTake(sig unix.Signal) bool {
	return t.sigMask&SigBit(sig) == 0 || t.sigWaitSet&SigBit(sig) != 0
}

func (tg *ThreadGroup) allQueues() []*sigQueue {
	qs := []*sigQueue{&tg.pending}
	for t := range tg.tasks {
		qs = append(qs, &t.pending)
	}
	return qs
}

func (tg *ThreadGroup) wakeStopped() {
	if tg.stopWake != nil {
		close(tg.stopWake)
		tg.stopWake = nil
	}
}

// needsAttentionLocked reports whether t must not enter the application
// now: a deliverable signal, a stop or an exit.
func (t *Task) needsAttentionLocked() bool {
	tg := t.tg
	return t.exiting || tg.exiting || t.groupStopDueLocked() || t.ptrace.trapStop || t.ptrace.stopped ||
		(t.pending.set|tg.pending.set)&^(t.sigMask&^unblockable) != 0
}

// interrupted reports whether a blocking wait should end early.
func (t *Task) interrupted() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.needsAttentionLocked() || (t.pending.set|t.tg.pending.set)&t.sigWaitSet != 0
}

// forceSignal delivers a synchronous signal caused by the application
// (fault, illegal instruction): if it is blocked or ignored the default
// action applies, as Linux's force_sig does.
func (t *Task) forceSignal(signo int, code int32, addr uint64) {
	info := &arch.SignalInfo{Signo: int32(signo), Code: code}
	info.SetAddr(addr)
	t.forceSignalInfo(info)
}

// forceSignalInfo is forceSignal with a complete siginfo.
func (t *Task) forceSignalInfo(info *arch.SignalInfo) {
	sig := unix.Signal(info.Signo)
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	act := &t.tg.handlers.acts[sig]
	if t.sigMask&SigBit(sig) != 0 || act.Handler == sigIGN {
		t.sigMask &^= SigBit(sig)
		act.Handler = sigDFL
	}
	t.forced |= SigBit(sig) // acts even on init
	t.pending.enqueue(info)
}

// SignalMask returns t's blocked signals.
func (t *Task) SignalMask() uint64 {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.sigMask
}

// SetSignalMask sets t's blocked signals (SIGKILL and SIGSTOP stay
// unblocked).
func (t *Task) SetSignalMask(mask uint64) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	t.sigMask = mask &^ unblockable
}

// SetSavedSignalMask arranges for the current mask to be restored after
// the next signal delivery or syscall return (sigsuspend, ppoll, pselect),
// and installs mask for the wait.
func (t *Task) SetSavedSignalMask(mask uint64) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	t.savedMask, t.haveSaved = t.sigMask, true
	t.sigMask = mask &^ unblockable
}

// RestoreSavedSignalMask undoes SetSavedSignalMask when the wait ends
// without a signal being delivered.
func (t *Task) RestoreSavedSignalMask() {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.haveSaved {
		t.sigMask, t.haveSaved = t.savedMask, false
	}
}

// PendingSignals returns the signals pending for t (thread or process).
func (t *Task) PendingSignals() uint64 {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.pending.set | t.tg.pending.set
}

// SignalAction returns and optionally replaces the action for sig.
func (t *Task) SignalAction(sig unix.Signal, newAct *arch.SignalAct) (arch.SignalAct, error) {
	if sig < 1 || sig > numSignals {
		return arch.SignalAct{}, unix.EINVAL
	}
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	old := t.tg.handlers.acts[sig]
	if newAct != nil {
		if sig == unix.SIGKILL || sig == unix.SIGSTOP {
			return arch.SignalAct{}, unix.EINVAL
		}
		a := *newAct
		a.Mask &^= unblockable
		t.tg.handlers.acts[sig] = a
		// Setting a signal to be ignored discards it if pending.
		if t.tg.isIgnoredLocked(sig) {
			for _, q := range t.tg.allQueues() {
				q.discard(sig)
			}
		}
	}
	return old, nil
}

// SignalStack returns t's alternate signal stack, with SS_ONSTACK set if t
// is running on it.
func (t *Task) SignalStack() arch.SignalStack {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	s := t.altStack
	if s.Size == 0 {
		s.Flags = arch.SS_DISABLE
	} else if t.onAltStack() {
		s.Flags |= arch.SS_ONSTACK
	}
	return s
}

// SetSignalStack implements sigaltstack's set half.
func (t *Task) SetSignalStack(s arch.SignalStack) error {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.onAltStack() {
		return unix.EPERM
	}
	if s.Flags&arch.SS_DISABLE != 0 {
		t.altStack = arch.SignalStack{Flags: arch.SS_DISABLE}
		return nil
	}
	if s.Flags&^(arch.SS_AUTODISARM|arch.SS_ONSTACK) != 0 { // SS_ONSTACK is accepted and means nothing
		return unix.EINVAL
	}
	if s.Size < minSigStkSz {
		return unix.ENOMEM
	}
	t.altStack = s
	return nil
}

func (t *Task) onAltStack() bool {
	sp := t.regs.Rsp
	return t.altStack.Size != 0 && sp > t.altStack.Sp && sp <= t.altStack.Sp+t.altStack.Size
}

// SigtimedwaitPrepare / Done bracket rt_sigtimedwait: DequeueSignal takes
// a pending signal in set, or returns nil.
func (t *Task) DequeueSignal(set uint64) *arch.SignalInfo {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.dequeueLocked(set)
}

// SetSignalWait marks the signals an rt_sigtimedwait waits for, so that
// senders wake t even though it blocks them.
func (t *Task) SetSignalWait(set uint64) {
	t.k.mu.Lock()
	t.sigWaitSet = set
	t.k.mu.Unlock()
}

// prepareToRun handles everything due before returning to the application:
// exit, job-control stop, syscall restart and signal delivery. It returns
// true when the task has exited; otherwise t is marked as running the
// application (inApp).
func (t *Task) prepareToRun() bool {
	for {
		k := t.k
		k.mu.Lock()
		tg := t.tg
		if t.exiting || tg.exiting {
			st := tg.exitStatus
			if t.ptrace.tracer != nil && t.ptrace.opts&unix.PTRACE_O_TRACEEXIT != 0 && t.ptrace.exitStop {
				// PTRACE_EVENT_EXIT: stopped before exiting, with
				// the exit status as the message. Not for a task
				// another thread or SIGKILL ends (Linux does not
				// stop with a fatal signal pending).
				t.ptrace.exitStop = false
				msg := st
				if !tg.exiting {
					msg = t.exitCode
				}
				k.mu.Unlock()
				t.ptraceEvent(unix.PTRACE_O_TRACEEXIT, unix.PTRACE_EVENT_EXIT, uint64(msg))
				continue
			}
			k.mu.Unlock()
			t.exitNow(st)
			return true
		}
		if k.thaw != nil && (t.pending.set|tg.pending.set)&SigBit(unix.SIGKILL) == 0 {
			// Frozen (runsc pause). SIGKILL still goes through: its
			// interrupt brings the task back here, and it is taken below.
			ch := k.thaw
			k.mu.Unlock()
			select {
			case <-ch:
			case <-t.interruptCh:
			}
			continue
		}
		if t.ptrace.stopped {
			// Put in a ptrace-stop for it: PTRACE_SEIZE of a stopped
			// task, or the first stop of a traced clone, which may be
			// a SIGSTOP's delivery: the tracer's signal is delivered
			// then.
			kind := t.ptrace.kind
			k.mu.Unlock()
			if sig, ok := t.ptraceWaitResume(); ok && sig != 0 && kind == stopSignal {
				k.mu.Lock()
				t.pending.enqueue(&arch.SignalInfo{Signo: int32(sig), Code: siCodeUser})
				k.mu.Unlock()
			}
			continue
		}
		if t.ptrace.tracer != nil && (t.ptrace.trapStop || t.groupStopDueLocked()) {
			t.ptraceTrapStopLocked()
			k.mu.Unlock()
			continue
		}
		if t.groupStopDueLocked() {
			if tg.stopWake == nil {
				tg.stopWake = make(chan struct{})
			}
			ch := tg.stopWake
			k.mu.Unlock()
			select {
			case <-ch:
			case <-t.interruptCh: // PTRACE_SEIZE, SIGKILL
			}
			continue
		}
		info := t.dequeueLocked(^t.sigMask | unblockable)
		if info != nil && t.ptrace.tracer != nil && info.Signo != int32(unix.SIGKILL) {
			// signal-delivery-stop: the tracer decides which signal,
			// if any, is delivered.
			if info = t.ptraceSignalStopLocked(info); info == nil {
				k.mu.Unlock()
				continue
			}
		}
		if info == nil {
			// No signal: a syscall interrupted by a signal that needed
			// no handler (or none at all) restarts.
			if t.syscallReturn {
				t.syscallReturn = false
				switch unix.Errno(-int64(t.regs.Rax)) {
				case syserr.ERESTARTSYS, syserr.ERESTARTNOINTR, syserr.ERESTARTNOHAND, syserr.ERESTART_RESTARTBLOCK:
					arch.RestartSyscall(&t.regs)
				}
			}
			if t.haveSaved {
				t.sigMask, t.haveSaved = t.savedMask, false
			}
			// Decided under k.mu with the signal check above: a signal
			// sent from now on sees inApp and kicks the platform.
			t.inApp.Store(true)
			k.mu.Unlock()
			return false
		}
		sig := unix.Signal(info.Signo)
		act := tg.handlers.acts[sig]
		switch {
		case act.Handler == sigIGN:
			k.mu.Unlock()
			continue
		case act.Handler == sigDFL:
			forced := t.forced&SigBit(sig) != 0
			t.forced &^= SigBit(sig)
			if tg == k.init && !forced && !k.initTakesLocked(info) && defaultActionOf(sig) != actIgnore {
				// Init ignores default actions from inside (a signal
				// it had blocked, now unblocked).
				k.mu.Unlock()
				continue
			}
			switch defaultActionOf(sig) {
			case actIgnore, actContinue:
				k.mu.Unlock()
				continue
			case actStop:
				// Orphaned-process-group rules for TSTP/TTIN/TTOU are not
				// modelled: those stop like SIGSTOP.
				tg.ptraceGroupStopLocked()
				tg.stopped = true
				tg.stopSignal = sig
				tg.reportStop = true
				tg.reportContinue = false
				tg.notifyParentLocked(CLD_STOPPED, int32(sig))
				for tt := range tg.tasks {
					tt.interrupt()
				}
				k.mu.Unlock()
				continue
			default:
				// Core-dumping signals terminate without a core file
				// (RLIMIT_CORE is 0), so no WCOREDUMP flag either.
				if sig != unix.SIGKILL {
					t.ptrace.exitStop = true
				}
				tg.groupExitLocked(WaitStatusSignaled(sig))
				k.mu.Unlock()
				continue
			}
		}
		// A handler: the interrupted syscall returns EINTR or restarts.
		if t.syscallReturn {
			t.syscallReturn = false
			switch unix.Errno(-int64(t.regs.Rax)) {
			case syserr.ERESTARTNOINTR:
				arch.RestartSyscall(&t.regs)
			case syserr.ERESTARTSYS:
				if act.Flags&arch.SA_RESTART != 0 {
					arch.RestartSyscall(&t.regs)
				} else {
					t.regs.Rax = negErrno(unix.EINTR)
				}
			case syserr.ERESTARTNOHAND, syserr.ERESTART_RESTARTBLOCK:
				t.regs.Rax = negErrno(unix.EINTR)
			}
		}
		oldMask := t.sigMask
		if t.haveSaved {
			oldMask, t.haveSaved = t.savedMask, false
		}
		alt := t.altStack
		if act.Flags&arch.SA_RESETHAND != 0 {
			tg.handlers.acts[sig].Handler = sigDFL
		}
		newMask := t.sigMask | act.Mask
		if act.Flags&arch.SA_NODEFER == 0 {
			newMask |= SigBit(sig)
		}
		k.mu.Unlock()

		if err := t.deliver(info, &act, oldMask, alt); err != nil {
			// The frame could not be written: the process dies of SIGSEGV
			// as on Linux.
			k.mu.Lock()
			tg.groupExitLocked(WaitStatusSignaled(unix.SIGSEGV))
			k.mu.Unlock()
			continue
		}
		k.mu.Lock()
		t.sigMask = newMask &^ unblockable
		if alt.Flags&arch.SS_AUTODISARM != 0 && act.Flags&arch.SA_ONSTACK != 0 {
			t.altStack = arch.SignalStack{Flags: arch.SS_DISABLE}
		}
		k.mu.Unlock()
	}
}

// deliver builds the signal frame and points the registers at the handler.
func (t *Task) deliver(info *arch.SignalInfo, act *arch.SignalAct, oldMask uint64, alt arch.SignalStack) error {
	fp, err := t.ctx.FPState()
	if err != nil {
		return err
	}
	if err := arch.SetupSignalFrame(t.mm, &t.regs, fp, info, act, oldMask, alt, info.Addr()); err != nil {
		return err
	}
	// Handlers start with a clean FPU, as on Linux; the interrupted
	// state is in the frame for rt_sigreturn.
	return t.ctx.SetFPState(arch.InitFPState(fp))
}

// SignalReturn implements rt_sigreturn.
func (t *Task) SignalReturn() error {
	mask, fp, alt, err := arch.SignalReturn(t.mm, &t.regs, len(t.k.initFP))
	if err != nil {
		t.forceSignal(int(unix.SIGSEGV), 0x80 /* SI_KERNEL */, 0)
		return ErrNoReturn
	}
	t.regs.Orig_rax = ^uint64(0)
	if fp == nil {
		fp = t.k.initFP
	}
	if err := t.ctx.SetFPState(fp); err != nil {
		return err
	}
	t.k.mu.Lock()
	t.sigMask = mask &^ unblockable
	t.k.mu.Unlock()
	// uc_stack is restored like sigaltstack would; failures are ignored
	// as Linux's restore_altstack does for EPERM.
	t.SetSignalStack(alt)
	return ErrNoReturn
}

// notifyParentLocked sends SIGCHLD-style notice of a stop or continue to
// tg's parent and wakes its waiters.
func (tg *ThreadGroup) notifyParentLocked(code int32, status int32) {
	p := tg.parent
	if p == nil {
		return
	}
	if !(code == CLD_STOPPED || code == CLD_CONTINUED) ||
		p.handlers.acts[unix.SIGCHLD].Flags&arch.SA_NOCLDSTOP == 0 {
		info := &arch.SignalInfo{Signo: int32(unix.SIGCHLD), Code: code}
		info.SetPID(int32(p.pidns.tgIDLocked(tg)))
		info.SetStatus(status)
		tg.k.sendLocked(p, nil, info)
	}
	p.childEvents.Notify(1)
}

// negErrno is -errno as the syscall return register holds it.
func negErrno(e unix.Errno) uint64 { return uint64(-int64(e)) }
