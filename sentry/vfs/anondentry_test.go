package vfs_test

import (
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/pipe"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// linkDir is a minimal /proc/<pid>/fd: each entry is a magic link to
// AnonymousDentry of a file.
type linkDir struct {
	vfs.ReadOnlyDirDefaults
	st    vfs.Stat
	links map[string]*fdLink
}

func (d *linkDir) Stat(vfs.Context) (vfs.Stat, error) { return d.st, nil }
func (d *linkDir) FileType() uint32                   { return unix.S_IFDIR }
func (d *linkDir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	return nil, nil
}
func (d *linkDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if l := d.links[name]; l != nil {
		return l, nil
	}
	return nil, unix.ENOENT
}

type fdLink struct {
	vfs.InodeDefaults
	v *vfs.VirtualFilesystem
	f *vfs.FileDescription
}

func (l *fdLink) Stat(vfs.Context) (vfs.Stat, error) {
	return vfs.Stat{Mode: unix.S_IFLNK | 0o777, Nlink: 1}, nil
}
func (l *fdLink) FileType() uint32                     { return unix.S_IFLNK }
func (l *fdLink) Readlink(vfs.Context) (string, error) { return l.f.PathName(), nil }
func (l *fdLink) FollowMagicLink(vfs.Context) (vfs.VirtualDentry, error) {
	vd := l.v.AnonymousDentry(l.f)
	if !vd.Ok() {
		return vfs.VirtualDentry{}, unix.ENXIO
	}
	return vd, nil
}

type eventImpl struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	vfs.NoRelease
}

func (eventImpl) Read(vfs.Context, []byte, int64, bool) (int, error)  { return 0, nil }
func (eventImpl) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, nil }

