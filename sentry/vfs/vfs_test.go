package vfs_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

var (
	mfOnce sync.Once
	mf     *memfile.File
)

func memFile(t *testing.T) *memfile.File {
	mfOnce.Do(func() {
		var err error
		if mf, err = memfile.New(); err != nil {
			t.Fatalf("memfile.New: %v", err)
		}
	})
	return mf
}

type env struct {
	t   *testing.T
	ctx *vfstest.Context
	v   *vfs.VirtualFilesystem
	fs  *vfs.FSContext
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m := memFile(t)
	ctx := vfstest.Root()
	v := vfs.New(m)
	if err := v.MountRoot(ctx, tmpfs.New(m, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, v: v, fs: vfs.NewFSContext(v.Root(), v.Root(), 0o022)}
}

func (e *env) pop(path string, follow bool) vfs.PathOperation {
	return e.fs.PathOp(vfs.VirtualDentry{}, path, follow)
}

func (e *env) mkdir(path string) {
	e.t.Helper()
	if err := e.v.Mkdir(e.ctx, e.pop(path, false), 0o755); err != nil {
		e.t.Fatalf("mkdir %q: %v", path, err)
	}
}

func (e *env) symlink(target, path string) {
	e.t.Helper()
	if err := e.v.Symlink(e.ctx, target, e.pop(path, false)); err != nil {
		e.t.Fatalf("symlink %q: %v", path, err)
	}
}

func (e *env) open(path string, flags uint32) (*vfs.FileDescription, error) {
	return e.v.Open(e.ctx, e.pop(path, true), flags, 0o666)
}

func (e *env) writeFile(path, data string) {
	e.t.Helper()
	fd, err := e.open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		e.t.Fatalf("create %q: %v", path, err)
	}
	defer fd.DecRef()
	if n, err := fd.Write(e.ctx, []byte(data)); err != nil || n != len(data) {
		e.t.Fatalf("write %q: %d, %v", path, n, err)
	}
}

func (e *env) readFile(path string) string {
	e.t.Helper()
	fd, err := e.open(path, unix.O_RDONLY)
	if err != nil {
		e.t.Fatalf("open %q: %v", path, err)
	}
	defer fd.DecRef()
	var sb strings.Builder
	buf := make([]byte, 3)
	for {
		n, err := fd.Read(e.ctx, buf)
		if err != nil {
			e.t.Fatalf("read %q: %v", path, err)
		}
		if n == 0 {
			return sb.String()
		}
		sb.Write(buf[:n])
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestResolveBasics(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/a")
	e.mkdir("/a/b")
	e.writeFile("/a/b/f", "hello")
	e.symlink("b/f", "/a/lf")
	e.symlink("/a/b", "/a/lb")
	e.symlink("../..", "/a/b/up")

	if got := e.readFile("/a/lf"); got != "hello" {
		t.Errorf("read through symlink: %q", got)
	}
	if got := e.readFile("//a/./lb/../b/f"); got != "hello" {
		t.Errorf("dots: %q", got)
	}
	if got := e.readFile("/a/b/up/a/b/up/a/b/f"); got != "hello" {
		t.Errorf("symlink ..: %q", got)
	}
	if got := e.readFile("/../../a/b/f"); got != "hello" {
		t.Errorf(".. at root: %q", got)
	}
	// Relative to cwd.
	cwd, err := e.v.GetDirectory(e.ctx, e.pop("/a/b", true))
	if err != nil {
		t.Fatal(err)
	}
	e.fs.SetCwd(cwd)
	if got := e.readFile("f"); got != "hello" {
		t.Errorf("relative: %q", got)
	}
	if got := e.readFile("../lf"); got != "hello" {
		t.Errorf("relative ..: %q", got)
	}
	if p := e.v.PathName(cwd); p != "/a/b" {
		t.Errorf("PathName = %q", p)
	}

	_, err = e.open("/a/b/f/", unix.O_RDONLY)
	wantErr(t, "trailing slash on file", err, unix.ENOTDIR)
	_, err = e.open("/a/b/f/x", unix.O_RDONLY)
	wantErr(t, "file as dir", err, unix.ENOTDIR)
	_, err = e.open("/a/nope/x", unix.O_RDONLY)
	wantErr(t, "missing dir", err, unix.ENOENT)
	_, err = e.open("", unix.O_RDONLY)
	wantErr(t, "empty path", err, unix.ENOENT)
	_, err = e.open("/a/"+strings.Repeat("x", 256), unix.O_RDONLY)
	wantErr(t, "long name", err, unix.ENAMETOOLONG)
	_, err = e.open("/a/lf", unix.O_RDONLY|unix.O_NOFOLLOW)
	wantErr(t, "O_NOFOLLOW", err, unix.ELOOP)
	if fd, err := e.open("/a/lf", unix.O_PATH|unix.O_NOFOLLOW); err != nil {
		t.Errorf("O_PATH|O_NOFOLLOW: %v", err)
	} else {
		st, _ := fd.Stat(e.ctx)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("O_PATH|O_NOFOLLOW opened mode %o", st.Mode)
		}
		_, err := fd.Read(e.ctx, make([]byte, 1))
		wantErr(t, "read O_PATH", err, unix.EBADF)
		fd.DecRef()
	}
	_, err = e.open("/a/b/f", unix.O_RDONLY|unix.O_DIRECTORY)
	wantErr(t, "O_DIRECTORY", err, unix.ENOTDIR)
	_, err = e.open("/a/b", unix.O_WRONLY)
	wantErr(t, "dir for write", err, unix.EISDIR)
	_, err = e.open("/a/lb/", unix.O_RDONLY)
	if err != nil {
		t.Errorf("symlink to dir with slash: %v", err)
	}
	st, err := e.v.Stat(e.ctx, e.pop("/a/lb/", false))
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("lstat with trailing slash follows: %o %v", st.Mode, err)
	}
	st, err = e.v.Stat(e.ctx, e.pop("/a/lb", false))
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("lstat: %o %v", st.Mode, err)
	}
}

