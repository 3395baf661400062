package overlay_test

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/overlay"
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

// tree drives one VFS by path.
type tree struct {
	t   *testing.T
	ctx vfs.Context
	v   *vfs.VirtualFilesystem
	fsc *vfs.FSContext
}

func newTree(t *testing.T, root vfs.Inode, fstype string) *tree {
	t.Helper()
	ctx := vfstest.Root()
	v := vfs.New(memFile(t))
	if err := v.MountRoot(ctx, root, vfs.MountOptions{FSType: fstype}); err != nil {
		t.Fatal(err)
	}
	return &tree{t: t, ctx: ctx, v: v, fsc: vfs.NewFSContext(v.Root(), v.Root(), 0)}
}

func (e *tree) pop(path string, follow bool) vfs.PathOperation {
	return e.fsc.PathOp(vfs.VirtualDentry{}, path, follow)
}

func (e *tree) mkdir(path string) {
	e.t.Helper()
	if err := e.v.Mkdir(e.ctx, e.pop(path, false), 0o755); err != nil {
		e.t.Fatalf("mkdir %s: %v", path, err)
	}
}

func (e *tree) open(path string, flags uint32) *vfs.FileDescription {
	e.t.Helper()
	fd, err := e.v.Open(e.ctx, e.pop(path, true), flags, 0o644)
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	return fd
}

func (e *tree) write(path, data string) {
	e.t.Helper()
	fd := e.open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	defer fd.DecRef()
	if n, err := fd.Write(e.ctx, []byte(data)); err != nil || n != len(data) {
		e.t.Fatalf("write %s: %d, %v", path, n, err)
	}
}

func (e *tree) appendTo(path, data string) {
	e.t.Helper()
	fd := e.open(path, unix.O_WRONLY|unix.O_APPEND)
	defer fd.DecRef()
	if n, err := fd.Write(e.ctx, []byte(data)); err != nil || n != len(data) {
		e.t.Fatalf("append %s: %d, %v", path, n, err)
	}
}

func readAll(t *testing.T, ctx vfs.Context, fd *vfs.FileDescription) string {
	t.Helper()
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for off := int64(0); ; {
		n, err := fd.PRead(ctx, buf, off)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n == 0 {
			return b.String()
		}
		b.Write(buf[:n])
		off += int64(n)
	}
}

func (e *tree) read(path string) string {
	e.t.Helper()
	fd := e.open(path, unix.O_RDONLY)
	defer fd.DecRef()
	return readAll(e.t, e.ctx, fd)
}

func (e *tree) stat(path string) vfs.Stat {
	e.t.Helper()
	st, err := e.v.Stat(e.ctx, e.pop(path, false))
	if err != nil {
		e.t.Fatalf("stat %s: %v", path, err)
	}
	return st
}

func (e *tree) statErr(path string) error {
	_, err := e.v.Stat(e.ctx, e.pop(path, false))
	return err
}

// dirents lists a directory (without "." and "..") in getdents order.
func (e *tree) dirents(path string) []vfs.Dirent {
	e.t.Helper()
	fd := e.open(path, unix.O_RDONLY|unix.O_DIRECTORY)
	defer fd.DecRef()
	var out []vfs.Dirent
	if err := fd.Getdents(e.ctx, func(d vfs.Dirent, _ int64) bool {
		if d.Name != "." && d.Name != ".." {
			out = append(out, d)
		}
		return true
	}); err != nil {
		e.t.Fatalf("getdents %s: %v", path, err)
	}
	return out
}

