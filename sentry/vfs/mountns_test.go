package vfs_test

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// exists reports whether path resolves from fs.
func exists(e *env, fs *vfs.FSContext, path string) bool {
	vd, err := e.v.GetDentry(e.ctx, fs.PathOp(vfs.VirtualDentry{}, path, true))
	if err != nil {
		return false
	}
	vd.DecRef()
	return true
}

func TestMountNamespaces(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/mnt")
	e.mkdir("/src")
	if err := e.v.Mkdir(e.ctx, e.pop("/src/sub", false), 0o755); err != nil {
		t.Fatal(err)
	}
	ns := e.v.RootNamespace()
	copyNS, move := e.v.CloneNamespace(ns, nil, 1)
	inside := vfs.NewFSContext(move(e.fs.Root()), move(e.fs.Cwd()), 0o022)
	if inside.Root().Mount.Namespace() != copyNS {
		t.Fatal("the moved root is not in the new namespace")
	}
	// A tmpfs mounted inside is invisible outside.
	target, err := e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/mnt", true))
	if err != nil {
		t.Fatal(err)
	}
	fs := tmpfs.New(memFile(t), tmpfs.Options{Mode: 0o755})
	if _, err := e.v.MountIn(e.ctx, target, fs.Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Mkdir(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/mnt/only-inside", false), 0o755); err != nil {
		t.Fatal(err)
	}
	if !exists(e, inside, "/mnt/only-inside") || exists(e, e.fs, "/mnt/only-inside") {
		t.Fatal("a mount in a copied namespace leaked into the original")
	}
	if n := len(e.v.Mounts(inside.Root())); n != 2 {
		t.Fatalf("the copy lists %d mounts, want 2", n)
	}
	if n := len(e.v.Mounts(e.fs.Root())); n != 1 {
		t.Fatalf("the original lists %d mounts, want 1", n)
	}
	// The mount point is busy inside only.
	if err := e.v.Rmdir(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/mnt", false)); err != unix.EBUSY {
		t.Fatalf("rmdir of a mount point: %v", err)
	}
	// A recursive bind brings the tmpfs along; a read-only remount of
	// the bind leaves the source writable.
	e.mkdir("/bind")
	src, _ := e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/", true))
	dst, _ := e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/bind", true))
	if _, err := e.v.BindMount(src, dst, true); err != nil {
		t.Fatal(err)
	}
	if !exists(e, inside, "/bind/mnt/only-inside") || !exists(e, inside, "/bind/src/sub") {
		t.Fatal("the recursive bind does not show the source tree and its mounts")
	}
	bound, _ := e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/bind", true))
	if err := e.v.Remount(bound, true, false); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Mkdir(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/bind/src/x", false), 0o755); err != unix.EROFS {
		t.Fatalf("mkdir through a read-only bind: %v", err)
	}
	if err := e.v.Mkdir(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/src/x", false), 0o755); err != nil {
		t.Fatalf("mkdir through the source: %v", err)
	}
	// MS_MOVE takes the bind and what is below it elsewhere.
	e.mkdir("/moved")
	to, _ := e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/moved", true))
	if err := e.v.MoveMount(bound, to); err != nil {
		t.Fatal(err)
	}
	if exists(e, inside, "/bind/src") || !exists(e, inside, "/moved/mnt/only-inside") {
		t.Fatal("MS_MOVE did not move the tree")
	}
	bound, _ = e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/moved", true))
	below, _ := e.v.GetDentry(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/moved/src", true))
	if err := e.v.MoveMount(bound, below); err != unix.ELOOP {
		t.Fatalf("moving a mount below itself: %v", err)
	}
	// Detach: busy with mounts below unless lazy.
	if err := e.v.Detach(bound, false); err != unix.EBUSY {
		t.Fatalf("umount of a mount with mounts on it: %v", err)
	}
	if err := e.v.Detach(bound, true); err != nil {
		t.Fatal(err)
	}
	if exists(e, inside, "/moved/src") {
		t.Fatal("a lazily detached bind is still there")
	}
	// Releasing the namespace removes its mounts; the mount point can go.
	e.v.Release(copyNS)
	if err := e.v.Rmdir(e.ctx, e.pop("/mnt", false)); err != nil {
		t.Fatalf("rmdir after the namespace ended: %v", err)
	}
}

func TestPivotRoot(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/new")
	ns := e.v.RootNamespace()
	_, move := e.v.CloneNamespace(ns, nil, 2)
	fs := vfs.NewFSContext(move(e.fs.Root()), move(e.fs.Cwd()), 0o022)
	target, _ := e.v.GetDentry(e.ctx, fs.PathOp(vfs.VirtualDentry{}, "/new", true))
	m := tmpfs.New(memFile(t), tmpfs.Options{Mode: 0o755})
	if _, err := e.v.MountIn(e.ctx, target, m.Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Mkdir(e.ctx, fs.PathOp(vfs.VirtualDentry{}, "/new/old", false), 0o755); err != nil {
		t.Fatal(err)
	}
	newRoot, _ := e.v.GetDentry(e.ctx, fs.PathOp(vfs.VirtualDentry{}, "/new", true))
	putOld, _ := e.v.GetDentry(e.ctx, fs.PathOp(vfs.VirtualDentry{}, "/new/old", true))
	if _, err := e.v.PivotRoot(fs.Root(), fs.Root(), putOld); err != unix.EBUSY {
		t.Fatalf("pivot to the current root: %v", err)
	}
	if _, err := e.v.PivotRoot(fs.Root(), newRoot, putOld); err != nil {
		t.Fatal(err)
	}
	fs.SetRoot(newRoot)
	fs.SetCwd(newRoot)
	// The old root is at put_old, without the tmpfs (now the root) on
	// its /new.
	if !exists(e, fs, "/old/new") || exists(e, fs, "/old/new/old") {
		t.Fatal("the old root is not at put_old")
	}
	old, _ := e.v.GetDentry(e.ctx, fs.PathOp(vfs.VirtualDentry{}, "/old", true))
	if err := e.v.Detach(old, true); err != nil {
		t.Fatal(err)
	}
	if exists(e, fs, "/old/new") {
		t.Fatal("the old root is still reachable after umount -l")
	}
}

// TestNewNamespaceBindMountAt: a namespace of its own sees none of the
// others' mounts, and a bind from another namespace shows one tree in
// both (a pod's shared volume).
func TestNewNamespaceBindMountAt(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/vol")
	vol := tmpfs.New(memFile(t), tmpfs.Options{Mode: 0o777})
	m, err := e.v.MountAt(e.ctx, "/vol", vol.Root(), vfs.MountOptions{FSType: "tmpfs"})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := e.v.NewNamespace(e.ctx, tmpfs.New(memFile(t), tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs"}, nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	root := ns.Root(e.v)
	inside := vfs.NewFSContext(root, root, 0o022)
	if exists(e, inside, "/vol") {
		t.Fatal("a new namespace sees the root namespace's /vol")
	}
	if _, err := e.v.BindMountAt(e.ctx, root, "/data/shared", vfs.VirtualDentry{Mount: m, Dentry: m.Root()}); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Mkdir(e.ctx, inside.PathOp(vfs.VirtualDentry{}, "/data/shared/x", false), 0o755); err != nil {
		t.Fatal(err)
	}
	if !exists(e, e.fs, "/vol/x") {
		t.Fatal("what the new namespace made in the bind is not in the source")
	}
	if n := len(e.v.Mounts(root)); n != 2 {
		t.Fatalf("the new namespace lists %d mounts, want 2 (root and the bind)", n)
	}
	e.v.Release(ns)
	if !ns.Released(e.v) || !exists(e, e.fs, "/vol/x") {
		t.Fatal("releasing the namespace should end it and leave the source")
	}
}

// TestMountFileAt: a file mounted over a missing name in another
// filesystem shows the mounted file's contents there.
func TestMountFileAt(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/src")
	e.mkdir("/dev")
	fd, err := e.v.Open(e.ctx, e.pop("/src/log", false), unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fd.DecRef()
	src, err := e.v.GetDentry(e.ctx, e.pop("/src/log", true))
	if err != nil {
		t.Fatal(err)
	}
	defer src.DecRef()
	devfs := tmpfs.New(memFile(t), tmpfs.Options{Mode: 0o755})
	if _, err := e.v.MountAt(e.ctx, "/dev", devfs.Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.MountFileAt(e.ctx, e.v.Root(), "/dev/termination-log", src.Inode(), vfs.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := e.v.GetDentry(e.ctx, e.pop("/dev/termination-log", true))
	if err != nil {
		t.Fatal(err)
	}
	defer got.DecRef()
	if got.Inode() != src.Inode() {
		t.Fatal("/dev/termination-log is not the mounted file")
	}
	if _, err := e.v.MountFileAt(e.ctx, e.v.Root(), "/dev/x", devfs.Root(), vfs.MountOptions{}); err != unix.EISDIR {
		t.Fatalf("mounting a directory as a file: %v, want EISDIR", err)
	}
}
