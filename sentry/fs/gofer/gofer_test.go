package gofer_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/veil-sandbox/veil/gofer"
	goferfs "github.com/veil-sandbox/veil/sentry/fs/gofer"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

var mf *memfile.File

func TestMain(m *testing.M) {
	var err error
	if mf, err = memfile.New(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

type env struct {
	t   *testing.T
	dir string
	ctx *vfstest.Context
	v   *vfs.VirtualFilesystem
	fsc *vfs.FSContext
	c   *gofer.Client
}

func newEnv(t *testing.T, ro bool) *env {
	t.Helper()
	dir := t.TempDir()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := os.NewFile(uintptr(fds[0]), "srv"), os.NewFile(uintptr(fds[1]), "cli")
	done := make(chan error, 1)
	go func() { done <- gofer.Serve(srv, dir, gofer.ServerOptions{ReadOnly: ro}) }()
	c, err := gofer.NewClient(cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	fs, err := goferfs.New(c, mf, goferfs.Options{ReadOnly: ro})
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, fs.Root(), vfs.MountOptions{ReadOnly: ro, FSType: "9p"}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, ctx: ctx, v: v, fsc: vfs.NewFSContext(v.Root(), v.Root(), 0o022), c: c}
}

func (e *env) pop(p string, follow bool) vfs.PathOperation {
	return e.fsc.PathOp(vfs.VirtualDentry{}, p, follow)
}

func (e *env) open(p string, flags uint32) *vfs.FileDescription {
	e.t.Helper()
	f, err := e.v.Open(e.ctx, e.pop(p, true), flags, 0o666)
	if err != nil {
		e.t.Fatalf("open %s: %v", p, err)
	}
	return f
}

func TestGoferFS(t *testing.T) {
	e := newEnv(t, false)
	os.WriteFile(filepath.Join(e.dir, "host.txt"), []byte("from host"), 0o644)
	os.Mkdir(filepath.Join(e.dir, "sub"), 0o755)
	os.Symlink("../host.txt", filepath.Join(e.dir, "sub", "link"))

	f := e.open("/sub/link", unix.O_RDONLY)
	buf := make([]byte, 64)
	n, err := f.Read(e.ctx, buf)
	if err != nil || string(buf[:n]) != "from host" {
		t.Fatalf("read via symlink: %q %v", buf[:n], err)
	}
	if p := f.PathName(); p != "/host.txt" {
		t.Errorf("path %q", p)
	}
	f.DecRef()

	// Create, write, read back on the host.
	f = e.open("/sub/new", unix.O_CREAT|unix.O_EXCL|unix.O_RDWR)
	f.Write(e.ctx, []byte("hello"))
	st, err := f.Stat(e.ctx)
	if err != nil || st.Size != 5 || st.Mode != unix.S_IFREG|0o644 {
		t.Errorf("stat new: %+v %v", st, err)
	}
	// mmap coherence with write(2).
	m, err := f.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	off, err := m.TranslatePage(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(mf.Slice(off, 5)); got != "hello" {
		t.Errorf("mapped %q", got)
	}
	f.PWrite(e.ctx, []byte("J"), 0)
	if got := string(mf.Slice(off, 5)); got != "Jello" {
		t.Errorf("mapped after write %q", got)
	}
	f.Truncate(e.ctx, 2)
	if got := mf.Slice(off, 5); string(got[:2]) != "Je" || got[2] != 0 {
		t.Errorf("mapped after truncate %q", got)
	}
	f.DecRef()
	if b, _ := os.ReadFile(filepath.Join(e.dir, "sub", "new")); string(b) != "Je" {
		t.Errorf("host sees %q", b)
	}

	// O_APPEND.
	f = e.open("/sub/new", unix.O_WRONLY|unix.O_APPEND)
	f.Write(e.ctx, []byte("llo"))
	f.DecRef()
	if b, _ := os.ReadFile(filepath.Join(e.dir, "sub", "new")); string(b) != "Jello" {
		t.Errorf("append: host sees %q", b)
	}

	// Namespace operations.
	if err := e.v.Mkdir(e.ctx, e.pop("/d", false), 0o777); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(e.dir, "d")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("mkdir on host: %v %v", fi, err)
	}
	if err := e.v.Symlink(e.ctx, "target", e.pop("/d/sl", false)); err != nil {
		t.Fatal(err)
	}
	if l, err := e.v.Readlink(e.ctx, e.pop("/d/sl", false)); l != "target" || err != nil {
		t.Errorf("readlink %q %v", l, err)
	}
	if err := e.v.Link(e.ctx, e.pop("/host.txt", false), e.pop("/d/hard", false)); err != nil {
		t.Fatal(err)
	}
	st, _ = e.v.Stat(e.ctx, e.pop("/host.txt", false))
	if st.Nlink != 2 {
		t.Errorf("nlink %d", st.Nlink)
	}
	if err := e.v.Rename(e.ctx, e.pop("/sub/new", false), e.pop("/d/renamed", false), 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "d", "renamed")); string(b) != "Jello" {
		t.Errorf("rename: host sees %q", b)
	}
	if err := e.v.Unlink(e.ctx, e.pop("/d/hard", false)); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Rmdir(e.ctx, e.pop("/d", false)); err != unix.ENOTEMPTY {
		t.Errorf("rmdir non-empty: %v", err)
	}
	if _, err := e.v.Stat(e.ctx, e.pop("/d/hard", false)); err != unix.ENOENT {
		t.Errorf("unlinked: %v", err)
	}

	// Getdents.
	d := e.open("/d", unix.O_RDONLY|unix.O_DIRECTORY)
	var names []string
	d.Getdents(e.ctx, func(de vfs.Dirent, _ int64) bool { names = append(names, de.Name); return true })
	d.DecRef()
	sort.Strings(names)
	if len(names) != 4 || names[0] != "." || names[1] != ".." || names[2] != "renamed" || names[3] != "sl" {
		t.Errorf("getdents %v", names)
	}

	// chmod / utimes / truncate by path.
	if err := e.v.SetStat(e.ctx, e.pop("/host.txt", false), vfs.SetStat{Valid: vfs.AttrMode | vfs.AttrMtime, Mode: 0o600, Mtime: unix.Timespec{Sec: 1000}}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(e.dir, "host.txt"))
	if fi.Mode().Perm() != 0o600 || fi.ModTime().Unix() != 1000 {
		t.Errorf("setstat on host: %v %v", fi.Mode(), fi.ModTime())
	}
	if err := e.v.Truncate(e.ctx, e.pop("/host.txt", true), 4); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "host.txt")); string(b) != "from" {
		t.Errorf("truncate: %q", b)
	}
	// Host device nodes open Sentry devices; missing ones give ENOENT.
	if _, err := e.v.Open(e.ctx, e.pop("/nope", true), unix.O_RDONLY, 0); err != unix.ENOENT {
		t.Errorf("missing: %v", err)
	}
	if err := e.v.Mknod(e.ctx, e.pop("/fifo", false), unix.S_IFIFO|0o600, 0); err != unix.EPERM {
		t.Errorf("mknod fifo: %v", err)
	}
}

