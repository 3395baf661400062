package kernel

import (
	"sort"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Processes that enter the sandbox from outside: the container's first
// process, and the processes `runsc exec` adds to a running sandbox. Like
// a process that setns(2)'d into a pid namespace, an exec'd process has no
// parent inside (getppid is 0); its exit is collected by runsc through
// Exited, never by a wait inside.

// CreateProcessArgs describe a process started from outside the sandbox.
type CreateProcessArgs struct {
	Path       string
	Argv, Envv []string
	Open       OpenExecutable
	// Creds are the credentials of the process that executes the
	// program, like those of runc's init before its execve: NewProcess
	// applies execve's transformation to them (ExecCredentials), so a
	// non-root user keeps only its ambient capabilities, as in docker.
	// nil means root with every capability (NewCredentials(0, 0, nil)).
	Creds   *Credentials
	FDTable *vfs.FDTable
	FS      *vfs.FSContext
	// Seccomp are seccomp filters, oldest first, the process starts
	// with, as if it had installed them before its execve (the
	// container's linux.seccomp profile); nil for none.
	Seccomp []*seccomp.Filter
	// Limits are the process's resource limits; nil means the defaults.
	Limits *Limits
	// Init makes the process the sandbox's first process (pid 1 of a
	// fresh sandbox): when it exits, every other process is killed.
	Init bool
	// TTY, if set, becomes the controlling terminal of the process's
	// session (it is always a session leader), with the process's group
	// in the foreground; the first process's is also the console.
	TTY *TTY
	// Namespaces are the process's namespaces, its pid namespace being
	// their PIDForChildren (a container of a pod: NewContainerNamespaces);
	// nil means the sandbox's initial ones.
	Namespaces *Namespaces
	// Container labels the process and its descendants as one
	// container's (ProcessesOf, SignalContainer); "" is the sandbox's.
	Container string
}

// CreateProcess starts the sandbox's first process (pid 1). It fails
// without side effects if the program cannot be loaded.
func (k *Kernel) CreateProcess(a CreateProcessArgs) error {
	a.Init = true
	tg, err := k.NewProcess(a)
	if err != nil {
		return err
	}
	tg.Start()
	return nil
}

// NewProcess loads a program into a new process that has no parent in the
// sandbox, and gives it a pid, but does not run it: Start does. It fails
// without side effects (no pid used) if the program cannot be loaded.
func (k *Kernel) NewProcess(a CreateProcessArgs) (*ThreadGroup, error) {
	if a.Creds == nil {
		a.Creds = NewCredentials(0, 0, nil)
	}
	creds, secure := a.Creds.ExecCredentials()
	t := &Task{k: k, fdTable: a.FDTable, fs: a.FS, interruptCh: make(chan struct{}, 1)}
	t.setCredentials(creds)
	nsp := k.rootNS
	if a.Namespaces != nil {
		nsp = a.Namespaces
	}
	t.nsproxy.Store(nsp)
	limits := a.Limits
	if limits == nil {
		limits = defaultLimits()
	}
	tg := &ThreadGroup{
		k: k, leader: t,
		tasks:      map[*Task]struct{}{t: {}},
		children:   make(map[*ThreadGroup]struct{}),
		exitSignal: unix.SIGCHLD,
		handlers:   &SignalHandlers{},
		limits:     limits,
		start:      time.Now(),
		exited:     make(chan struct{}),
		pidns:      nsp.PIDForChildren,
		container:  a.Container,
	}
	t.tg = tg

	m, exePath, res, err := k.loadProgram(t, ExecArgs{Open: a.Open, Filename: a.Path, Argv: a.Argv, Envv: a.Envv}, creds, secure)
	if err != nil {
		return nil, err
	}
	t.mm = m
	t.name = baseName(a.Path)
	tg.execPath = exePath
	t.regs = arch.InitialRegisters(uint64(res.Entry), uint64(res.Stack))
	t.regs.Orig_rax = ^uint64(0)
	t.seccomp.Store(seccompChain(a.Seccomp))

	k.mu.Lock()
	defer k.mu.Unlock()
	if a.Init && k.init != nil {
		m.DecUsers()
		return nil, unix.EEXIST
	}
	t.tid = k.allocTID()
	if err := tg.pidns.addTaskLocked(t, true, nil); err != nil {
		m.DecUsers()
		return nil, err
	}
	k.useNamespacesLocked(nsp, 1)
	tg.tgid, tg.pgid, tg.sid = t.tid, t.tid, t.tid
	m.OwnerPID.Store(int32(t.tid))
	k.tasks[t.tid] = t
	k.tgs[t.tid] = tg
	if a.Init {
		k.init = tg
	}
	if a.TTY != nil {
		a.TTY.attachLocked(k, tg.sid, tg.pgid)
		if a.Init {
			k.console = a.TTY
		}
	}
	k.live++
	return tg, nil
}

// Start runs a process made by NewProcess. It is called once.
func (tg *ThreadGroup) Start() {
	tg.applyLimits() // rlimit.go
	tg.leader.start()
}

// Terminate makes every thread of tg exit as if killed by sig (at its next
// return to the application; a process not started yet never runs).
func (tg *ThreadGroup) Terminate(sig unix.Signal) {
	tg.groupExit(WaitStatusSignaled(sig))
}

// Exited is closed when every thread of tg has exited; ExitStatus is then
// final.
func (tg *ThreadGroup) Exited() <-chan struct{} { return tg.exited }

// ExitStatus is the wait status tg exited with (valid once Exited is
// closed).
func (tg *ThreadGroup) ExitStatus() WaitStatus {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.exitStatus
}

// Init returns the sandbox's first process, or nil before there is one.
func (k *Kernel) Init() *ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.init
}