// ls returns the sorted names of a directory.
func (e *tree) ls(path string) string {
	e.t.Helper()
	var names []string
	for _, d := range e.dirents(path) {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func (e *tree) unlink(path string) error { return e.v.Unlink(e.ctx, e.pop(path, false)) }
func (e *tree) rmdir(path string) error  { return e.v.Rmdir(e.ctx, e.pop(path, false)) }
func (e *tree) rename(from, to string) error {
	return e.v.Rename(e.ctx, e.pop(from, false), e.pop(to, false), 0)
}

func (e *tree) must(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// env is an overlay over a lower tmpfs that setup populated; low still
// reaches the lower layer directly, to check it is never changed.
type env struct {
	*tree
	low   *tree
	upper vfs.Inode // the upper tmpfs root, to look behind the overlay
	ov    *overlay.Filesystem
	// before is the lower layer's state after setup.
	before string
}

func newEnv(t *testing.T, setup func(low *tree)) *env {
	t.Helper()
	low := newTree(t, tmpfs.New(memFile(t), tmpfs.Options{Mode: 0o755}).Root(), "tmpfs")
	if setup != nil {
		setup(low)
	}
	upper := tmpfs.New(memFile(t), tmpfs.Options{}).Root()
	ov, err := overlay.New(low.ctx, upper, low.v.Root().Inode())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{tree: newTree(t, ov.Root(), "overlay"), low: low, upper: upper, ov: ov}
	e.before = snapshot(low, "/")
	t.Cleanup(func() {
		if got := snapshot(low, "/"); got != e.before {
			t.Errorf("the lower layer changed:\n before: %s\n after:  %s", e.before, got)
		}
	})
	return e
}

// snapshot describes a tree: names, types, modes, owners, mtimes, sizes,
// contents and symlink targets.
func snapshot(e *tree, dir string) string {
	var b strings.Builder
	for _, d := range e.dirents(dir) {
		p := strings.TrimSuffix(dir, "/") + "/" + d.Name
		st := e.stat(p)
		fmt.Fprintf(&b, "%s %o %d:%d %d.%d %d n%d", p, st.Mode, st.UID, st.GID, st.Mtime.Sec, st.Mtime.Nsec, st.Size, st.Nlink)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			fmt.Fprintf(&b, " %q", e.read(p))
		case unix.S_IFLNK:
			target, _ := e.v.Readlink(e.ctx, e.pop(p, false))
			fmt.Fprintf(&b, " -> %s", target)
		case unix.S_IFDIR:
			fmt.Fprintf(&b, " [%s]", snapshot(e, p))
		}
		b.WriteString("; ")
	}
	return b.String()
}

// upperHas reports what the upper tmpfs holds at path (no leading slash):
// "" if nothing, "whiteout", or the file type.
func (e *env) upperHas(path string) string {
	e.t.Helper()
	i := e.upper
	for _, c := range strings.Split(path, "/") {
		var err error
		if i, err = i.Lookup(e.ctx, c); err != nil {
			return ""
		}
	}
	st, err := i.Stat(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
		return "whiteout"
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return "dir"
	case st.Mode&unix.S_IFMT == unix.S_IFREG:
		return "file"
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return "symlink"
	}
	return fmt.Sprintf("mode %o", st.Mode)
}

var old = unix.Timespec{Sec: 1_000_000_000, Nsec: 5}

// basic is a small lower tree with attributes a copy-up must keep.
func basic(low *tree) {
	low.mkdir("/etc")
	low.write("/etc/conf", "key=value\n")
	low.write("/etc/other", "other\n")
	low.must("symlink", low.v.Symlink(low.ctx, "conf", low.pop("/etc/link", false)))
	low.mkdir("/etc/sub")
	low.write("/etc/sub/deep", "deep\n")
	low.mkdir("/d")
	low.write("/d/x", "x")
	low.write("/d/y", "y")
	low.mkdir("/empty")
	for _, p := range []string{"/etc/conf", "/etc/link", "/etc/sub", "/etc"} {
		low.must("chown", low.v.SetStat(low.ctx, low.pop(p, false), vfs.SetStat{
			Valid: vfs.AttrUID | vfs.AttrGID | vfs.AttrAtime | vfs.AttrMtime, UID: 1000, GID: 2000, Atime: old, Mtime: old}))
	}
	low.must("chmod", low.v.SetStat(low.ctx, low.pop("/etc/conf", false), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o4751}))
}

func TestLookupMergesLayers(t *testing.T) {
	e := newEnv(t, basic)
	if got := e.read("/etc/conf"); got != "key=value\n" {
		t.Errorf("lower file reads %q", got)
	}
	e.write("/etc/new", "new\n")
	e.mkdir("/etc/sub/newdir")
	if got, want := e.ls("/etc"), "conf link new other sub"; got != want {
		t.Errorf("ls /etc = %q, want %q", got, want)
	}
	if got, want := e.ls("/etc/sub"), "deep newdir"; got != want {
		t.Errorf("ls /etc/sub = %q, want %q", got, want)
	}
	if got := e.read("/etc/link"); got != "key=value\n" {
		t.Errorf("lower symlink reads %q", got)
	}
	// Reading copied nothing; creating copied up the parents only.
	if got := e.upperHas("etc/conf"); got != "" {
		t.Errorf("a read copied up /etc/conf: upper has %s", got)
	}
	if e.upperHas("etc/sub") != "dir" || e.upperHas("etc/new") != "file" {
		t.Errorf("upper layer lacks the new entries or their parents")
	}
	// A whiteout-looking device cannot be made by the application.
	err := e.v.Mknod(e.ctx, e.pop("/etc/wh", false), unix.S_IFCHR|0o600, 0)
	wantErr(t, "mknod c 0 0", err, unix.EPERM)
	if st := e.stat("/etc/sub"); st.Mtime == old || st.UID != 1000 || st.GID != 2000 {
		t.Errorf("copied-up /etc/sub: mtime %v (a mkdir in it must change it) uid %d gid %d", st.Mtime, st.UID, st.GID)
	}
}

func TestWhiteouts(t *testing.T) {
	e := newEnv(t, basic)
	e.must("unlink", e.unlink("/etc/conf"))
	wantErr(t, "stat after unlink", e.statErr("/etc/conf"), unix.ENOENT)
	if got, want := e.ls("/etc"), "link other sub"; got != want {
		t.Errorf("ls /etc = %q, want %q", got, want)
	}
	for _, d := range e.dirents("/etc") {
		if d.Type == unix.DT_CHR {
			t.Errorf("getdents shows a character device %q", d.Name)
		}
	}
	if got := e.upperHas("etc/conf"); got != "whiteout" {
		t.Errorf("upper layer has %q at etc/conf, want a whiteout", got)
	}
	// The dangling symlink now fails like one.
	_, err := e.v.Open(e.ctx, e.pop("/etc/link", true), unix.O_RDONLY, 0)
	wantErr(t, "open dangling symlink", err, unix.ENOENT)
	_, err = e.v.Open(e.ctx, e.pop("/etc/conf", true), unix.O_RDONLY, 0)
	wantErr(t, "open whiteout", err, unix.ENOENT)

	// Re-creating the name replaces the whiteout.
	e.write("/etc/conf", "again\n")
	if got := e.read("/etc/conf"); got != "again\n" {
		t.Errorf("re-created file reads %q", got)
	}
	if got, want := e.ls("/etc"), "conf link other sub"; got != want {
		t.Errorf("ls /etc = %q, want %q", got, want)
	}
	if st := e.stat("/etc/conf"); st.Mode&0o7777 != 0o644 || st.UID != 0 {
		t.Errorf("re-created file has mode %o uid %d: attributes leaked from the lower file", st.Mode, st.UID)
	}
	// Removing it again leaves a whiteout again.
	e.must("unlink again", e.unlink("/etc/conf"))
	wantErr(t, "stat", e.statErr("/etc/conf"), unix.ENOENT)
	if got := e.upperHas("etc/conf"); got != "whiteout" {
		t.Errorf("upper layer has %q at etc/conf, want a whiteout", got)
	}

	// An upper-only file leaves nothing behind.
	e.write("/etc/mine", "m")
	e.must("unlink upper-only", e.unlink("/etc/mine"))
	if got := e.upperHas("etc/mine"); got != "" {
		t.Errorf("upper layer has %q for a removed upper-only file", got)
	}
	wantErr(t, "unlink missing", e.unlink("/etc/mine"), unix.ENOENT)
}

func TestOpaqueDirectory(t *testing.T) {
	e := newEnv(t, basic)
	wantErr(t, "rmdir non-empty merged dir", e.rmdir("/d"), unix.ENOTEMPTY)
	e.must("unlink x", e.unlink("/d/x"))
	wantErr(t, "rmdir with y left", e.rmdir("/d"), unix.ENOTEMPTY)
	e.must("unlink y", e.unlink("/d/y"))
	if got := e.ls("/d"); got != "" {
		t.Errorf("ls /d = %q, want empty", got)
	}
	dfd := e.open("/d", unix.O_RDONLY|unix.O_DIRECTORY)
	defer dfd.DecRef()
	e.must("rmdir", e.rmdir("/d"))
	wantErr(t, "stat removed dir", e.statErr("/d"), unix.ENOENT)
	dfd.Getdents(e.ctx, func(d vfs.Dirent, _ int64) bool {
		if d.Name != "." && d.Name != ".." {
			t.Errorf("removed directory lists %q", d.Name)
		}
		return true
	})
	if got := e.upperHas("d"); got != "whiteout" {
		t.Errorf("upper layer has %q at d, want a whiteout", got)
	}
	e.mkdir("/d")
	if got := e.ls("/d"); got != "" {
		t.Errorf("re-created /d lists %q: the lower directory shows through", got)
	}
	wantErr(t, "stat /d/x", e.statErr("/d/x"), unix.ENOENT)
	e.write("/d/z", "z")
	if got := e.ls("/d"); got != "z" {
		t.Errorf("ls /d = %q, want z", got)
	}
	// An opaque directory holds no lower content: it can be renamed.
	e.must("rename opaque dir", e.rename("/d", "/d2"))
	if got := e.ls("/d2"); got != "z" {
		t.Errorf("ls /d2 = %q", got)
	}
	// A lower-only empty directory is removed with a whiteout.
	e.must("rmdir /empty", e.rmdir("/empty"))
	if got := e.upperHas("empty"); got != "whiteout" {
		t.Errorf("upper layer has %q at empty, want a whiteout", got)
	}
	wantErr(t, "stat /empty", e.statErr("/empty"), unix.ENOENT)
}

func TestCopyUpKeepsAttributes(t *testing.T) {
	e := newEnv(t, basic)
	before := e.stat("/etc/conf")
	linkBefore := e.stat("/etc/link")
	e.appendTo("/etc/conf", "more\n")
	after := e.stat("/etc/conf")
	if got := e.read("/etc/conf"); got != "key=value\nmore\n" {
		t.Errorf("after append: %q", got)
	}
	if got := e.upperHas("etc/conf"); got != "file" {
		t.Fatalf("open for write did not copy up: upper has %q", got)
	}
	// Copying up a child is no change of the parent: /etc keeps its
	// lower times and owner.
	if st := e.stat("/etc"); st.Mtime != old || st.UID != 1000 || st.GID != 2000 {
		t.Errorf("copied-up /etc: mtime %v uid %d gid %d, want %v 1000 2000", st.Mtime, st.UID, st.GID, old)
	}
	if after.Mode != before.Mode || after.UID != 1000 || after.GID != 2000 {
		t.Errorf("copy-up changed mode/owner: %o %d:%d -> %o %d:%d", before.Mode, before.UID, before.GID, after.Mode, after.UID, after.GID)
	}
	if after.Ino != before.Ino || after.Dev != before.Dev {
		t.Errorf("identity changed across copy-up: %d/%d -> %d/%d", before.Dev, before.Ino, after.Dev, after.Ino)
	}
	if after.Atime != before.Atime {
		t.Errorf("atime %v, want the lower file's %v", after.Atime, before.Atime)
	}
	if after.Mtime == old {
		t.Errorf("mtime did not change with the write")
	}
	// The write through the link sees the copy.
	if got := e.read("/etc/link"); got != "key=value\nmore\n" {
		t.Errorf("through the symlink: %q", got)
	}
	// lutimes copies up the symlink itself, keeping its target and owner.
	t2 := unix.Timespec{Sec: 1_100_000_000}
	e.must("lutimes", e.v.SetStat(e.ctx, e.pop("/etc/link", false), vfs.SetStat{Valid: vfs.AttrMtime, Mtime: t2}))
	if got := e.upperHas("etc/link"); got != "symlink" {
		t.Errorf("lutimes did not copy up the symlink: upper has %q", got)
	}
	if target, err := e.v.Readlink(e.ctx, e.pop("/etc/link", false)); err != nil || target != "conf" {
		t.Errorf("readlink after copy-up: %q %v", target, err)
	}
	if st := e.stat("/etc/link"); st.Mtime != t2 || st.UID != 1000 || st.Ino != linkBefore.Ino {
		t.Errorf("copied-up symlink: mtime %v uid %d ino %d, want %v 1000 %d", st.Mtime, st.UID, st.Ino, t2, linkBefore.Ino)
	}
	// chmod, chown and truncate copy up too.
	e.must("chmod", e.v.SetStat(e.ctx, e.pop("/etc/other", true), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o600}))
	if st := e.stat("/etc/other"); st.Mode&0o7777 != 0o600 || e.read("/etc/other") != "other\n" {
		t.Errorf("chmod: mode %o, data %q", st.Mode, e.read("/etc/other"))
	}
	e.must("chown", e.v.SetStat(e.ctx, e.pop("/etc/sub/deep", true), vfs.SetStat{Valid: vfs.AttrUID, UID: 7}))
	if st := e.stat("/etc/sub/deep"); st.UID != 7 || e.read("/etc/sub/deep") != "deep\n" {
		t.Errorf("chown: uid %d data %q", st.UID, e.read("/etc/sub/deep"))
	}
	e.must("truncate", e.v.Truncate(e.ctx, e.pop("/d/x", true), 0))
	if got := e.read("/d/x"); got != "" {
		t.Errorf("truncated file reads %q", got)
	}
	fd := e.open("/d/y", unix.O_WRONLY|unix.O_TRUNC)
	fd.DecRef()
	if got := e.stat("/d/y").Size; got != 0 {
		t.Errorf("O_TRUNC left size %d", got)
	}
	// A directory chmod copies the directory alone.
	e.must("chmod dir", e.v.SetStat(e.ctx, e.pop("/empty", true), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o700}))
	if st := e.stat("/empty"); st.Mode&0o7777 != 0o700 {
		t.Errorf("chmod dir: %o", st.Mode)
	}
}