func TestSymlinkLoops(t *testing.T) {
	e := newEnv(t)
	e.symlink("l2", "/l1")
	e.symlink("l1", "/l2")
	_, err := e.open("/l1", unix.O_RDONLY)
	wantErr(t, "loop", err, unix.ELOOP)
	_, err = e.open("/l1/x", unix.O_RDONLY)
	wantErr(t, "loop in middle", err, unix.ELOOP)
	e.symlink("self", "/self")
	_, err = e.open("/self", unix.O_CREAT|unix.O_RDWR)
	wantErr(t, "create through loop", err, unix.ELOOP)

	// A chain of exactly 40 links resolves; 41 does not.
	e.writeFile("/target", "x")
	prev := "/target"
	for i := 0; i < 41; i++ {
		name := fmt.Sprintf("/c%d", i)
		e.symlink(prev, name)
		prev = name
	}
	if got := e.readFile("/c39"); got != "x" {
		t.Errorf("40 links: %q", got)
	}
	_, err = e.open("/c40", unix.O_RDONLY)
	wantErr(t, "41 links", err, unix.ELOOP)
}

func TestCreateSemantics(t *testing.T) {
	e := newEnv(t)
	e.writeFile("/f", "abc")
	_, err := e.open("/f", unix.O_CREAT|unix.O_EXCL|unix.O_RDWR)
	wantErr(t, "O_EXCL existing", err, unix.EEXIST)
	_, err = e.open("/new/", unix.O_CREAT|unix.O_RDWR)
	wantErr(t, "O_CREAT trailing slash", err, unix.EISDIR)
	_, err = e.open("/", unix.O_CREAT|unix.O_RDWR)
	wantErr(t, "O_CREAT /", err, unix.EISDIR)

	// O_CREAT through a dangling symlink creates the target; O_EXCL
	// refuses the symlink.
	e.symlink("/created", "/dangling")
	_, err = e.open("/dangling", unix.O_CREAT|unix.O_EXCL|unix.O_RDWR)
	wantErr(t, "O_EXCL on symlink", err, unix.EEXIST)
	fd, err := e.open("/dangling", unix.O_CREAT|unix.O_RDWR)
	if err != nil {
		t.Fatalf("create via dangling symlink: %v", err)
	}
	fd.DecRef()
	if _, err := e.v.Stat(e.ctx, e.pop("/created", false)); err != nil {
		t.Errorf("target not created: %v", err)
	}
	// umask applies.
	st, _ := e.v.Stat(e.ctx, e.pop("/created", false))
	if st.Mode&0o777 != 0o644 {
		t.Errorf("mode %o, want 644", st.Mode&0o777)
	}
	// O_TRUNC.
	fd, err = e.open("/f", unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	fd.DecRef()
	if got := e.readFile("/f"); got != "" {
		t.Errorf("after O_TRUNC: %q", got)
	}
	// O_APPEND.
	e.writeFile("/app", "12")
	fd, _ = e.open("/app", unix.O_WRONLY|unix.O_APPEND)
	fd.Write(e.ctx, []byte("34"))
	fd.PWrite(e.ctx, []byte("56"), 0)
	fd.DecRef()
	if got := e.readFile("/app"); got != "123456" {
		t.Errorf("append: %q", got)
	}
	// Access modes.
	fd, _ = e.open("/app", unix.O_WRONLY)
	_, err = fd.Read(e.ctx, make([]byte, 1))
	wantErr(t, "read write-only", err, unix.EBADF)
	fd.DecRef()
	fd, _ = e.open("/app", unix.O_RDONLY)
	_, err = fd.Write(e.ctx, []byte("x"))
	wantErr(t, "write read-only", err, unix.EBADF)
	err = fd.Truncate(e.ctx, 0)
	wantErr(t, "ftruncate read-only", err, unix.EINVAL)
	fd.DecRef()

	wantErr(t, "mkdir existing", e.v.Mkdir(e.ctx, e.pop("/f", false), 0o777), unix.EEXIST)
	wantErr(t, "mkdir /", e.v.Mkdir(e.ctx, e.pop("/", false), 0o777), unix.EEXIST)
	wantErr(t, "mkdir missing parent", e.v.Mkdir(e.ctx, e.pop("/x/y", false), 0o777), unix.ENOENT)
	if err := e.v.Mkdir(e.ctx, e.pop("/d/", false), 0o777); err != nil {
		t.Errorf("mkdir with trailing slash: %v", err)
	}
	wantErr(t, "symlink trailing slash", e.v.Symlink(e.ctx, "x", e.pop("/s/", false)), unix.ENOENT)
	wantErr(t, "unlink dir", e.v.Unlink(e.ctx, e.pop("/d", false)), unix.EISDIR)
	wantErr(t, "rmdir file", e.v.Rmdir(e.ctx, e.pop("/f", false)), unix.ENOTDIR)
	wantErr(t, "rmdir .", e.v.Rmdir(e.ctx, e.pop("/d/.", false)), unix.EINVAL)
	wantErr(t, "unlink file/", e.v.Unlink(e.ctx, e.pop("/f/", false)), unix.ENOTDIR)
	e.writeFile("/d/x", "")
	wantErr(t, "rmdir non-empty", e.v.Rmdir(e.ctx, e.pop("/d", false)), unix.ENOTEMPTY)
}

func TestMounts(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/mnt")
	e.writeFile("/mnt/under", "u")
	m2 := tmpfs.New(memFile(t), tmpfs.Options{})
	if _, err := e.v.MountAt(e.ctx, "/mnt", m2.Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.open("/mnt/under", unix.O_RDONLY)
	wantErr(t, "hidden by mount", err, unix.ENOENT)
	e.writeFile("/mnt/over", "o")
	e.writeFile("/top", "t")
	if got := e.readFile("/mnt/../top"); got != "t" {
		t.Errorf(".. out of mount: %q", got)
	}
	st1, _ := e.v.Stat(e.ctx, e.pop("/mnt/over", false))
	st2, _ := e.v.Stat(e.ctx, e.pop("/top", false))
	if st1.Dev == st2.Dev {
		t.Errorf("same st_dev across mounts")
	}
	wantErr(t, "rename across mounts", e.v.Rename(e.ctx, e.pop("/top", false), e.pop("/mnt/top", false), 0), unix.EXDEV)
	wantErr(t, "link across mounts", e.v.Link(e.ctx, e.pop("/top", false), e.pop("/mnt/top", false)), unix.EXDEV)
	wantErr(t, "rmdir mount point", e.v.Rmdir(e.ctx, e.pop("/mnt", false)), unix.EBUSY)

	// Synthetic mount point on a missing directory.
	if _, err := e.v.MountAt(e.ctx, "/proc", tmpfs.New(memFile(t), tmpfs.Options{}).Root(), vfs.MountOptions{ReadOnly: true}); err != nil {
		t.Fatalf("synthetic mount: %v", err)
	}
	_, err = e.open("/proc/x", unix.O_CREAT|unix.O_RDWR)
	wantErr(t, "create on ro mount", err, unix.EROFS)
	wantErr(t, "mkdir on ro mount", e.v.Mkdir(e.ctx, e.pop("/proc/d", false), 0o777), unix.EROFS)
	wantErr(t, "mkdir existing on ro mount", e.v.Mkdir(e.ctx, e.pop("/proc/.", false), 0o777), unix.EEXIST)
	wantErr(t, "chmod on ro mount", e.v.SetStat(e.ctx, e.pop("/proc", true), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o700}), unix.EROFS)
	sfs, err := e.v.StatFS(e.ctx, e.pop("/proc", true))
	if err != nil || sfs.Flags&unix.ST_RDONLY == 0 || sfs.Type != vfs.TmpfsMagic {
		t.Errorf("statfs ro: %+v %v", sfs, err)
	}
	mounts := e.v.Mounts(e.v.Root())
	if len(mounts) != 3 || mounts[1].Path != "/mnt" || mounts[2].Path != "/proc" {
		t.Errorf("mounts: %+v", mounts)
	}

	// Unmount reveals the old contents.
	if err := e.v.Unmount(e.ctx, e.pop("/mnt", true)); err != nil {
		t.Fatal(err)
	}
	if got := e.readFile("/mnt/under"); got != "u" {
		t.Errorf("after unmount: %q", got)
	}
}

func TestChroot(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/jail")
	e.mkdir("/jail/etc")
	e.writeFile("/jail/etc/f", "in")
	e.writeFile("/secret", "out")
	e.symlink("/etc/f", "/jail/abs")
	jail, err := e.v.GetDirectory(e.ctx, e.pop("/jail", true))
	if err != nil {
		t.Fatal(err)
	}
	e.fs.SetRoot(jail)
	e.fs.SetCwd(jail)
	if got := e.readFile("/../../etc/f"); got != "in" {
		t.Errorf("chroot ..: %q", got)
	}
	if got := e.readFile("abs"); got != "in" {
		t.Errorf("absolute symlink in chroot: %q", got)
	}
	_, err = e.open("/../secret", unix.O_RDONLY)
	wantErr(t, "escape", err, unix.ENOENT)
}

func TestRenameAndLinks(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/a")
	e.mkdir("/a/sub")
	e.writeFile("/a/f", "1")
	e.writeFile("/g", "2")

	fd, err := e.open("/a/f", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.v.Rename(e.ctx, e.pop("/a/f", false), e.pop("/h", false), 0); err != nil {
		t.Fatal(err)
	}
	if p := fd.PathName(); p != "/h" {
		t.Errorf("path after rename %q", p)
	}
	wantErr(t, "rename dir into itself", e.v.Rename(e.ctx, e.pop("/a", false), e.pop("/a/sub/x", false), 0), unix.EINVAL)
	wantErr(t, "noreplace", e.v.Rename(e.ctx, e.pop("/h", false), e.pop("/g", false), unix.RENAME_NOREPLACE), unix.EEXIST)
	wantErr(t, "exchange", e.v.Rename(e.ctx, e.pop("/h", false), e.pop("/g", false), unix.RENAME_EXCHANGE), unix.EINVAL)
	wantErr(t, "file over dir", e.v.Rename(e.ctx, e.pop("/h", false), e.pop("/a", false), 0), unix.EISDIR)
	wantErr(t, "dir over file", e.v.Rename(e.ctx, e.pop("/a", false), e.pop("/h", false), 0), unix.ENOTDIR)
	wantErr(t, "rename .", e.v.Rename(e.ctx, e.pop("/a/.", false), e.pop("/z", false), 0), unix.EBUSY)

	// Rename over an open file: the old one is dead but readable.
	gfd, _ := e.open("/g", unix.O_RDONLY)
	if err := e.v.Rename(e.ctx, e.pop("/h", false), e.pop("/g", false), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, _ := gfd.Read(e.ctx, buf); string(buf[:n]) != "2" {
		t.Errorf("replaced file read %q", buf[:n])
	}
	if p := gfd.PathName(); p != "/g (deleted)" {
		t.Errorf("replaced path %q", p)
	}
	gfd.DecRef()
	if got := e.readFile("/g"); got != "1" {
		t.Errorf("after rename over: %q", got)
	}
	fd.DecRef()

	// Hard links.
	if err := e.v.Link(e.ctx, e.pop("/g", false), e.pop("/a/sub/l", false)); err != nil {
		t.Fatal(err)
	}
	st, _ := e.v.Stat(e.ctx, e.pop("/g", false))
	if st.Nlink != 2 {
		t.Errorf("nlink %d", st.Nlink)
	}
	wantErr(t, "link dir", e.v.Link(e.ctx, e.pop("/a", false), e.pop("/b", false)), unix.EPERM)
	wantErr(t, "link existing", e.v.Link(e.ctx, e.pop("/g", false), e.pop("/a/sub/l", false)), unix.EEXIST)

	// Unlink while open keeps data.
	fd, _ = e.open("/g", unix.O_RDWR)
	if err := e.v.Unlink(e.ctx, e.pop("/g", false)); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Unlink(e.ctx, e.pop("/a/sub/l", false)); err != nil {
		t.Fatal(err)
	}
	st, _ = fd.Stat(e.ctx)
	if st.Nlink != 0 {
		t.Errorf("nlink after unlink %d", st.Nlink)
	}
	fd.Write(e.ctx, []byte("more"))
	if n, _ := fd.PRead(e.ctx, buf, 0); string(buf[:n]) != "more" {
		t.Errorf("unlinked read %q", buf[:n])
	}
	fd.DecRef()
	_, err = e.open("/g", unix.O_RDONLY)
	wantErr(t, "unlinked", err, unix.ENOENT)

	// Directory nlink.
	st, _ = e.v.Stat(e.ctx, e.pop("/a", false))
	if st.Nlink != 3 {
		t.Errorf("dir nlink %d, want 3", st.Nlink)
	}
	if err := e.v.Rename(e.ctx, e.pop("/a/sub", false), e.pop("/sub2", false), 0); err != nil {
		t.Fatal(err)
	}
	st, _ = e.v.Stat(e.ctx, e.pop("/a", false))
	if st.Nlink != 2 {
		t.Errorf("dir nlink after move %d, want 2", st.Nlink)
	}
	// Removed cwd.
	cwd, _ := e.v.GetDirectory(e.ctx, e.pop("/sub2", true))
	e.fs.SetCwd(cwd)
	if err := e.v.Rmdir(e.ctx, e.pop("/sub2", false)); err != nil {
		t.Fatal(err)
	}
	_, err = e.open("x", unix.O_CREAT|unix.O_RDWR)
	wantErr(t, "create in removed cwd", err, unix.ENOENT)
}

func TestPermissions(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/d")
	e.writeFile("/d/f", "x")
	user := vfstest.User(1000, 1000)
	if err := e.v.SetStat(e.ctx, e.pop("/d", false), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o700}); err != nil {
		t.Fatal(err)
	}
	_, err := e.v.Open(user, e.pop("/d/f", true), unix.O_RDONLY, 0)
	wantErr(t, "search denied", err, unix.EACCES)
	e.v.SetStat(e.ctx, e.pop("/d", false), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o755})
	_, err = e.v.Open(user, e.pop("/d/f", true), unix.O_RDWR, 0)
	wantErr(t, "write denied", err, unix.EACCES)
	fd, err := e.v.Open(user, e.pop("/d/f", true), unix.O_RDONLY, 0)
	if err != nil {
		t.Errorf("read allowed: %v", err)
	} else {
		fd.DecRef()
	}
	_, err = e.v.Open(user, e.pop("/d/new", true), unix.O_CREAT|unix.O_RDWR, 0o600)
	wantErr(t, "create denied", err, unix.EACCES)
	wantErr(t, "chmod not owner", e.v.SetStat(user, e.pop("/d/f", false), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o777}), unix.EPERM)
	wantErr(t, "chown not root", e.v.SetStat(user, e.pop("/d/f", false), vfs.SetStat{Valid: vfs.AttrUID, UID: 1000}), unix.EPERM)
	// Root needs an x bit to execute.
	_, err = e.v.OpenExecutable(e.ctx, e.pop("/d/f", true))
	wantErr(t, "exec no x bit", err, unix.EACCES)
	_, err = e.v.OpenExecutable(e.ctx, e.pop("/d", true))
	wantErr(t, "exec dir", err, unix.EACCES)
	e.v.SetStat(e.ctx, e.pop("/d/f", false), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o100})
	exe, err := e.v.OpenExecutable(e.ctx, e.pop("/d/f", true))
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	buf := make([]byte, 1)
	if n, err := exe.PRead(e.ctx, buf, 0); n != 1 || err != nil || exe.PathName() != "/d/f" {
		t.Errorf("exec pread %d %v %q", n, err, exe.PathName())
	}
	if _, err := exe.Mappable(); err != nil {
		t.Errorf("mappable: %v", err)
	}
	exe.DecRef()
	wantErr(t, "access W_OK as user", e.v.Access(user, e.pop("/d/f", true), unix.W_OK), unix.EACCES)
	// Sticky directory.
	e.mkdir("/tmp")
	e.v.SetStat(e.ctx, e.pop("/tmp", false), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o1777})
	e.writeFile("/tmp/rootfile", "")
	wantErr(t, "sticky unlink", e.v.Unlink(user, e.pop("/tmp/rootfile", false)), unix.EPERM)
}

