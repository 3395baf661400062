package kernel

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// The first process runs with what execve makes of CreateProcessArgs.Creds
// (as a container's process does after runc's init execs it): a non-root
// user with kept capabilities loses them, no_new_privs stays.
func TestCreateProcessCredentials(t *testing.T) {
	h := newHarness(t)
	c := NewCredentials(1000, 1000, []uint32{5})
	c, err := c.WithCapabilities(CapabilitySets{Effective: AllCaps, Permitted: AllCaps, Bounding: CapSetOf(unix.CAP_KILL),
		Inheritable: CapSetOf(unix.CAP_KILL), Ambient: CapSetOf(unix.CAP_KILL)})
	if err != nil {
		t.Fatal(err)
	}
	err = h.k.CreateProcess(CreateProcessArgs{
		Path: "/sbin/init", Argv: []string{"init"}, Open: h.open, Creds: c.WithNoNewPrivs(),
		FDTable: vfs.NewFDTable(), FS: vfs.NewFSContext(vfs.VirtualDentry{}, vfs.VirtualDentry{}, 0o022),
	})
	if err != nil {
		t.Fatal(err)
	}
	it := h.k.TaskByTID(1)
	got := it.Credentials()
	want := CapabilitySets{Effective: CapSetOf(unix.CAP_KILL), Permitted: CapSetOf(unix.CAP_KILL),
		Inheritable: CapSetOf(unix.CAP_KILL), Bounding: CapSetOf(unix.CAP_KILL), Ambient: CapSetOf(unix.CAP_KILL)}
	if got.CapabilitySets != want || !got.NoNewPrivs || got.UID != 1000 || !got.InGroup(5) {
		t.Errorf("first process credentials %+v", got)
	}
	if !it.HasCapability(unix.CAP_KILL) || it.HasCapability(unix.CAP_CHOWN) {
		t.Error("HasCapability does not follow the effective set")
	}
}

// Fork copies the credentials; each process then changes its own, and
// execve transforms them.
func TestForkAndExecCredentials(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	if it.Credentials().Effective != AllCaps {
		t.Fatalf("default first process: E=%#x, want every capability", it.Credentials().Effective)
	}
	c := h.fork(it)
	var err error
	h.do(c, func(t *Task) { err = t.SetUID(1000) })
	if err != nil {
		t.Fatal(err)
	}
	if c.Credentials().Permitted != 0 || it.Credentials().Permitted != AllCaps || it.Credentials().UID != 0 {
		t.Fatal("the child's setuid changed the parent, or did not drop the child's capabilities")
	}
	h.do(it, func(t *Task) { err = t.Capset(0, AllCaps&^CapSetOf(unix.CAP_KILL), 0) })
	if err != nil {
		t.Fatal(err)
	}
	g := h.fork(it)
	if g.Credentials().Effective != 0 || g.Credentials().Permitted != AllCaps&^CapSetOf(unix.CAP_KILL) {
		t.Fatalf("fork did not copy: %+v", g.Credentials().CapabilitySets)
	}
	h.do(g, func(t *Task) { err = t.Execve(h.open, "/bin/prog", []string{"prog"}, nil) })
	if err != ErrNoReturn {
		t.Fatalf("execve: %v", err)
	}
	if e := g.Credentials().Effective; e != AllCaps {
		t.Errorf("root after execve: E=%#x, want the bounding set", e)
	}
	h.do(it, func(t *Task) { t.SetNoNewPrivs() })
	n := h.fork(it)
	h.do(n, func(t *Task) { err = t.Execve(h.open, "/bin/prog", []string{"prog"}, nil) })
	if e := n.Credentials().Effective; err != ErrNoReturn || e != AllCaps&^CapSetOf(unix.CAP_KILL) || !n.Credentials().NoNewPrivs {
		t.Errorf("no_new_privs execve: %v E=%#x", err, e)
	}
}

func TestSignalPermission(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	a, b := h.fork(it), h.fork(it)
	var err error
	h.do(b, func(t *Task) { err = t.SetRESUID(2000, 2000, 2000) })
	if err != nil {
		t.Fatal(err)
	}
	check := func(from, to *Task, sig unix.Signal, want error) {
		t.Helper()
		var got error
		h.do(from, func(t *Task) { got = t.MaySignalProcess(to.ThreadGroup(), sig) })
		if got != want {
			t.Errorf("signal %d from uid %d to uid %d: %v, want %v", sig, from.Credentials().UID, to.Credentials().UID, got, want)
		}
	}
	check(a, b, unix.SIGTERM, nil) // CAP_KILL
	check(b, a, unix.SIGTERM, unix.EPERM)
	check(b, a, unix.SIGCONT, nil) // same session
	check(b, b, unix.SIGTERM, nil)
	h.do(a, func(t *Task) { err = t.Capset(0, AllCaps, 0) })
	if err != nil {
		t.Fatal(err)
	}
	check(a, b, unix.SIGTERM, unix.EPERM)
	// The saved uid counts: a task whose real uid is 0 but whose
	// effective and saved uids are the target's may signal it.
	h.do(a, func(t *Task) {
		if err = t.Capset(AllCaps, AllCaps, 0); err == nil {
			err = t.SetRESUID(0, 2000, 2000)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	check(b, a, unix.SIGTERM, nil)

	// capget of another thread; ESRCH for one that does not exist.
	var sets CapabilitySets
	h.do(it, func(t *Task) { sets, err = t.TaskCapabilities(a.ThreadID()) })
	if err != nil || sets.Effective != 0 || sets.Permitted != AllCaps {
		t.Errorf("TaskCapabilities(a) = %+v, %v", sets, err)
	}
	h.do(it, func(t *Task) { _, err = t.TaskCapabilities(12345) })
	if err != unix.ESRCH {
		t.Errorf("TaskCapabilities(no such task) = %v, want ESRCH", err)
	}
}

// access(2) checks with the real ids and their capabilities, and keeps
// the supplementary groups.
func TestAccessContext(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	var err error
	h.do(it, func(t *Task) {
		if err = t.SetGroups([]uint32{42}); err == nil {
			err = t.SetRESUID(0, 1000, 0)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := it.AccessContext()
	c, ok := ctx.(vfs.Capable)
	if !ok || ctx.FSUID() != 0 || !c.HasCapability(unix.CAP_DAC_OVERRIDE) || it.HasCapability(unix.CAP_DAC_OVERRIDE) {
		t.Errorf("access context of ruid 0 euid 1000: fsuid %d, capable %v", ctx.FSUID(), ok)
	}
	if g, ok := ctx.(vfs.GroupMember); !ok || !g.InGroup(42) {
		t.Error("access context lost the supplementary groups")
	}
}