func TestCopyUpSparseAndLarge(t *testing.T) {
	const size = 3<<20 + 123
	e := newEnv(t, func(low *tree) {
		fd := low.open("/big", unix.O_CREAT|unix.O_RDWR)
		defer fd.DecRef()
		if _, err := fd.PWrite(low.ctx, []byte("head"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := fd.PWrite(low.ctx, []byte("tail"), size-4); err != nil {
			t.Fatal(err)
		}
	})
	want := e.read("/big")
	e.must("chmod", e.v.SetStat(e.ctx, e.pop("/big", true), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o600}))
	if got := e.read("/big"); got != want {
		t.Errorf("copied-up data differs (len %d, want %d)", len(got), len(want))
	}
	// Truncating to a size copies only what stays.
	e.write("/small", "abcdef")
	e.must("truncate", e.v.Truncate(e.ctx, e.pop("/big", true), 6))
	if got := e.read("/big"); got != "head\x00\x00" {
		t.Errorf("truncated: %q", got)
	}
}

func TestReadOnlyOpenFollowsCopyUp(t *testing.T) {
	e := newEnv(t, basic)
	ro := e.open("/etc/other", unix.O_RDONLY)
	defer ro.DecRef()
	if got := readAll(t, e.ctx, ro); got != "other\n" {
		t.Fatalf("read: %q", got)
	}
	e.write("/etc/other", "changed\n")
	if got := readAll(t, e.ctx, ro); got != "changed\n" {
		t.Errorf("descriptor opened before copy-up reads %q, want the copy", got)
	}
}

func TestReaddirMerge(t *testing.T) {
	e := newEnv(t, func(low *tree) {
		low.mkdir("/dir")
		for _, n := range []string{"a", "b", "c", "d"} {
			low.write("/dir/"+n, n)
		}
	})
	e.write("/dir/b", "B")               // copied up: listed once
	e.write("/dir/e", "e")               // upper only
	e.must("unlink", e.unlink("/dir/c")) // whited out
	ents := e.dirents("/dir")
	var names []string
	for _, d := range ents {
		names = append(names, d.Name)
	}
	// Upper entries first (b, e), then the remaining lower ones.
	if got, want := strings.Join(names, " "), "b e a d"; got != want {
		t.Errorf("getdents order %q, want %q", got, want)
	}
	for _, d := range ents {
		st := e.stat("/dir/" + d.Name)
		if d.Ino != st.Ino {
			t.Errorf("%s: getdents ino %d, stat ino %d", d.Name, d.Ino, st.Ino)
		}
		if d.Type != unix.DT_REG {
			t.Errorf("%s: type %d", d.Name, d.Type)
		}
	}

	// Offsets are stable: read two entries at a time, changing the
	// directory in between.
	fd := e.open("/dir", unix.O_RDONLY|unix.O_DIRECTORY)
	defer fd.DecRef()
	var got []string
	offs := map[int64]bool{}
	for i := 0; ; i++ {
		k := 0
		if err := fd.Getdents(e.ctx, func(d vfs.Dirent, next int64) bool {
			if k == 2 {
				return false
			}
			k++
			if offs[next] {
				t.Errorf("d_off %d repeated", next)
			}
			offs[next] = true
			got = append(got, d.Name)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		if i == 1 {
			e.write(fmt.Sprintf("/dir/new%d", i), "n")
			e.must("unlink during listing", e.unlink("/dir/d"))
		}
	}
	if g, w := strings.Join(got, " "), ". .. b e a d"; g != w {
		t.Errorf("chunked getdents %q, want %q", g, w)
	}
}

func TestRename(t *testing.T) {
	e := newEnv(t, basic)
	ino := e.stat("/etc/conf").Ino
	// A lower file moves anywhere, leaving a whiteout.
	e.must("rename file", e.rename("/etc/conf", "/d/conf"))
	wantErr(t, "old name", e.statErr("/etc/conf"), unix.ENOENT)
	if got := e.upperHas("etc/conf"); got != "whiteout" {
		t.Errorf("upper has %q at the old name", got)
	}
	if got := e.read("/d/conf"); got != "key=value\n" {
		t.Errorf("renamed file reads %q", got)
	}
	if st := e.stat("/d/conf"); st.Ino != ino || st.UID != 1000 || st.Mode&0o7777 != 0o4751 {
		t.Errorf("renamed file: ino %d uid %d mode %o", st.Ino, st.UID, st.Mode)
	}
	// Over another lower file.
	e.must("rename over lower", e.rename("/d/x", "/d/y"))
	if got := e.read("/d/y"); got != "x" {
		t.Errorf("/d/y reads %q", got)
	}
	if got := e.ls("/d"); got != "conf y" {
		t.Errorf("ls /d = %q", got)
	}
	// Directories with lower content: EXDEV, as overlayfs without
	// redirect_dir; so are merged ones.
	wantErr(t, "rename lower dir", e.rename("/etc/sub", "/sub"), unix.EXDEV)
	wantErr(t, "rename merged dir", e.rename("/d", "/d3"), unix.EXDEV)
	wantErr(t, "rename lower empty dir", e.rename("/empty", "/e2"), unix.EXDEV)
	// Upper-only directories move, with their contents.
	e.mkdir("/new")
	e.mkdir("/new/in")
	e.write("/new/in/f", "f")
	e.must("rename upper dir", e.rename("/new", "/etc/sub/moved"))
	if got := e.read("/etc/sub/moved/in/f"); got != "f" {
		t.Errorf("moved tree reads %q", got)
	}
	if got := e.ls("/etc/sub"); got != "deep moved" {
		t.Errorf("ls /etc/sub = %q", got)
	}
	// Onto a removed lower directory's name: the moved directory must not
	// merge with the lower one (it becomes opaque).
	e.must("unlink", e.unlink("/etc/sub/deep"))
	e.must("rename out", e.rename("/etc/sub/moved", "/moved"))
	e.must("rmdir", e.rmdir("/etc/sub"))
	e.must("rename onto whiteout", e.rename("/moved", "/etc/sub"))
	if got := e.ls("/etc/sub"); got != "in" {
		t.Errorf("ls /etc/sub = %q, want in (lower entries must stay hidden)", got)
	}
	// Replacing a directory that is empty only in the merge.
	e.mkdir("/m")
	e.write("/m/q", "q")
	e.must("unlink d/conf", e.unlink("/d/conf"))
	e.must("unlink d/y", e.unlink("/d/y"))
	wantErr(t, "rename onto non-empty", e.rename("/m", "/etc"), unix.ENOTEMPTY)
	e.must("rename onto emptied merged dir", e.rename("/m", "/d"))
	if got := e.ls("/d"); got != "q" {
		t.Errorf("ls /d = %q, want q", got)
	}
	wantErr(t, "stat /m", e.statErr("/m"), unix.ENOENT)
	if got := e.upperHas("m"); got != "" {
		t.Errorf("upper has %q at m, an upper-only name", got)
	}
}

func TestHardLinks(t *testing.T) {
	e := newEnv(t, basic)
	before := e.stat("/etc/other")
	e.must("link", e.v.Link(e.ctx, e.pop("/etc/other", false), e.pop("/d/hl", false)))
	if got := e.upperHas("etc/other"); got != "file" {
		t.Errorf("link did not copy up the source: upper has %q", got)
	}
	a, b := e.stat("/etc/other"), e.stat("/d/hl")
	if a.Ino != b.Ino || a.Ino != before.Ino || a.Nlink != 2 || b.Nlink != 2 {
		t.Errorf("links: ino %d/%d (was %d), nlink %d/%d", a.Ino, b.Ino, before.Ino, a.Nlink, b.Nlink)
	}
	e.write("/d/hl", "through the link\n")
	if got := e.read("/etc/other"); got != "through the link\n" {
		t.Errorf("other name reads %q", got)
	}
	e.must("unlink", e.unlink("/etc/other"))
	if st := e.stat("/d/hl"); st.Nlink != 1 || st.Ino != before.Ino {
		t.Errorf("after unlink: nlink %d ino %d", st.Nlink, st.Ino)
	}
	if got := e.upperHas("etc/other"); got != "whiteout" {
		t.Errorf("upper has %q at etc/other", got)
	}
	wantErr(t, "link a directory", e.v.Link(e.ctx, e.pop("/etc", false), e.pop("/l", false)), unix.EPERM)
}

func TestMmapAcrossCopyUp(t *testing.T) {
	page := bytes.Repeat([]byte("L"), memfile.PageSize)
	e := newEnv(t, func(low *tree) {
		low.write("/f", string(page)+"second page")
	})
	m := memFile(t)
	mapped := func(fd *vfs.FileDescription, off int64, n int) []byte {
		t.Helper()
		mp, err := fd.Mappable()
		if err != nil {
			t.Fatalf("Mappable: %v", err)
		}
		o, err := mp.TranslatePage(off)
		if err != nil {
			t.Fatalf("TranslatePage(%d): %v", off, err)
		}
		return m.Slice(o, int64(n))
	}
	ro := e.open("/f", unix.O_RDONLY)
	defer ro.DecRef()
	if got := mapped(ro, memfile.PageSize, 11); string(got) != "second page" {
		t.Errorf("mapping of the lower file shows %q", got)
	}
	if got := e.upperHas("f"); got != "" {
		t.Errorf("mmap of a read-only file copied it up: upper has %q", got)
	}
	// A writable shared mapping needs a writable descriptor, which
	// copies up; stores through the mapping land in the copy.
	rw := e.open("/f", unix.O_RDWR)
	defer rw.DecRef()
	if got := e.upperHas("f"); got != "file" {
		t.Fatalf("open O_RDWR did not copy up: upper has %q", got)
	}
	w := mapped(rw, 0, 6)
	if string(w) != "LLLLLL" {
		t.Errorf("mapping of the copy shows %q", w)
	}
	copy(w, "stored")
	buf := make([]byte, 6)
	if n, err := rw.PRead(e.ctx, buf, 0); n != 6 || err != nil || string(buf) != "stored" {
		t.Errorf("read after a store through the mapping: %q %v", buf[:n], err)
	}
	// The old read-only descriptor maps (and reads) the copy now.
	if got := mapped(ro, 0, 6); string(got) != "stored" {
		t.Errorf("old read-only descriptor maps %q", got)
	}
	if got := e.low.read("/f"); got[:6] != "LLLLLL" {
		t.Errorf("lower file changed: %q", got[:6])
	}
}

func TestStatIdentityAndStatFS(t *testing.T) {
	e := newEnv(t, basic)
	lst, ost := e.low.stat("/etc/conf"), e.stat("/etc/conf")
	if ost.Ino != lst.Ino {
		t.Errorf("lower file ino %d, overlay shows %d (want the lower number)", lst.Ino, ost.Ino)
	}
	if ost.Dev != e.ov.Dev() || e.stat("/").Dev != e.ov.Dev() {
		t.Errorf("st_dev %d, want the overlay's %d", ost.Dev, e.ov.Dev())
	}
	e.write("/fresh", "f")
	if st := e.stat("/fresh"); st.Ino>>63 != 1 || st.Dev != e.ov.Dev() {
		t.Errorf("upper-only file: ino %#x dev %d", st.Ino, st.Dev)
	}
	e.mkdir("/etc/sub/x")
	if st := e.stat("/etc/sub"); st.Nlink != 1 || st.Ino != e.low.stat("/etc/sub").Ino {
		t.Errorf("merged dir: nlink %d ino %d", st.Nlink, st.Ino)
	}
	sfs, err := e.v.StatFS(e.ctx, e.pop("/etc", true))
	if err != nil || sfs.Type != unix.OVERLAYFS_SUPER_MAGIC || sfs.Bsize == 0 {
		t.Errorf("statfs: %+v %v", sfs, err)
	}
	if m := e.v.Mounts(e.v.Root()); len(m) != 1 || m[0].Opts.FSType != "overlay" {
		t.Errorf("mounts: %+v", m)
	}
}

func TestUnlinkedLowerFile(t *testing.T) {
	e := newEnv(t, basic)
	fd := e.open("/etc/other", unix.O_RDONLY)
	defer fd.DecRef()
	e.must("unlink", e.unlink("/etc/other"))
	if got := readAll(t, e.ctx, fd); got != "other\n" {
		t.Errorf("open unlinked file reads %q", got)
	}
	if _, err := fd.Stat(e.ctx); err != nil {
		t.Errorf("fstat of unlinked file: %v", err)
	}
	err := fd.SetStat(e.ctx, vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o600})
	wantErr(t, "fchmod of an unlinked lower file", err, unix.ENOENT)
	if got := e.upperHas("etc/other"); got != "whiteout" {
		t.Errorf("upper has %q at etc/other", got)
	}
}

func TestConcurrentCopyUp(t *testing.T) {
	e := newEnv(t, func(low *tree) {
		low.mkdir("/p")
		low.mkdir("/p/q")
		for i := 0; i < 8; i++ {
			low.write(fmt.Sprintf("/p/q/f%d", i), strings.Repeat("x", 100000))
		}
	})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				p := fmt.Sprintf("/p/q/f%d", (i+g)%8)
				if err := e.v.SetStat(e.ctx, e.pop(p, true), vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o600 | uint32(g)}); err != nil {
					t.Errorf("chmod %s: %v", p, err)
				}
				fd, err := e.v.Open(e.ctx, e.pop(p, true), unix.O_RDONLY, 0)
				if err != nil {
					t.Errorf("open %s: %v", p, err)
					continue
				}
				buf := make([]byte, 100001)
				if n, _ := fd.PRead(e.ctx, buf, 0); n != 100000 {
					t.Errorf("%s: read %d bytes", p, n)
				}
				fd.DecRef()
				e.dirents("/p/q")
			}
		}(g)
	}
	wg.Wait()
	if got := len(e.dirents("/p/q")); got != 8 {
		t.Errorf("%d entries after concurrent copy-ups", got)
	}
}
