package kernel

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

// Exit ends only the calling thread (exit(2)).
func (t *Task) Exit(code int) error {
	t.k.mu.Lock()
	t.exiting = true
	t.exitCode = WaitStatusExited(code)
	t.ptrace.exitStop = true
	if len(t.tg.tasks) == 1 && !t.tg.exiting {
		t.tg.exitStatus = WaitStatusExited(code)
	}
	t.k.mu.Unlock()
	return ErrNoReturn
}

// ExitGroup ends every thread of the process (exit_group(2)).
func (t *Task) ExitGroup(code int) error {
	t.k.mu.Lock()
	t.ptrace.exitStop = true
	t.k.mu.Unlock()
	t.tg.groupExit(WaitStatusExited(code))
	return ErrNoReturn
}

func (tg *ThreadGroup) groupExit(st WaitStatus) {
	tg.k.mu.Lock()
	tg.groupExitLocked(st)
	tg.k.mu.Unlock()
}

// groupExitLocked makes every thread of tg exit with status st (the first
// reason wins).
func (tg *ThreadGroup) groupExitLocked(st WaitStatus) {
	if tg.exiting {
		return
	}
	tg.exiting = true
	tg.exitStatus = st
	tg.stopped = false
	tg.wakeStopped()
	for t := range tg.tasks {
		t.interrupt()
	}
}

// exitNow tears down the calling task: it runs on the task's own
// goroutine and never returns to the application.
func (t *Task) exitNow(st WaitStatus) {
	// CLONE_CHILD_CLEARTID: zero the tid word and wake a joiner.
	if t.clearTID != 0 {
		var zero [4]byte
		if _, err := t.mm.CopyOut(t.clearTID, zero[:]); err == nil {
			t.k.futexes.wake(t, t.clearTID, false, 1, ^uint32(0))
		}
	}
	t.exitRobustList(t.TID())
	t.dropSemUndo()
	if t.ctx != nil {
		t.ctx.Release()
	}
	t.tg.recordMaxRSS(t.mm.MaxResidentBytes())
	t.finishAccounting()
	if t.fdTable != nil {
		t.fdTable.DecRef()
	}
	if t.fs != nil {
		t.fs.DecRef()
	}
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	t.mm.DecUsers()

	k := t.k
	var gone []any
	defer func() { k.releaseNamespaces(gone) }()
	k.mu.Lock()
	defer k.mu.Unlock()
	gone = k.useNamespacesLocked(t.nsproxy.Load(), -1)
	tg := t.tg
	t.ptraceTracerExitLocked()
	t.parentThreadExitLocked()
	// What the tracer sees: the process's status, or the thread's own
	// exit(2) status while the rest of the process lives on.
	own := t.exitCode
	if tg.exiting {
		own = tg.exitStatus
	} else if len(tg.tasks) == 1 {
		own = st
	}
	t.ptraceTraceeExitLocked(own, len(tg.tasks) == 1)
	delete(tg.tasks, t)
	delete(k.tasks, t.tid)
	tg.pidns.removeTaskLocked(t)
	k.live--
	if len(tg.tasks) > 0 {
		if t == tg.leader {
			// A leader that exits before its threads stays as the
			// process's identity until they are gone.
			tg.leader = nil
		}
		return
	}
	if !tg.exiting {
		tg.exiting = true
		tg.exitStatus = st
	}
	if tg.itimerReal != nil {
		tg.itimerReal.Stop()
	}
	tg.releaseTimersLocked()
	tg.releaseTTYLocked()
	tg.ptraceGroupExitedLocked()
	tg.becomeZombieLocked()
	if ns := tg.pidns; ns.parent != nil && ns.init == tg {
		// A pid namespace ends with its init: everyone in it is killed
		// and no one can join it (pid_namespaces(7)).
		ns.initGone = true
		for _, o := range ns.tgs {
			if o != tg && len(o.tasks) > 0 {
				o.groupExitLocked(WaitStatusSignaled(unix.SIGKILL))
			}
		}
	}
	if tg == k.init {
		k.initWS = tg.exitStatus
		// The sandbox ends with its first process, as a pid namespace
		// does: kill everyone else.
		for _, o := range k.tgs {
			if o != tg && len(o.tasks) > 0 {
				o.groupExitLocked(WaitStatusSignaled(unix.SIGKILL))
			}
		}
	}
	if k.live == 0 {
		close(k.done)
	}
}

