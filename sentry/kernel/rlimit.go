package kernel

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Resource limits the kernel enforces (setrlimit(2)): RLIMIT_NOFILE (the
// descriptor table), RLIMIT_NPROC (clone), RLIMIT_SIGPENDING (queued
// signals), RLIMIT_FSIZE (through vfs.FileSizeLimited), RLIMIT_CPU
// (cputimer.go). RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK and RLIMIT_STACK
// are the memory system calls' and the loader's to apply (Task.MemoryLimits).

// SetLimit implements setrlimit(2) and prlimit(2) on tg: the rules of
// Limits.Set, then the limit takes effect.
func (tg *ThreadGroup) SetLimit(r int, v Limit, privileged bool) (Limit, error) {
	old, err := tg.limits.Set(r, v, privileged)
	if err != nil {
		return old, err
	}
	tg.limitChanged(r)
	return old, nil
}

// applyLimits makes a new process's limits take effect (it starts with
// its parent's, or those of its configuration).
func (tg *ThreadGroup) applyLimits() {
	tg.limitChanged(unix.RLIMIT_NOFILE)
	tg.limitChanged(unix.RLIMIT_CPU)
}

// limitChanged applies limit r of tg where the kernel enforces it.
func (tg *ThreadGroup) limitChanged(r int) {
	l, _ := tg.limits.Get(r)
	switch r {
	case unix.RLIMIT_NOFILE:
		k := tg.k
		k.mu.Lock()
		var tables []*vfs.FDTable
		for t := range tg.tasks {
			if t.fdTable != nil {
				tables = append(tables, t.fdTable)
			}
		}
		k.mu.Unlock()
		for _, ft := range tables {
			ft.SetLimit(int32(min(l.Cur, vfs.MaxFDLimit)))
		}
	case unix.RLIMIT_CPU:
		if l.Cur != Infinity {
			tg.k.cpuTimersChanged(tg)
		}
	}
}

// raiseSoft sets the soft limit of r to v without the usual checks (the
// kernel's own change: RLIMIT_CPU moves up a second at each SIGXCPU).
func (l *Limits) raiseSoft(r int, v uint64) {
	l.mu.Lock()
	l.l[r].Cur = v
	l.mu.Unlock()
}

// mayCreateTaskLocked implements RLIMIT_NPROC for a clone by t (Linux's
// copy_process): it fails with EAGAIN when t's real user already has as
// many tasks (threads count) in the sandbox as the limit, unless the user
// is root or t has CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
func (t *Task) mayCreateTaskLocked() error {
	c := t.Credentials()
	if c.UID == 0 || c.HasCapability(unix.CAP_SYS_RESOURCE) || c.HasCapability(unix.CAP_SYS_ADMIN) {
		return nil
	}
	l, _ := t.tg.limits.Get(unix.RLIMIT_NPROC)
	if l.Cur == Infinity {
		return nil
	}
	n := uint64(0)
	for _, o := range t.k.tasks {
		if o.Credentials().UID == c.UID {
			n++
		}
	}
	if n >= l.Cur {
		return unix.EAGAIN
	}
	return nil
}

// queueLimitLocked implements RLIMIT_SIGPENDING for a signal about to be
// queued for tg (or its thread t), as Linux's __send_signal_locked does:
// kill(2)'s standard signals and the kernel's are never limited
// (override_rlimit); the others count against the receiver's limit of
// signals queued for its real user. Over it, a real-time signal with an
// si_code other than SI_USER (sigqueue(3)) fails with EAGAIN; the rest
// are still sent without their siginfo (si_code SI_USER; the sender's pid
// and uid are kept, unlike Linux's zeros, so it does not look like a
// signal from outside the sandbox), and a real-time one that is already
// pending then adds nothing. It returns the info to queue, or nil for
// none.
func (k *Kernel) queueLimitLocked(tg *ThreadGroup, t *Task, info *arch.SignalInfo) (*arch.SignalInfo, error) {
	sig := unix.Signal(info.Signo)
	if (sig < sigRTMin && info.Code >= 0) || info.Code == siTimer {
		// override_rlimit; timers' signals are allocated with the timer.
		return info, nil
	}
	l, _ := tg.limits.Get(unix.RLIMIT_SIGPENDING)
	receiver := t
	if receiver == nil {
		receiver = tg.anyTaskLocked()
	}
	if l.Cur == Infinity || receiver == nil || k.queuedSignalsLocked(receiver.Credentials().UID) < l.Cur {
		return info, nil
	}
	if sig >= sigRTMin && info.Code != 0 {
		return nil, unix.EAGAIN
	}
	q := &tg.pending
	if t != nil {
		q = &t.pending
	}
	if sig >= sigRTMin && q.set&SigBit(sig) != 0 {
		return nil, nil
	}
	stripped := &arch.SignalInfo{Signo: info.Signo}
	stripped.SetPID(info.PID())
	stripped.SetUID(info.UID())
	return stripped, nil
}

// queuedSignalsLocked counts the signals queued for tasks and processes of
// real user uid (a process's queue is charged to its leader's user).
func (k *Kernel) queuedSignalsLocked(uid uint32) uint64 {
	n := uint64(0)
	for _, tg := range k.tgs {
		if len(tg.tasks) == 0 {
			continue
		}
		if r := tg.anyTaskLocked(); r != nil && r.Credentials().UID == uid {
			n += tg.pending.count()
		}
		for t := range tg.tasks {
			if t.Credentials().UID == uid {
				n += t.pending.count()
			}
		}
	}
	return n
}

// count returns how many signals q holds.
func (q *sigQueue) count() uint64 {
	n := 0
	for _, l := range q.infos {
		n += len(l)
	}
	return uint64(n)
}

// anyTaskLocked returns the leader of tg, or another live thread.
func (tg *ThreadGroup) anyTaskLocked() *Task {
	if tg.leader != nil {
		return tg.leader
	}
	for t := range tg.tasks {
		return t
	}
	return nil
}

// FileSizeLimit implements vfs.FileSizeLimited: RLIMIT_FSIZE.
func (t *Task) FileSizeLimit() uint64 {
	l, _ := t.tg.limits.Get(unix.RLIMIT_FSIZE)
	return l.Cur
}

// FileSizeExceeded implements vfs.FileSizeLimited: SIGXFSZ to the
// caller, as send_sig(SIGXFSZ, current, 0) does (SI_USER from itself).
func (t *Task) FileSizeExceeded() {
	info := &arch.SignalInfo{Signo: int32(unix.SIGXFSZ), Code: 0}
	info.SetPID(int32(t.PID()))
	info.SetUID(t.UserNamespace().ViewUID(t.Credentials().UID))
	t.k.SendThreadSignal(t, info)
}

var _ vfs.FileSizeLimited = (*Task)(nil)

// MemoryLimits are the limits the memory system calls apply, in bytes
// (Infinity for none).
type MemoryLimits struct {
	AS, Data, Stack, MemLock uint64
}

// MemoryLimits returns t's RLIMIT_AS, RLIMIT_DATA, RLIMIT_STACK and
// RLIMIT_MEMLOCK soft limits.
func (t *Task) MemoryLimits() MemoryLimits {
	get := func(r int) uint64 {
		l, _ := t.tg.limits.Get(r)
		return l.Cur
	}
	return MemoryLimits{AS: get(unix.RLIMIT_AS), Data: get(unix.RLIMIT_DATA),
		Stack: get(unix.RLIMIT_STACK), MemLock: get(unix.RLIMIT_MEMLOCK)}
}