func TestGoferReadOnly(t *testing.T) {
	e := newEnv(t, true)
	os.WriteFile(filepath.Join(e.dir, "f"), []byte("x"), 0o644)
	if _, err := e.v.Open(e.ctx, e.pop("/f", true), unix.O_RDWR, 0); err != unix.EROFS {
		t.Errorf("open rw: %v", err)
	}
	if _, err := e.v.Open(e.ctx, e.pop("/g", true), unix.O_CREAT|unix.O_RDWR, 0o644); err != unix.EROFS {
		t.Errorf("create: %v", err)
	}
	if err := e.v.Unlink(e.ctx, e.pop("/f", false)); err != unix.EROFS {
		t.Errorf("unlink: %v", err)
	}
	if err := e.v.Mkdir(e.ctx, e.pop("/f", false), 0o777); err != unix.EEXIST {
		t.Errorf("mkdir existing: %v", err)
	}
	f := e.open("/f", unix.O_RDONLY)
	defer f.DecRef()
	buf := make([]byte, 4)
	if n, _ := f.Read(e.ctx, buf); string(buf[:n]) != "x" {
		t.Errorf("read %q", buf[:n])
	}
	if err := f.SetStat(e.ctx, vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o777}); err != unix.EROFS {
		t.Errorf("fchmod: %v", err)
	}
}

// A plain read-only open of a file whose page cache is set up (a program
// execve'd before) needs no gofer round trip: it dups the cache's
// descriptor. Other opens still go to the gofer.
func TestReadOnlyOpenUsesCacheDescriptor(t *testing.T) {
	e := newEnv(t, false)
	os.WriteFile(filepath.Join(e.dir, "prog"), []byte("program text"), 0o755)
	f := e.open("/prog", unix.O_RDONLY)
	m, err := f.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.TranslatePage(0); err != nil {
		t.Fatal(err)
	}
	f.DecRef()
	e.c.Close() // from now on every round trip fails
	g := e.open("/prog", unix.O_RDONLY)
	buf := make([]byte, 32)
	if n, err := g.PRead(e.ctx, buf, 8); err != nil || string(buf[:n]) != "text" {
		t.Fatalf("read through the dup: %q, %v", buf[:n], err)
	}
	g.DecRef()
	if _, err := e.v.Open(e.ctx, e.pop("/prog", true), unix.O_RDWR, 0); err == nil {
		t.Fatal("a read-write open succeeded without the gofer")
	}
	// Closing the dup left the cache's own descriptor open.
	h := e.open("/prog", unix.O_RDONLY)
	defer h.DecRef()
	if n, err := h.PRead(e.ctx, buf, 0); err != nil || string(buf[:n]) != "program text" {
		t.Fatalf("read after the dup's close: %q, %v", buf[:n], err)
	}
}