// becomeZombieLocked reparents tg's children to the nearest subreaper or
// the init of its pid namespace (reaperLocked) and tells the parent; a
// parent that ignores SIGCHLD reaps automatically.
func (tg *ThreadGroup) becomeZombieLocked() {
	k := tg.k
	tg.zombie = true
	close(tg.exited)
	reaper := tg.reaperLocked()
	for c := range tg.children {
		delete(tg.children, c)
		if reaper != nil && reaper != tg && !reaper.zombie {
			c.parent = reaper
			reaper.children[c] = struct{}{}
			if c.zombie {
				reaper.childEvents.Notify(1)
			}
		} else {
			c.parent = nil
			if c.zombie {
				c.reapLocked()
			}
		}
	}
	p := tg.parent
	if p == nil {
		if tg != k.init {
			tg.reapLocked()
		}
		return
	}
	act := p.handlers.acts[unix.SIGCHLD]
	if tg.exitSignal == unix.SIGCHLD && (act.Handler == sigIGN || act.Flags&arch.SA_NOCLDWAIT != 0) {
		delete(p.children, tg)
		tg.reapLocked()
		p.childEvents.Notify(1)
		return
	}
	if tg.exitSignal != 0 {
		info := &arch.SignalInfo{Signo: int32(tg.exitSignal)}
		st := tg.exitStatus
		if st&0x7f == 0 {
			info.Code = CLD_EXITED
			info.SetStatus(int32(st.ExitCode()))
		} else {
			info.Code = CLD_KILLED
			info.SetStatus(int32(st & 0x7f))
		}
		info.SetPID(int32(p.pidns.tgIDLocked(tg)))
		// si_utime and si_stime: the child's own CPU time, in clock
		// ticks (kernel/signal.c do_notify_parent).
		u := tg.zombieSelfUsageLocked()
		info.SetUtime(ClockTicks(u.User))
		info.SetStime(ClockTicks(u.Sys))
		k.sendLocked(p, nil, info)
	}
	p.childEvents.Notify(1)
}

// reapLocked frees a zombie's pid.
func (tg *ThreadGroup) reapLocked() {
	tg.reaped = true
	delete(tg.k.tgs, tg.tgid)
	tg.pidns.removeTGLocked(tg)
}

// exitRobustList walks the robust futex list (set_robust_list) and marks
// futexes held by the dying thread FUTEX_OWNER_DIED, waking one waiter
// each, so other processes' robust mutexes recover.
func (t *Task) exitRobustList(tid ThreadID) {
	if t.robustList == 0 {
		return
	}
	var head [24]byte // next, futex_offset, list_op_pending
	if err := t.CopyIn(t.robustList, head[:]); err != nil {
		return
	}
	next := uintptr(binary.LittleEndian.Uint64(head[0:]))
	off := int64(binary.LittleEndian.Uint64(head[8:]))
	pending := uintptr(binary.LittleEndian.Uint64(head[16:]))
	handle := func(entry uintptr) {
		addr := uintptr(int64(entry) + off)
		var w [4]byte
		if t.CopyIn(addr, w[:]) != nil {
			return
		}
		v := binary.LittleEndian.Uint32(w[:])
		if v&0x3fffffff != uint32(tid) {
			return
		}
		v = v&0x80000000 | 0x40000000 // keep FUTEX_WAITERS, set FUTEX_OWNER_DIED
		binary.LittleEndian.PutUint32(w[:], v)
		if t.CopyOut(addr, w[:]) == nil {
			t.k.futexes.wake(t, addr, false, 1, ^uint32(0))
		}
	}
	for i := 0; next != t.robustList && next != 0 && i < 2048; i++ {
		entry := next
		var n [8]byte
		if t.CopyIn(entry, n[:]) != nil {
			break
		}
		next = uintptr(binary.LittleEndian.Uint64(n[:]))
		if entry != pending {
			handle(entry)
		}
	}
	if pending != 0 {
		handle(pending)
	}
}