func TestAnonymousDentry(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	r, w := pipe.NewFiles(ctx, 0)
	defer r.DecRef()
	ev := vfs.NewFileDescription(eventImpl{}, unix.O_RDWR, vfs.NewAnonInode(ctx, 0o600), "anon_inode:[eventfd]")
	defer ev.DecRef()
	memfd := tmpfs.NewMemfd(ctx, memFile(t), "m", false, false)
	defer memfd.DecRef()
	memfd.Write(ctx, []byte("memfd data"))
	noInode := vfs.NewFileDescription(eventImpl{}, unix.O_RDWR, nil, "anon_inode:[x]")
	defer noInode.DecRef()
	e.writeFile("/file", "by path")
	byPath, err := e.open("/file", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer byPath.DecRef()

	dir := &linkDir{st: vfs.Stat{Mode: unix.S_IFDIR | 0o555, Nlink: 2}, links: map[string]*fdLink{}}
	for name, f := range map[string]*vfs.FileDescription{"0": r, "1": w, "ev": ev, "memfd": memfd, "path": byPath, "none": noInode} {
		dir.links[name] = &fdLink{v: e.v, f: f}
	}
	before := len(e.v.Mounts(e.v.Root()))
	if _, err := e.v.MountAt(ctx, "/fd", dir, vfs.MountOptions{FSType: "fdfs"}); err != nil {
		t.Fatal(err)
	}

	if vd := e.v.AnonymousDentry(byPath); vd != byPath.VirtualDentry() {
		t.Error("a file with a path does not get its own location back")
	}
	if vd := e.v.AnonymousDentry(noInode); vd.Ok() {
		t.Error("a file without an inode got a dentry")
	}

	// Reopening both ends of a pipe: a new writer and a new reader.
	w2, err := e.open("/fd/1", unix.O_WRONLY)
	if err != nil {
		t.Fatalf("reopen write end: %v", err)
	}
	r2, err := e.open("/fd/0", unix.O_RDONLY)
	if err != nil {
		t.Fatalf("reopen read end: %v", err)
	}
	if _, err := w2.Write(ctx, []byte("through /fd/1")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := r.Read(ctx, buf); err != nil || string(buf[:n]) != "through /fd/1" {
		t.Errorf("original reader got %q %v", buf[:n], err)
	}
	w.Write(ctx, []byte("to /fd/0"))
	if n, err := r2.Read(ctx, buf); err != nil || string(buf[:n]) != "to /fd/0" {
		t.Errorf("reopened reader got %q %v", buf[:n], err)
	}
	if r2.PathName() != r.PathName() || !strings.HasPrefix(r2.PathName(), "pipe:[") {
		t.Errorf("reopened pipe shows %q, original %q", r2.PathName(), r.PathName())
	}
	if r2.PathNameFrom(e.v.Root()) != r.PathName() {
		t.Errorf("PathNameFrom %q", r2.PathNameFrom(e.v.Root()))
	}
	st1, _ := r.Stat(ctx)
	st2, _ := r2.Stat(ctx)
	st3, err := e.v.Stat(ctx, e.pop("/fd/0", true))
	if err != nil || st1.Ino != st2.Ino || st1.Ino != st3.Ino || st3.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("inode numbers %d %d %d (%v)", st1.Ino, st2.Ino, st3.Ino, err)
	}
	// The reopened description can itself be reopened (it has a
	// location now: the same dentry).
	if vd := e.v.AnonymousDentry(r2); vd != r2.VirtualDentry() || vd.Inode() != r.Inode() {
		t.Error("reopen of a reopen")
	}
	// The original writer and the reopened one both count: EOF only
	// when both are gone.
	w.DecRef()
	w = nil
	r2.SetNonblocking(true)
	if _, err := r2.Read(ctx, buf); err != unix.EAGAIN {
		t.Errorf("read with a writer left: %v", err)
	}
	w2.DecRef()
	if n, err := r2.Read(ctx, buf); n != 0 || err != nil {
		t.Errorf("want EOF: %d %v", n, err)
	}
	r2.DecRef()

	// Open checks still apply.
	_, err = e.open("/fd/0", unix.O_RDONLY|unix.O_DIRECTORY)
	wantErr(t, "O_DIRECTORY on a pipe", err, unix.ENOTDIR)
	_, err = e.v.GetDentry(ctx, e.pop("/fd/0/x", true))
	wantErr(t, "walk through a pipe", err, unix.ENOTDIR)
	_, err = e.v.Open(vfstest.User(1000, 1000), e.pop("/fd/0", true), unix.O_RDONLY, 0)
	wantErr(t, "other user's pipe", err, unix.EACCES)
	wantErr(t, "link a pipe", e.v.Link(ctx, e.pop("/fd/0", true), e.pop("/pipe", false)), unix.EXDEV)
	if vd, _ := e.v.GetDentry(ctx, e.pop("/fd/0", true)); !vd.Dentry.IsDead() {
		t.Error("anonymous dentry is not dead (linkat(AT_EMPTY_PATH) would find it)")
	}
	pf, err := e.open("/fd/0", unix.O_PATH)
	if err != nil {
		t.Fatalf("O_PATH: %v", err)
	}
	pf.DecRef()

	// Files whose inode cannot be opened: ENXIO, but stat works.
	_, err = e.open("/fd/ev", unix.O_RDWR)
	wantErr(t, "reopen eventfd", err, unix.ENXIO)
	if _, err := e.v.Stat(ctx, e.pop("/fd/ev", true)); err != nil {
		t.Errorf("stat eventfd: %v", err)
	}
	_, err = e.open("/fd/none", unix.O_RDWR)
	wantErr(t, "reopen without inode", err, unix.ENXIO)

	// A memfd reopens as a new description of the same file.
	m2, err := e.open("/fd/memfd", unix.O_RDONLY)
	if err != nil {
		t.Fatalf("reopen memfd: %v", err)
	}
	if n, err := m2.Read(ctx, buf); err != nil || string(buf[:n]) != "memfd data" {
		t.Errorf("memfd reopen read %q %v", buf[:n], err)
	}
	if m2.PathName() != "/memfd:m (deleted)" {
		t.Errorf("memfd reopen shows %q", m2.PathName())
	}
	m2.DecRef()

	// A file with a path reopens where it was opened.
	if got := e.readFile("/fd/path"); got != "by path" {
		t.Errorf("by path: %q", got)
	}

	// The hidden mount is listed nowhere.
	if got := len(e.v.Mounts(e.v.Root())); got != before+1 {
		t.Errorf("%d mounts, want %d: %+v", got, before+1, e.v.Mounts(e.v.Root()))
	}
	if w != nil {
		w.DecRef()
	}
}
