package kernel

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/seccomp"
	"golang.org/x/sys/unix"
)

// Filters for the fake platform, whose every call is system call
// fakeSyscallNr with the task's registers as arguments.

// allowAll returns a filter of n instructions that allows everything.
func allowAll(t *testing.T, n int) *seccomp.Filter {
	t.Helper()
	p := make([]seccomp.Instruction, n)
	for i := range p {
		p[i] = seccomp.Instruction{Code: unix.BPF_RET | unix.BPF_K, K: seccomp.ActionAllow}
	}
	f, err := seccomp.NewFilter(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// magicArg is the first argument for which actOnMagic acts.
const magicArg = 0x5ec

// actOnMagic returns a filter giving ret for calls whose first argument
// is magicArg and allowing the rest.
func actOnMagic(t *testing.T, ret uint32) *seccomp.Filter {
	t.Helper()
	f, err := seccomp.NewFilter([]seccomp.Instruction{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 16}, // args[0], low word
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: magicArg, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: ret},
		{Code: unix.BPF_RET | unix.BPF_K, K: seccomp.ActionAllow},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (h *harness) addFilter(task *Task, f *seccomp.Filter, tsync bool) (ThreadID, error) {
	h.t.Helper()
	var failed ThreadID
	var err error
	h.do(task, func(t *Task) { failed, err = t.AddSeccompFilter(f, tsync) })
	return failed, err
}

func TestSeccompInheritedAndKeptAcrossExec(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	if it.SeccompMode() != SeccompModeDisabled || it.SeccompFilterCount() != 0 {
		t.Fatalf("new process: mode %d, %d filters", it.SeccompMode(), it.SeccompFilterCount())
	}
	if _, err := h.addFilter(it, allowAll(t, 1), false); err != nil {
		t.Fatal(err)
	}
	c := h.fork(it)
	if c.SeccompMode() != SeccompModeFilter || c.SeccompFilterCount() != 1 || c.seccomp.Load() != it.seccomp.Load() {
		t.Fatalf("forked child: mode %d, %d filters", c.SeccompMode(), c.SeccompFilterCount())
	}
	if _, err := h.addFilter(c, allowAll(t, 2), false); err != nil {
		t.Fatal(err)
	}
	if c.SeccompFilterCount() != 2 || it.SeccompFilterCount() != 1 {
		t.Fatalf("child's new filter: child has %d, parent %d", c.SeccompFilterCount(), it.SeccompFilterCount())
	}
	var err error
	h.do(c, func(t *Task) { err = t.Execve(h.open, "/bin/prog", []string{"prog"}, nil) })
	if err != ErrNoReturn {
		t.Fatalf("execve: %v", err)
	}
	if c.SeccompMode() != SeccompModeFilter || c.SeccompFilterCount() != 2 {
		t.Fatalf("after execve: mode %d, %d filters", c.SeccompMode(), c.SeccompFilterCount())
	}
}

func TestSeccompModesExclusive(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	a, b := h.fork(it), h.fork(it)
	var err error
	h.do(a, func(t *Task) { err = t.SetSeccompStrict() })
	if err != nil || a.SeccompMode() != SeccompModeStrict {
		t.Fatalf("strict: %v, mode %d", err, a.SeccompMode())
	}
	// A task in strict mode can make no call but those four: these
	// run on the test's goroutine.
	if err := a.SetSeccompStrict(); err != nil {
		t.Fatalf("strict again: %v", err)
	}
	if _, err := a.AddSeccompFilter(allowAll(t, 1), false); !isErrno(err, unix.EINVAL) {
		t.Fatalf("filter in strict mode: %v, want EINVAL", err)
	}
	h.addFilter(b, allowAll(t, 1), false)
	h.do(b, func(t *Task) { err = t.SetSeccompStrict() })
	if !isErrno(err, unix.EINVAL) || b.SeccompMode() != SeccompModeFilter {
		t.Fatalf("strict with a filter: %v, mode %d; want EINVAL", err, b.SeccompMode())
	}
}

func TestSeccompInstructionLimit(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	// 7 filters of BPF_MAXINSNS fit in MAX_INSNS_PER_PATH with their
	// 4-instruction penalties, an eighth does not.
	for i := 0; i < 7; i++ {
		if _, err := h.addFilter(it, allowAll(t, 4096), false); err != nil {
			t.Fatalf("filter %d: %v", i+1, err)
		}
	}
	if _, err := h.addFilter(it, allowAll(t, 4096), false); !isErrno(err, unix.ENOMEM) {
		t.Fatalf("eighth filter: %v, want ENOMEM", err)
	}
	if _, err := h.addFilter(it, allowAll(t, 32768-7*4100), false); err != nil {
		t.Fatalf("a filter that just fits: %v", err)
	}
	if it.SeccompFilterCount() != 8 {
		t.Fatalf("%d filters, want 8", it.SeccompFilterCount())
	}
}

func TestSeccompTsync(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	th := h.newThread(it)
	other := h.fork(it) // another process: TSYNC never touches it
	if failed, err := h.addFilter(it, allowAll(t, 1), true); failed != 0 || err != nil {
		t.Fatalf("TSYNC: %d, %v", failed, err)
	}
	if th.seccomp.Load() != it.seccomp.Load() || other.SeccompMode() != SeccompModeDisabled {
		t.Fatal("TSYNC did not give the thread, and only it, the caller's filters")
	}
	// A thread with a filter of its own cannot be synchronised...
	h.addFilter(th, allowAll(t, 1), false)
	before := it.seccomp.Load()
	failed, err := h.addFilter(it, allowAll(t, 1), true)
	if failed != th.ThreadID() || err != nil || it.seccomp.Load() != before {
		t.Fatalf("TSYNC with a diverged thread: %d, %v; want %d and no change", failed, err, th.ThreadID())
	}
	// ... but a thread whose filters are older ones of the caller's can.
	h.addFilter(it, allowAll(t, 1), false)
	th2 := h.newThread(it)
	h.addFilter(it, allowAll(t, 1), false)
	h.do(th, func(t *Task) { t.Exit(0) })
	h.gone(th.ThreadID())
	if failed, err := h.addFilter(it, allowAll(t, 1), true); failed != 0 || err != nil {
		t.Fatalf("TSYNC over an ancestor: %d, %v", failed, err)
	}
	if th2.seccomp.Load() != it.seccomp.Load() || th2.SeccompFilterCount() != 4 {
		t.Fatalf("thread has %d filters after TSYNC, want the caller's 4", th2.SeccompFilterCount())
	}
}

// armMagic makes task's next call have magicArg as its first argument, which
// f acts on.
func (h *harness) armMagic(task *Task, f *seccomp.Filter) {
	h.t.Helper()
	h.do(task, func(t *Task) {
		if _, err := t.AddSeccompFilter(f, false); err != nil {
			h.t.Error(err)
		}
		t.regs.Rdi = magicArg
	})
}

func TestSeccompKillProcess(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	th := h.newThread(c)
	h.armMagic(c, actOnMagic(t, seccomp.ActionKillProcess))
	h.start(c, func(*Task) { t.Error("the call ran despite KILL_PROCESS") })
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r.Status != WaitStatusSignaled(unix.SIGSYS) {
		t.Fatalf("wait = %+v, %v; want death by SIGSYS", r, err)
	}
	h.gone(th.ThreadID())
}

func TestSeccompKillThread(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	th := h.newThread(c)
	h.armMagic(th, actOnMagic(t, seccomp.ActionKillThread))
	h.start(th, func(*Task) { t.Error("the call ran despite KILL_THREAD") })
	h.gone(th.ThreadID())
	// The other thread lives on; as the last thread it takes the whole
	// process with it.
	h.do(c, func(*Task) {})
	h.armMagic(c, actOnMagic(t, seccomp.ActionKillThread))
	h.start(c, func(*Task) { t.Error("the call ran despite KILL_THREAD") })
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r.Status != WaitStatusSignaled(unix.SIGSYS) {
		t.Fatalf("wait = %+v, %v; want death by SIGSYS", r, err)
	}
}

func TestSeccompUnknownActionKills(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	h.armMagic(c, actOnMagic(t, 0x00010000))
	h.start(c, func(*Task) { t.Error("the call ran despite an unknown action") })
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r.Status != WaitStatusSignaled(unix.SIGSYS) {
		t.Fatalf("wait = %+v, %v; want death by SIGSYS", r, err)
	}
}

func TestSeccompStrictKills(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	h.do(c, func(t *Task) { t.SetSeccompStrict() })
	h.start(c, func(*Task) { t.Error("strict mode allowed a call") })
	r, err := h.wait(it, WaitOptions{Any: true, Exited: true})
	if err != nil || r.Status != WaitStatusSignaled(unix.SIGKILL) {
		t.Fatalf("wait = %+v, %v; want death by SIGKILL", r, err)
	}
}

func TestSeccompInitialFilters(t *testing.T) {
	h := newHarness(t)
	err := h.k.CreateProcess(CreateProcessArgs{
		Path: "/sbin/init", Argv: []string{"init"}, Open: h.open,
		Seccomp: []*seccomp.Filter{allowAll(t, 1), allowAll(t, 3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	it := h.k.TaskByTID(1)
	if it.SeccompMode() != SeccompModeFilter || it.SeccompFilterCount() != 2 || it.seccomp.Load().insns != 3+1+4 {
		t.Fatalf("first process: mode %d, %d filters", it.SeccompMode(), it.SeccompFilterCount())
	}
	h.do(it, func(*Task) {}) // the filters allow calls
}
