package kernel

import (
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// TestContainerOfPod makes a second container in a sandbox: its init is
// pid 1 of a pid namespace of its own, it is listed and signalled by its
// label apart from the sandbox's processes, it shares the sandbox's UTS,
// IPC and network namespaces, and its mount namespace goes with its last
// process.
func TestContainerOfPod(t *testing.T) {
	h := newHarness(t)
	v := vfs.New(h.mf)
	ctx := vfstest.Root()
	if err := v.MountRoot(ctx, tmpfs.New(h.mf, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	h.k.VFSys = v
	h.k.rootNS.Mount = v.RootNamespace()
	h.startInit()

	mnt, err := v.NewNamespace(ctx, tmpfs.New(h.mf, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := h.k.NewContainerNamespaces(mnt, false)
	if err != nil {
		t.Fatal(err)
	}
	root := h.k.RootNamespaces()
	if ns.UTS != root.UTS || ns.IPC != root.IPC || ns.Net != root.Net || ns.Mount != mnt || ns.PIDForChildren == root.PIDForChildren {
		t.Fatal("a container's namespaces: want the sandbox's UTS, IPC and network, its own mount and pid namespaces")
	}
	croot := mnt.Root(v)
	tg, err := h.k.NewProcess(CreateProcessArgs{
		Path: "/bin/prog", Argv: []string{"prog"}, Open: h.open,
		FDTable: vfs.NewFDTable(), FS: vfs.NewFSContext(croot, croot, 0o022),
		Namespaces: ns, Container: "c1",
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.Start()
	if id := tg.IDIn(ns.PIDForChildren); id != 1 {
		t.Errorf("the container's init has pid %d in its namespace, want 1", id)
	}
	ps := h.k.ProcessesOf("c1", ns.PIDForChildren)
	if len(ps) != 1 || ps[0].PID != 1 {
		t.Errorf("ProcessesOf(c1) = %+v, want its init as pid 1", ps)
	}
	if own := h.k.ProcessesOf("", h.k.RootPIDNamespace()); len(own) != 1 || own[0].PID != 1 {
		t.Errorf("the sandbox's own processes are %+v, want only its init", own)
	}
	if h.k.ThreadGroupIn("c1", ns.PIDForChildren, 1) != tg || h.k.ThreadGroupIn("other", ns.PIDForChildren, 1) != nil {
		t.Error("ThreadGroupIn does not find the container's pid 1 by its label")
	}
	if err := h.k.SignalContainer("c1", hostSig(unix.SIGKILL)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tg.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("the container's init survived SIGKILL of its container")
	}
	if ws := tg.ExitStatus(); ws != WaitStatusSignaled(unix.SIGKILL) {
		t.Errorf("exit status %#x, want killed by SIGKILL", ws)
	}
	for i := 0; i < 100 && !mnt.Released(v); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !mnt.Released(v) {
		t.Error("the container's mount namespace outlived its last process")
	}
	if len(h.k.ProcessesOf("", h.k.RootPIDNamespace())) != 1 {
		t.Error("killing a container of the pod ended the sandbox's own init")
	}
}
