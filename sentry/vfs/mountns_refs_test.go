package vfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestMountNamespaceReferences checks the references mounts hold in copied
// namespaces, with a cache that evicts every unused dentry at once: a bind
// mount's root (a dentry in the middle of the source tree) and every mount
// point stay cached while mounted, through a copy of the tree, MS_MOVE,
// pivot_root, umount and the end of the namespace, and nothing stays
// cached once the mounts and the walkers are gone.
func TestMountNamespaceReferences(t *testing.T) {
	v, fs := newTreeVFS(t, 4, 2, 0)
	ctx := rootCtx{}
	root := v.Root()
	get := func(fsc *FSContext, p string) VirtualDentry {
		t.Helper()
		vd, err := v.GetDentry(ctx, fsc.PathOp(VirtualDentry{}, p, true))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return vd
	}
	stat := func(fsc *FSContext, p string) error {
		waitShrinker(v)
		v.shrink()
		_, err := v.Stat(ctx, fsc.PathOp(VirtualDentry{}, p, true))
		return err
	}
	// Only the root is cached between steps, plus what mounts hold.
	live := func(want int64, what string) {
		t.Helper()
		waitShrinker(v)
		v.shrink()
		if n := fs.live.Load(); n != want {
			t.Errorf("%s: %d inodes cached, want %d", what, n, want)
		}
	}

	ns, move := v.CloneNamespace(v.RootNamespace(), nil, 7)
	fsc := NewFSContext(move(root), move(root), 0)
	live(1, "after the copy")

	// Bind d0 on d1 inside the copy; the walkers' references are dropped
	// at once, the mount's keep d0 (its root) and d1 (its point).
	src, dst := get(fsc, "/d0"), get(fsc, "/d1")
	if _, err := v.BindMount(src, dst, false); err != nil {
		t.Fatal(err)
	}
	src.DecRef()
	dst.DecRef()
	live(3, "after the bind")
	if err := stat(fsc, "/d1/f1"); err != nil {
		t.Fatalf("through the bind after eviction: %v", err)
	}
	if err := stat(fsc, "/d1/f9"); err != unix.ENOENT {
		t.Fatalf("a missing name through the bind: %v", err)
	}

	// A copy of the copy holds its own references.
	ns2, move2 := v.CloneNamespace(ns, nil, 8)
	fsc2 := NewFSContext(move2(fsc.Root()), move2(fsc.Cwd()), 0)

	// MS_MOVE the bind to d2: d1 is let go, d2 held.
	bound, to := get(fsc, "/d1"), get(fsc, "/d2")
	if err := v.MoveMount(bound, to); err != nil {
		t.Fatal(err)
	}
	bound.DecRef()
	to.DecRef()
	if err := stat(fsc, "/d2/f0"); err != nil {
		t.Fatalf("through the moved bind: %v", err)
	}
	// d0, d1 (the second copy's bind) and d2 with the root.
	live(4, "after MS_MOVE")

	// pivot_root into the bind. The tree has no directory below d2 to
	// put the old root in, so it stacks on the new root
	// (pivot_root(".", "."), as bubblewrap does) and is detached.
	newRoot := get(fsc, "/d2")
	oldRoot := fsc.RootRef()
	if _, err := v.PivotRoot(oldRoot, newRoot, newRoot); err != nil {
		t.Fatal(err)
	}
	fsc.SetRoot(newRoot)
	fsc.SetCwd(newRoot)
	newRoot.DecRef()
	oldRoot.DecRef()
	top := v.TopMount(get(fsc, "."))
	if top.Mount.root != top.Dentry || top.Mount.parent == nil {
		t.Fatal("the old root does not stack on the new one")
	}
	if err := v.Detach(top, true); err != nil {
		t.Fatal(err)
	}
	top.DecRef()
	if err := stat(fsc, "/f1"); err != nil {
		t.Fatalf("in the new root: %v", err)
	}

	// The first copy ends: only the second copy's bind (d0 on d1) stays.
	fsc.DecRef()
	v.Release(ns)
	live(3, "after the first copy ended")
	if err := stat(fsc2, "/d1/f0"); err != nil {
		t.Fatalf("the second copy's bind: %v", err)
	}
	if !ns.Released(v) || ns2.Released(v) {
		t.Fatal("Released")
	}
	fsc2.DecRef()
	v.Release(ns2)
	live(1, "after both copies ended")
	// The initial namespace never saw any of it.
	fsc0 := NewFSContext(root, root, 0)
	defer fsc0.DecRef()
	if err := stat(fsc0, "/d1/f0"); err != nil || len(v.Mounts(root)) != 1 {
		t.Fatalf("the initial namespace changed: %v, %d mounts", err, len(v.Mounts(root)))
	}
}
