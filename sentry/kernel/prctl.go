package kernel

// Process attributes set with prctl(2) that the kernel acts on: the
// parent-death signal, child subreapers, timer slack, THP disabling and
// the clear_child_tid address.

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

// defaultTimerSlack is a new thread's timer slack (50 us), as on Linux.
const defaultTimerSlack = 50_000

// SetPdeathSig implements PR_SET_PDEATHSIG: sig (0 to clear) is sent to
// t's process when the thread that created it exits. EINVAL for a bad
// signal.
func (t *Task) SetPdeathSig(sig uint64) error {
	if sig > numSignals {
		return unix.EINVAL
	}
	t.k.mu.Lock()
	t.pdeathSig = unix.Signal(sig)
	t.k.mu.Unlock()
	return nil
}

// PdeathSig implements PR_GET_PDEATHSIG.
func (t *Task) PdeathSig() unix.Signal {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.pdeathSig
}

// parentThreadExitLocked runs as thread t exits: the processes t created
// get their threads' parent-death signals, and are from now on the
// children of another thread of t's process (or of their new parent
// process, when t was its last thread), as Linux's forget_original_parent
// does per thread.
func (t *Task) parentThreadExitLocked() {
	k := t.k
	var heir *Task
	for o := range t.tg.tasks {
		if o != t && !o.exiting {
			heir = o
			break
		}
	}
	for _, c := range k.tgs {
		if c.creator != t {
			continue
		}
		c.creator = heir
		for ct := range c.tasks {
			if ct.pdeathSig != 0 {
				// From the exiting thread's process, as the child's
				// namespaces see it (SEND_SIG_NOINFO).
				info := &arch.SignalInfo{Signo: int32(ct.pdeathSig), Code: siCodeUser}
				info.SetPID(int32(c.pidns.tgIDLocked(t.tg)))
				info.SetUID(ct.UserNamespace().ViewUID(t.Credentials().UID))
				k.sendLocked(c, nil, info)
			}
		}
	}
}

// SetChildSubreaper implements PR_SET_CHILD_SUBREAPER: orphaned
// descendants of a subreaper are reparented to it, not to init.
func (tg *ThreadGroup) SetChildSubreaper(on bool) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	tg.subreaper = on
	if on {
		// Descendants already there get the hint too (Linux sets
		// has_child_subreaper on the whole subtree).
		var mark func(p *ThreadGroup)
		mark = func(p *ThreadGroup) {
			for c := range p.children {
				c.hasSubreaper = true
				mark(c)
			}
		}
		mark(tg)
	}
}

// ChildSubreaper implements PR_GET_CHILD_SUBREAPER.
func (tg *ThreadGroup) ChildSubreaper() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.subreaper
}

// reaperLocked is where tg's children go when it dies: the nearest live
// subreaper among its ancestors in its own pid namespace, else the init
// of that namespace (find_new_reaper).
func (tg *ThreadGroup) reaperLocked() *ThreadGroup {
	if tg.hasSubreaper {
		for p := tg.parent; p != nil && p.pidns == tg.pidns; p = p.parent {
			if p.subreaper && !p.zombie && !p.exiting && len(p.tasks) > 0 {
				return p
			}
		}
	}
	if tg.pidns.parent != nil {
		return tg.pidns.init
	}
	return tg.k.init
}

// TimerSlack implements PR_GET_TIMERSLACK (ns).
func (t *Task) TimerSlack() uint64 {
	if t.timerSlack == 0 {
		return defaultTimerSlack
	}
	return t.timerSlack
}

// SetTimerSlack implements PR_SET_TIMERSLACK: 0 restores the default.
func (t *Task) SetTimerSlack(ns uint64) { t.timerSlack = ns }

// ClearTIDAddress implements PR_GET_TID_ADDRESS: the clear_child_tid
// address (set_tid_address, CLONE_CHILD_CLEARTID).
func (t *Task) ClearTIDAddress() uintptr { return t.clearTID }

// THPDisabled implements PR_GET_THP_DISABLE for t's process.
func (tg *ThreadGroup) THPDisabled() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.thpDisable
}

// SetTHPDisabled implements PR_SET_THP_DISABLE (kept across fork and
// execve; the Sentry never uses huge pages either way).
func (tg *ThreadGroup) SetTHPDisabled(on bool) {
	tg.k.mu.Lock()
	tg.thpDisable = on
	tg.k.mu.Unlock()
}

// Personality returns personality(2)'s persona of t's process.
func (tg *ThreadGroup) Personality() uint32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.personality
}

// SetPersonality sets it and returns the old one.
func (tg *ThreadGroup) SetPersonality(p uint32) uint32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	old := tg.personality
	tg.personality = p
	return old
}
