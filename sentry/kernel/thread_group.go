package kernel

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// WaitStatus is a wait(2) status word.
type WaitStatus uint32

// WaitStatusExited is the status of a normal exit with code.
func WaitStatusExited(code int) WaitStatus { return WaitStatus(code&0xff) << 8 }

// WaitStatusSignaled is the status of a death by signal sig.
func WaitStatusSignaled(sig unix.Signal) WaitStatus { return WaitStatus(sig & 0x7f) }

// ExitCode returns the shell-style exit code: the exit status, or 128+N
// for death by signal N.
func (w WaitStatus) ExitCode() int {
	if w&0x7f == 0 {
		return int(w>>8) & 0xff
	}
	return 128 + int(w&0x7f)
}

// SignalHandlers is a table of signal actions, shared by CLONE_SIGHAND.
type SignalHandlers struct {
	acts [numSignals + 1]arch.SignalAct
}

func (h *SignalHandlers) clone() *SignalHandlers {
	c := *h
	return &c
}

// ThreadGroup is a process: a group of tasks sharing a pid, signal
// handlers and exit status.
type ThreadGroup struct {
	k      *Kernel
	tgid   ThreadID
	leader *Task
	tasks  map[*Task]struct{}

	parent   *ThreadGroup
	children map[*ThreadGroup]struct{}
	// container is the id of the pod's container the process belongs
	// to ("" for the sandbox's own), inherited by its children.
	container  string
	exitSignal unix.Signal // sent to the parent on exit (usually SIGCHLD)
	pgid, sid  ThreadID

	handlers *SignalHandlers
	pending  sigQueue
	// signalfds tells signalfd(2) files of the group's threads that a
	// signal was queued (see signalfd.go).
	signalfds signalfdWaiters

	// exiting is set by exit_group or a fatal signal; exitStatus is then
	// the status every thread exits with.
	exiting    bool
	exitStatus WaitStatus
	// execing: a thread is in execve, killing the others; no new
	// threads may start.
	execing bool
	// zombie: all tasks gone, waiting to be reaped by the parent.
	zombie bool
	reaped bool

	// Job control: stopped by a stop signal; the pending report for
	// wait(WUNTRACED) / wait(WCONTINUED).
	stopped        bool
	stopSignal     unix.Signal
	reportStop     bool
	reportContinue bool
	stopWake       chan struct{} // closed on SIGCONT / SIGKILL

	// childEvents is notified when a child changes state, for wait4.
	childEvents waiter.Queue

	limits     *Limits
	itimerReal *time.Timer
	itimerVal  itimer

	// acct is the process's resource usage (cputime.go).
	acct tgAcct
	// timers are the process's POSIX timers by id (posixtimer.go), under
	// k.mu; cpuTimers its CPU-time interval timers (cputimer.go).
	timers      map[int32]*PosixTimer
	nextTimerID int32
	cpuTimers   cpuTimers

	start    time.Time
	execPath string

	// exited is closed when the process has exited (it is a zombie).
	exited chan struct{}

	// ptraceExits are exits of tasks this process traced that are not
	// its children, until its wait collects them (ptrace.go);
	// leaderTracer is the tracer of a leader that exited before the
	// rest of its process, told when the process is gone.
	ptraceExits  []ptraceExit
	leaderTracer *Task

	// notDumpable is prctl(PR_SET_DUMPABLE, 0) (ptrace and /proc
	// ownership; cleared by execve).
	notDumpable bool
	// subreaper is prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants
	// are reparented here rather than to init.
	subreaper bool
	// hasSubreaper: an ancestor is a subreaper (Linux's
	// has_child_subreaper), inherited by fork.
	hasSubreaper bool
	// creator is the thread that made this process (fork/clone): its
	// exit sends the parent-death signals (prctl.go).
	creator *Task
	// thpDisable is prctl(PR_SET_THP_DISABLE).
	thpDisable bool
	// membarrierReg are the MEMBARRIER_CMD_REGISTER_* commands this
	// process made (membarrier.go).
	membarrierReg int
	// personality is personality(2)'s persona.
	personality uint32

	// pidns is the process's pid namespace (pidns.go), where it has its
	// own id.
	pidns *PIDNamespace
}

// Dumpable reports prctl(PR_GET_DUMPABLE): 1 unless set to 0.
func (tg *ThreadGroup) Dumpable() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return !tg.notDumpable
}

// SetDumpable implements PR_SET_DUMPABLE (0 or 1).
func (tg *ThreadGroup) SetDumpable(d bool) {
	tg.k.mu.Lock()
	tg.notDumpable = !d
	tg.k.mu.Unlock()
}

// ID returns the thread group id (the pid).
func (tg *ThreadGroup) ID() ThreadID { return tg.tgid }

// Leader returns the thread group leader.
func (tg *ThreadGroup) Leader() *Task { return tg.leader }

// Parent returns the parent process, or nil for pid 1.
func (tg *ThreadGroup) Parent() *ThreadGroup {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.parent
}

// ProcessGroup returns the process group id.
func (tg *ThreadGroup) ProcessGroup() ThreadID {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.pgid
}

// Session returns the session id.
func (tg *ThreadGroup) Session() ThreadID {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.sid
}

// StartTime is when the process was created.
func (tg *ThreadGroup) StartTime() time.Time { return tg.start }

// Limits returns the resource limits of the process.
func (tg *ThreadGroup) Limits() *Limits { return tg.limits }

// TaskIDs returns the ids of tg's live threads.
func (tg *ThreadGroup) TaskIDs() []ThreadID {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	var ids []ThreadID
	for t := range tg.tasks {
		ids = append(ids, t.tid)
	}
	return ids
}

// SetProcessGroup implements setpgid for tg joining (or creating) pgid.
func (tg *ThreadGroup) SetProcessGroup(caller *ThreadGroup, pgid ThreadID) error {
	k := tg.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if tg != caller && tg.parent != caller {
		return unix.ESRCH
	}
	if tg.sid == tg.tgid || tg.sid != caller.sid {
		return unix.EPERM
	}
	if pgid == 0 {
		pgid = tg.tgid
	}
	if pgid != tg.tgid {
		found := false
		// Zombies count until they are reaped, as on Linux.
		for _, o := range k.tgs {
			if o.pgid == pgid && o.sid == tg.sid {
				found = true
				break
			}
		}
		if !found {
			return unix.EPERM
		}
	}
	tg.pgid = pgid
	return nil
}

// SetSession implements setsid.
func (tg *ThreadGroup) SetSession() (ThreadID, error) {
	k := tg.k
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range k.tgs {
		if o.pgid == tg.tgid && !o.zombie {
			return 0, unix.EPERM
		}
	}
	tg.sid, tg.pgid = tg.tgid, tg.tgid
	return tg.sid, nil
}
