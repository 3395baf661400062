package kernel

import (
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// WaitOptions select which children wait4/waitid report.
type WaitOptions struct {
	// Which children: PID > 0 that pid; PGID > 0 that process group
	// (kernel ids: the syscall layer translates); Any: every child.
	PID, PGID ThreadID
	Any       bool

	Exited, Stopped, Continued bool
	NoHang                     bool
	NoReap                     bool // WNOWAIT
}

// WaitResult describes the child reported.
type WaitResult struct {
	// PID is the child's id in the waiter's pid namespace.
	PID    ThreadID
	Status WaitStatus
	// Code and SigStatus are waitid's si_code and si_status.
	Code      int32
	SigStatus int32
	UID       uint32
	// Usage is what the child and its waited-for children used (wait4's
	// rusage).
	Usage Usage
	// tg is the child, for the usage of a stopped or continued one.
	tg *ThreadGroup
}

// Wait implements wait4 and waitid. With NoHang and no event it returns
// (nil, nil).
func (t *Task) Wait(o WaitOptions) (*WaitResult, error) {
	entry, ch := waiter.NewChannelEntry(1)
	t.tg.childEvents.EventRegister(entry)
	defer t.tg.childEvents.EventUnregister(entry)
	for {
		r, any, err := t.waitOnce(o)
		if err != nil || r != nil {
			return r.withUsage(), err
		}
		if !any {
			return nil, unix.ECHILD
		}
		if o.NoHang {
			return nil, nil
		}
		if err := t.Block(ch); err != nil {
			// Like Linux's do_wait, a child that is ready wins over
			// the signal (often its own SIGCHLD) that ended the sleep.
			if r, _, _ := t.waitOnce(o); r != nil {
				return r.withUsage(), nil
			}
			return nil, err
		}
	}
}

func (t *Task) waitOnce(o WaitOptions) (*WaitResult, bool, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	any := false
	if r, found := t.waitTraceesLocked(o); r != nil || found {
		if r != nil {
			return r, true, nil
		}
		any = true
	}
	// Threads of a group may wait for each other's children (Linux's
	// __WNOTHREAD is not modelled: all threads share the children).
	for c := range t.tg.children {
		switch {
		case o.PID > 0 && c.tgid != o.PID:
			continue
		case o.PGID > 0 && c.pgid != o.PGID:
			continue
		case !o.Any && o.PID <= 0 && o.PGID <= 0:
			continue
		}
		any = true
		switch {
		case c.zombie && o.Exited:
			r := &WaitResult{PID: t.tg.pidns.tgIDLocked(c), Status: c.exitStatus, Usage: c.zombieUsageLocked()}
			if c.exitStatus&0x7f == 0 {
				r.Code, r.SigStatus = CLD_EXITED, int32(c.exitStatus.ExitCode())
			} else {
				r.Code, r.SigStatus = CLD_KILLED, int32(c.exitStatus&0x7f)
			}
			if !o.NoReap {
				delete(t.tg.children, c)
				c.reapLocked()
				// getrusage(2): RUSAGE_CHILDREN counts the children
				// that were waited for.
				t.tg.acct.children.Add(r.Usage)
			}
			return r, true, nil
		case c.leader != nil && c.leader.ptrace.tracer != nil:
			// A traced child's stops are its tracer's to report.
		case c.stopped && c.reportStop && o.Stopped:
			if !o.NoReap {
				c.reportStop = false
			}
			return &WaitResult{PID: t.tg.pidns.tgIDLocked(c), Status: WaitStatus(c.stopSignal)<<8 | 0x7f,
				Code: CLD_STOPPED, SigStatus: int32(c.stopSignal), tg: c}, true, nil
		case c.reportContinue && o.Continued:
			if !o.NoReap {
				c.reportContinue = false
			}
			return &WaitResult{PID: t.tg.pidns.tgIDLocked(c), Status: 0xffff, Code: CLD_CONTINUED,
				SigStatus: int32(unix.SIGCONT), tg: c}, true, nil
		}
	}
	return nil, any, nil
}

// waitTraceesLocked looks for a ptrace-stop or exit of the tasks t's
// process traces (ptrace(2): the tracer waits for its tracees like for
// children, whatever __WALL says, and sees their stops without
// WUNTRACED). found says whether any tracee matches o.
func (t *Task) waitTraceesLocked(o WaitOptions) (*WaitResult, bool) {
	match := func(tid, pgid ThreadID) bool {
		switch {
		case o.PID > 0:
			return tid == o.PID
		case o.PGID > 0:
			return pgid == o.PGID
		}
		return o.Any
	}
	found := false
	var oldest *Task
	for tr := range t.tg.tasks {
		for te := range tr.ptrace.tracees {
			if !match(te.tid, te.tg.pgid) {
				continue
			}
			found = true
			p := &te.ptrace
			if p.stopped && !p.reported && !p.listening && (oldest == nil || p.seq < oldest.ptrace.seq) {
				oldest = te
			}
		}
	}
	if te := oldest; te != nil {
		p := &te.ptrace
		if !o.NoReap {
			p.reported = true
		}
		sig := int32(p.status>>8) & 0xff
		return &WaitResult{PID: t.tg.pidns.taskIDLocked(te), Status: p.status, Code: CLD_TRAPPED, SigStatus: sig,
			UID: t.UserNamespace().ViewUID(te.Credentials().UID)}, true
	}
	exits := t.tg.ptraceExits
	for i, e := range exits {
		if !match(e.tid, e.pgid) {
			continue
		}
		found = true
		if !o.Exited {
			continue
		}
		r := &WaitResult{PID: e.vid, Status: e.status}
		if e.status&0x7f == 0 {
			r.Code, r.SigStatus = CLD_EXITED, int32(e.status.ExitCode())
		} else {
			r.Code, r.SigStatus = CLD_KILLED, int32(e.status&0x7f)
		}
		if !o.NoReap {
			t.tg.ptraceExits = append(exits[:i:i], exits[i+1:]...)
		}
		return r, true
	}
	return nil, found
}

// WaitTargetID returns the kernel id of what a wait for pid (in t's pid
// namespace) names: a process, a thread (a tracee), or a tracee thread
// whose exit t's process has not collected yet; -1 for none.
func (t *Task) WaitTargetID(pid ThreadID) ThreadID {
	if pid <= 0 {
		return -1
	}
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	ns := t.tg.pidns
	if tg := ns.tgLocked(pid); tg != nil {
		return tg.tgid
	}
	if o := ns.taskLocked(pid); o != nil {
		return o.tid
	}
	for _, e := range t.tg.ptraceExits {
		if e.vid == pid {
			return e.tid
		}
	}
	return -1
}