// SignalAll sends a signal from outside to every process of the sandbox
// (runsc kill --all).
func (k *Kernel) SignalAll(info *arch.SignalInfo) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, tg := range k.tgs {
		if err := k.sendLocked(tg, nil, info); err != nil {
			return err
		}
	}
	return nil
}

// SignalProcessGroup sends a signal to every process of group pgid. It
// returns ESRCH if the group has no live member.
func (k *Kernel) SignalProcessGroup(pgid ThreadID, info *arch.SignalInfo) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.signalGroupLocked(pgid, info)
}

func (k *Kernel) signalGroupLocked(pgid ThreadID, info *arch.SignalInfo) error {
	found := false
	for _, tg := range k.tgs {
		if tg.pgid == pgid && !tg.zombie && len(tg.tasks) > 0 {
			found = true
			if err := k.sendLocked(tg, nil, info); err != nil {
				return err
			}
		}
	}
	if !found {
		return unix.ESRCH
	}
	return nil
}

// Freeze stops every task at its next return to the application (runsc
// pause): nothing of the application runs until Thaw. Tasks blocked in
// the Sentry finish their system call and stop before returning.
func (k *Kernel) Freeze() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.thaw != nil {
		return
	}
	k.thaw = make(chan struct{})
	for _, t := range k.tasks {
		t.interrupt()
	}
}

// Thaw lets frozen tasks run again.
func (k *Kernel) Thaw() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.thaw != nil {
		close(k.thaw)
		k.thaw = nil
	}
}

// Frozen reports whether the sandbox is frozen.
func (k *Kernel) Frozen() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.thaw != nil
}

// ProcessInfo describes one process for runsc ps.
type ProcessInfo struct {
	PID, PPID, PGID, SID ThreadID
	UID                  uint32
	Threads              int
	Comm                 string
	Start                time.Time
	Stopped              bool
}

// Processes lists the live processes of the sandbox by pid.
func (k *Kernel) Processes() []ProcessInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []ProcessInfo
	for id, tg := range k.tgs {
		if len(tg.tasks) == 0 {
			continue
		}
		p := ProcessInfo{PID: id, PGID: tg.pgid, SID: tg.sid, Threads: len(tg.tasks), Start: tg.start, Stopped: tg.stopped}
		if tg.parent != nil {
			p.PPID = tg.parent.tgid
		}
		t := tg.anyTask()
		p.UID = t.Credentials().UID
		p.Comm = t.name
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// anyTask is the thread group's leader, or another of its tasks once the
// leader is gone (what ps shows the process by). The kernel's lock is
// held.
func (tg *ThreadGroup) anyTask() *Task {
	if tg.leader != nil {
		return tg.leader
	}
	for t := range tg.tasks {
		return t
	}
	return nil
}
