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