func TestGetdents(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/d")
	for i := 0; i < 5; i++ {
		e.writeFile(fmt.Sprintf("/d/f%d", i), "")
	}
	fd, err := e.open("/d", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	var names []string
	var offs []int64
	read := func(max int) {
		k := 0
		fd.Getdents(e.ctx, func(d vfs.Dirent, next int64) bool {
			if k == max {
				return false
			}
			k++
			names = append(names, d.Name)
			offs = append(offs, next)
			return true
		})
	}
	read(3)
	read(100)
	want := []string{".", "..", "f0", "f1", "f2", "f3", "f4"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("names %v", names)
	}
	// Seek back to the d_off after "f0" and resume.
	if _, err := fd.Seek(e.ctx, offs[2], unix.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	names = nil
	read(1)
	if len(names) != 1 || names[0] != "f1" {
		t.Errorf("after seek: %v", names)
	}
	// Rewind sees new entries.
	e.writeFile("/d/g", "")
	fd.Seek(e.ctx, 0, unix.SEEK_SET)
	names = nil
	read(100)
	if len(names) != 8 {
		t.Errorf("after rewind: %v", names)
	}
	_, err = fd.Seek(e.ctx, 0, unix.SEEK_END)
	wantErr(t, "SEEK_END on dir", err, unix.EINVAL)
	_, err = fd.Read(e.ctx, make([]byte, 1))
	wantErr(t, "read dir", err, unix.EISDIR)
}

func TestSeek(t *testing.T) {
	e := newEnv(t)
	e.writeFile("/f", "0123456789")
	fd, _ := e.open("/f", unix.O_RDWR)
	defer fd.DecRef()
	if off, _ := fd.Seek(e.ctx, -3, unix.SEEK_END); off != 7 {
		t.Errorf("SEEK_END %d", off)
	}
	buf := make([]byte, 10)
	if n, _ := fd.Read(e.ctx, buf); string(buf[:n]) != "789" {
		t.Errorf("read %q", buf[:n])
	}
	_, err := fd.Seek(e.ctx, -100, unix.SEEK_CUR)
	wantErr(t, "negative", err, unix.EINVAL)
	if off, _ := fd.Seek(e.ctx, 20, unix.SEEK_SET); off != 20 {
		t.Errorf("past end %d", off)
	}
	fd.Write(e.ctx, []byte("x"))
	st, _ := fd.Stat(e.ctx)
	if st.Size != 21 {
		t.Errorf("size %d", st.Size)
	}
	if n, _ := fd.PRead(e.ctx, buf, 10); n != 10 || buf[0] != 0 || buf[9] != 0 {
		t.Errorf("hole read %d %v", n, buf)
	}
	_, err = fd.Seek(e.ctx, 30, unix.SEEK_DATA)
	wantErr(t, "SEEK_DATA past end", err, unix.ENXIO)
	if off, _ := fd.Seek(e.ctx, 5, unix.SEEK_HOLE); off != 21 {
		t.Errorf("SEEK_HOLE %d", off)
	}
}

func TestFDTable(t *testing.T) {
	e := newEnv(t)
	e.writeFile("/f", "x")
	tab := vfs.NewFDTable()
	f, _ := e.open("/f", unix.O_RDONLY)
	for want := int32(0); want < 3; want++ {
		fd, err := tab.NewFD(0, f, false)
		if err != nil || fd != want {
			t.Fatalf("NewFD = %d, %v; want %d", fd, err, want)
		}
	}
	if err := tab.Remove(1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "double close", tab.Remove(1), unix.EBADF)
	if fd, _ := tab.NewFD(0, f, true); fd != 1 {
		t.Errorf("lowest free = %d", fd)
	}
	if fd, _ := tab.NewFD(10, f, false); fd != 10 {
		t.Errorf("min = %d", fd)
	}
	if err := tab.SetFD(5, f, true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetFD over limit", tab.SetFD(vfs.DefaultFDLimit, f, false), unix.EBADF)
	_, _, err := tab.Get(7)
	wantErr(t, "Get closed", err, unix.EBADF)
	child := tab.Fork()
	tab.CloseOnExec()
	if _, _, err := tab.Get(1); err == nil {
		t.Errorf("cloexec fd survived")
	}
	if _, _, err := child.Get(1); err != nil {
		t.Errorf("fork lost fd 1")
	} else {
		f.DecRef() // Get's reference
	}
	tab.SetLimit(12)
	for {
		if _, err := tab.NewFD(0, f, false); err != nil {
			wantErr(t, "limit", err, unix.EMFILE)
			break
		}
	}
	if tab.Count() != 12 {
		t.Errorf("count %d", tab.Count())
	}
	tab.DecRef()
	child.DecRef()
	f.DecRef() // ours; now fully released
	if n := tab.Count(); n != 0 {
		t.Errorf("count after close %d", n)
	}
}

type countingImpl struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	released int
}

func (c *countingImpl) Read(vfs.Context, []byte, int64, bool) (int, error)  { return 0, nil }
func (c *countingImpl) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, nil }
func (c *countingImpl) Release()                                            { c.released++ }

func TestRefcounts(t *testing.T) {
	impl := &countingImpl{}
	f := vfs.NewFileDescription(impl, unix.O_RDWR, vfs.NewAnonInode(vfstest.Root(), unix.S_IFIFO|0o600), "pipe:[1]")
	tab := vfs.NewFDTable()
	tab.NewFD(0, f, false)
	tab.NewFD(0, f, false)
	f.DecRef()
	child := tab.Fork()
	tab.DecRef()
	if impl.released != 0 {
		t.Fatalf("released early")
	}
	child.CloseRange(0, 0, false)
	child.CloseRange(1, 100, true)
	if impl.released != 0 {
		t.Fatalf("released early after close_range")
	}
	child.DecRef()
	if impl.released != 1 {
		t.Fatalf("released %d times", impl.released)
	}
	if f.PathName() != "pipe:[1]" {
		t.Errorf("anon name %q", f.PathName())
	}
	if _, err := f.PRead(vfstest.Root(), nil, 0); err != unix.ESPIPE {
		t.Errorf("pread on stream: %v", err)
	}
}

func TestLocks(t *testing.T) {
	e := newEnv(t)
	e.writeFile("/f", "0123456789")
	f1, _ := e.open("/f", unix.O_RDWR)
	f2, _ := e.open("/f", unix.O_RDWR)
	defer f1.DecRef()
	defer f2.DecRef()
	t1, t2 := vfs.NewFDTable(), vfs.NewFDTable()
	lk := func(typ int16, start, l int64) vfs.Flock {
		return vfs.Flock{Type: typ, Whence: unix.SEEK_SET, Start: start, Len: l}
	}
	if err := f1.SetPOSIXLock(e.ctx, t1, 10, lk(unix.F_WRLCK, 0, 5), false); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "conflict", f2.SetPOSIXLock(e.ctx, t2, 20, lk(unix.F_RDLCK, 4, 2), false), unix.EAGAIN)
	if err := f2.SetPOSIXLock(e.ctx, t2, 20, lk(unix.F_WRLCK, 5, 0), false); err != nil {
		t.Errorf("adjacent: %v", err)
	}
	got, _ := f2.TestPOSIXLock(e.ctx, t2, lk(unix.F_RDLCK, 0, 1))
	if got.Type != unix.F_WRLCK || got.Pid != 10 || got.Start != 0 || got.Len != 5 {
		t.Errorf("F_GETLK: %+v", got)
	}
	// Unlock the middle, splitting.
	f1.SetPOSIXLock(e.ctx, t1, 10, lk(unix.F_UNLCK, 1, 2), false)
	if err := f2.SetPOSIXLock(e.ctx, t2, 20, lk(unix.F_RDLCK, 1, 2), false); err != nil {
		t.Errorf("after split unlock: %v", err)
	}
	// Blocking waiter is woken when the owner's table closes the file.
	done := make(chan error)
	go func() { done <- f2.SetPOSIXLock(e.ctx, t2, 20, lk(unix.F_WRLCK, 0, 1), true) }()
	fdn, _ := t1.NewFD(0, f1, false)
	t1.Remove(fdn) // close drops t1's locks
	if err := <-done; err != nil {
		t.Errorf("blocked lock: %v", err)
	}
	// Interrupted wait.
	f2.SetPOSIXLock(e.ctx, t2, 20, lk(unix.F_UNLCK, 0, 0), false)
	if err := f1.SetPOSIXLock(e.ctx, t1, 10, lk(unix.F_RDLCK, 100, 1), false); err != nil {
		t.Fatal(err)
	}
	ictx := &vfstest.Context{Interrupt: make(chan struct{})}
	close(ictx.Interrupt)
	if err := f2.SetPOSIXLock(ictx, t2, 20, lk(unix.F_WRLCK, 100, 1), true); err == nil {
		t.Errorf("interrupted lock succeeded")
	}

	// flock.
	if err := f1.Flock(e.ctx, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if err := f2.Flock(e.ctx, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Errorf("shared: %v", err)
	}
	wantErr(t, "flock EX", f2.Flock(e.ctx, unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
	f1.Flock(e.ctx, unix.LOCK_UN)
	if err := f2.Flock(e.ctx, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Errorf("EX after unlock: %v", err)
	}
}

func TestMemfdAndMmapData(t *testing.T) {
	e := newEnv(t)
	f := tmpfs.NewMemfd(e.ctx, memFile(t), "buf", false, false)
	defer f.DecRef()
	if f.PathName() != "/memfd:buf (deleted)" {
		t.Errorf("name %q", f.PathName())
	}
	if err := f.Truncate(e.ctx, 8192); err != nil {
		t.Fatal(err)
	}
	f.PWrite(e.ctx, []byte("page2"), 4096)
	m, err := f.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	off, err := m.TranslatePage(4096)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(memFile(t).Slice(off, 5)); got != "page2" {
		t.Errorf("mapped page holds %q", got)
	}
	if _, err := m.TranslatePage(8192); err != unix.EFAULT {
		t.Errorf("past EOF: %v", err)
	}
}
