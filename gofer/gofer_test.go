package gofer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testConn is a client connected to an in-process server.
type testConn struct {
	*Client
	root     string
	srvDup   int        // a duplicate of the server's socket, for shutdown
	serveErr chan error // Serve's result
}

func socketpair(t testing.TB) (srv, cli *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "gofer-server"), os.NewFile(uintptr(fds[1]), "gofer-client")
}

func startServer(t testing.TB, root string, opts ServerOptions) *testConn {
	t.Helper()
	srv, cli := socketpair(t)
	dup, err := unix.FcntlInt(srv.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testConn{root: root, srvDup: dup, serveErr: make(chan error, 1)}
	go func() { tc.serveErr <- Serve(srv, root, opts) }()
	c, err := NewClient(cli)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	tc.Client = c
	t.Cleanup(func() {
		c.Close()
		select {
		case err := <-tc.serveErr:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after the client closed")
		}
		unix.Close(dup)
	})
	return tc
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeTree creates a small tree:
//
//	hello.txt       "hello, world\n"
//	sub/inner.txt   "inner"
//	sub/deeper/
//	link -> hello.txt
//	escape -> ../../../../../../etc/passwd
//	abs -> /etc/passwd
//	fifo (named pipe)
func makeTree(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "hello.txt"), "hello, world\n")
	if err := os.MkdirAll(filepath.Join(root, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "sub", "inner.txt"), "inner")
	for name, target := range map[string]string{
		"link":   "hello.txt",
		"escape": "../../../../../../etc/passwd",
		"abs":    "/etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func mustWalk(t testing.TB, c *testConn, dir FID, names ...string) (FID, Stat) {
	t.Helper()
	var st Stat
	for _, name := range names {
		fid, s, err := c.Walk(dir, name)
		if err != nil {
			t.Fatalf("Walk(%d, %q): %v", dir, name, err)
		}
		dir, st = fid, s
	}
	return dir, st
}

func readFD(t testing.TB, fd int) string {
	t.Helper()
	f := os.NewFile(uintptr(fd), "donated")
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		t.Fatalf("read donated fd: %v", err)
	}
	return buf.String()
}

func hostStat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	return st
}

func wantErrno(t testing.TB, what string, err error, want unix.Errno) {
	t.Helper()
	if err != want {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func TestWalkStatOpenRead(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})

	if c.Root() != RootFID {
		t.Errorf("Root() = %d, want %d", c.Root(), RootFID)
	}
	rst, err := c.Stat(RootFID)
	if err != nil {
		t.Fatal(err)
	}
	if h := hostStat(t, root); rst.Ino != h.Ino || rst.Mode != h.Mode {
		t.Errorf("root stat %+v does not match host %+v", rst, h)
	}

	fid, st := mustWalk(t, c, RootFID, "hello.txt")
	h := hostStat(t, filepath.Join(root, "hello.txt"))
	if st.Ino != h.Ino || st.Dev != h.Dev || st.Mode != h.Mode || st.Size != h.Size ||
		st.Nlink != uint64(h.Nlink) || st.UID != h.Uid || st.GID != h.Gid ||
		st.Mtime != (Timespec{h.Mtim.Sec, h.Mtim.Nsec}) || st.Blksize != int64(h.Blksize) {
		t.Errorf("walk stat %+v does not match host %+v", st, h)
	}
	st2, err := c.Stat(fid)
	if err != nil || st2 != st {
		t.Errorf("Stat = %+v, %v; want %+v", st2, err, st)
	}

	fd, err := c.Open(fid, unix.O_RDONLY)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("donated fd flags %#x, %v: want FD_CLOEXEC", flags, err)
	}
	if got := readFD(t, fd); got != "hello, world\n" {
		t.Errorf("read %q", got)
	}

	inner, _ := mustWalk(t, c, RootFID, "sub", "inner.txt")
	fd, err = c.Open(inner, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "inner" {
		t.Errorf("read %q", got)
	}

	_, _, err = c.Walk(RootFID, "nonexistent")
	wantErrno(t, "walk nonexistent", err, unix.ENOENT)
	_, _, err = c.Walk(fid, "x")
	wantErrno(t, "walk from a file", err, unix.ENOTDIR)

	if err := c.Clunk(fid); err != nil {
		t.Fatal(err)
	}
	_, err = c.Stat(fid)
	wantErrno(t, "stat after clunk", err, unix.EBADF)
	wantErrno(t, "double clunk", c.Clunk(fid), unix.EBADF)
	if err := c.Clunk(RootFID); err != nil {
		t.Errorf("clunk root: %v", err)
	}
	if _, err := c.Stat(RootFID); err != nil {
		t.Errorf("root unusable after clunk: %v", err)
	}
}

func TestWalkRefusesBadNames(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	sub, _ := mustWalk(t, c, RootFID, "sub")
	for _, name := range []string{"", ".", "..", "a/b", "sub/inner.txt", "/etc", "../", "x\x00y"} {
		for _, dir := range []FID{RootFID, sub} {
			_, _, err := c.Walk(dir, name)
			wantErrno(t, fmt.Sprintf("walk(%d, %q)", dir, name), err, unix.EINVAL)
		}
	}
	// Every name-taking operation validates the same way.
	_, _, _, err := c.Create(sub, "..", unix.O_RDWR, 0o644, 0, 0)
	wantErrno(t, "create ..", err, unix.EINVAL)
	_, _, err = c.Mkdir(sub, "a/b", 0o755, 0, 0)
	wantErrno(t, "mkdir a/b", err, unix.EINVAL)
	_, _, err = c.Symlink(sub, ".", "x", 0, 0)
	wantErrno(t, "symlink .", err, unix.EINVAL)
	wantErrno(t, "unlink ..", c.Unlink(sub, "..", 0), unix.EINVAL)
	wantErrno(t, "rename ..", c.Rename(sub, "..", RootFID, "x"), unix.EINVAL)
	wantErrno(t, "rename to a/b", c.Rename(RootFID, "hello.txt", sub, "a/b"), unix.EINVAL)
	wantErrno(t, "link ../x", c.Link(sub, "../x", RootFID), unix.EINVAL)
	if _, err := os.Stat(filepath.Join(root, "hello.txt")); err != nil {
		t.Errorf("hello.txt disappeared: %v", err)
	}
}

func TestSymlinks(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})

	for name, target := range map[string]string{
		"link":   "hello.txt",
		"escape": "../../../../../../etc/passwd",
		"abs":    "/etc/passwd",
	} {
		fid, st := mustWalk(t, c, RootFID, name)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("walk %s: mode %#o, want a symlink (not followed)", name, st.Mode)
		}
		if st.Size != int64(len(target)) {
			t.Errorf("walk %s: size %d, want %d", name, st.Size, len(target))
		}
		got, err := c.Readlink(fid)
		if err != nil || got != target {
			t.Errorf("readlink %s = %q, %v; want %q", name, got, err, target)
		}
		for _, flags := range []int{unix.O_RDONLY, unix.O_RDONLY | unix.O_DIRECTORY, unix.O_WRONLY} {
			fd, err := c.Open(fid, flags)
			if err == nil {
				unix.Close(fd)
			}
			wantErrno(t, "open symlink "+name, err, unix.ELOOP)
		}
		_, _, err = c.Walk(fid, "x")
		wantErrno(t, "walk through symlink "+name, err, unix.ENOTDIR)
	}
	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	_, err := c.Readlink(file)
	wantErrno(t, "readlink of a file", err, unix.EINVAL)

	// A symlink to a directory is not traversed either.
	if err := os.Symlink("sub", filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	dl, _ := mustWalk(t, c, RootFID, "dirlink")
	_, _, err = c.Walk(dl, "inner.txt")
	wantErrno(t, "walk through dir symlink", err, unix.ENOTDIR)
	_, err = c.Getdents(dl)
	wantErrno(t, "getdents on dir symlink", err, unix.ENOTDIR)

	// Creating symlinks.
	sub, _ := mustWalk(t, c, RootFID, "sub")
	fid, st, err := c.Symlink(sub, "new", "../hello.txt", 4321, 4322)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("symlink stat mode %#o", st.Mode)
	}
	if got, err := os.Readlink(filepath.Join(root, "sub", "new")); err != nil || got != "../hello.txt" {
		t.Errorf("host readlink = %q, %v", got, err)
	}
	if got, err := c.Readlink(fid); err != nil || got != "../hello.txt" {
		t.Errorf("readlink = %q, %v", got, err)
	}
	if unix.Geteuid() == 0 {
		h := hostStat(t, filepath.Join(root, "sub", "new"))
		if h.Uid != 4321 || h.Gid != 4322 || st.UID != 4321 || st.GID != 4322 {
			t.Errorf("symlink owner host %d:%d, reply %d:%d; want 4321:4322", h.Uid, h.Gid, st.UID, st.GID)
		}
	}
	_, _, err = c.Symlink(sub, "new", "x", 0, 0)
	wantErrno(t, "symlink exists", err, unix.EEXIST)

	// Create does not follow an existing symlink.
	_, _, _, err = c.Create(RootFID, "link", unix.O_RDWR, 0o644, 0, 0)
	wantErrno(t, "create over symlink", err, unix.ELOOP)
	_, _, _, err = c.Create(RootFID, "escape", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644, 0, 0)
	wantErrno(t, "create excl over symlink", err, unix.EEXIST)
}

func TestGetdents(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	ents, err := c.Getdents(RootFID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint8{}
	for _, e := range ents {
		got[e.Name] = e.Type
	}
	want := map[string]uint8{
		"hello.txt": unix.DT_REG, "sub": unix.DT_DIR, "link": unix.DT_LNK,
		"escape": unix.DT_LNK, "abs": unix.DT_LNK, "fifo": unix.DT_FIFO,
	}
	if len(got) != len(want) || len(ents) != len(want) {
		t.Errorf("getdents = %v, want %v", got, want)
	}
	for name, typ := range want {
		if gt, ok := got[name]; !ok || (gt != typ && gt != unix.DT_UNKNOWN) {
			t.Errorf("entry %q: type %d present %v, want type %d", name, gt, ok, typ)
		}
	}
	for _, e := range ents {
		if e.Name == "hello.txt" && e.Ino != hostStat(t, filepath.Join(root, "hello.txt")).Ino {
			t.Errorf("hello.txt ino mismatch")
		}
	}

	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	_, err = c.Getdents(file)
	wantErrno(t, "getdents on a file", err, unix.ENOTDIR)

	deeper, _ := mustWalk(t, c, RootFID, "sub", "deeper")
	if ents, err := c.Getdents(deeper); err != nil || len(ents) != 0 {
		t.Errorf("empty dir: %v, %v", ents, err)
	}
}

func TestGetdentsLarge(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "big")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	want := make([]string, 0, n)
	for i := range n {
		// Long names so that the listing needs several messages.
		name := fmt.Sprintf("entry-%05d-%s", i, strings.Repeat("x", 100+i%100))
		want = append(want, name)
		if i%3 == 0 {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			writeFile(t, filepath.Join(dir, name), "")
		}
	}
	c := startServer(t, root, ServerOptions{})
	fid, _ := mustWalk(t, c, RootFID, "big")
	ents, err := c.Getdents(fid)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(ents))
	for _, e := range ents {
		got = append(got, e.Name)
		isDir := strings.HasPrefix(e.Name, "entry-") && func() bool {
			var i int
			fmt.Sscanf(e.Name, "entry-%05d", &i)
			return i%3 == 0
		}()
		if (e.Type == unix.DT_DIR) != isDir && e.Type != unix.DT_UNKNOWN {
			t.Errorf("%s: type %d", e.Name, e.Type)
		}
	}
	sort.Strings(got)
	if len(got) != n {
		t.Fatalf("got %d entries, want %d", len(got), n)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestCreate(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	sub, _ := mustWalk(t, c, RootFID, "sub")

	fid, st, fd, err := c.Create(sub, "new.txt", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o640, 1234, 1235)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := unix.Write(fd, []byte("written via fd")); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	path := filepath.Join(root, "sub", "new.txt")
	if data, err := os.ReadFile(path); err != nil || string(data) != "written via fd" {
		t.Errorf("host content %q, %v", data, err)
	}
	h := hostStat(t, path)
	if h.Mode != unix.S_IFREG|0o640 || st.Mode != h.Mode || st.Ino != h.Ino {
		t.Errorf("mode host %#o reply %#o, want %#o", h.Mode, st.Mode, unix.S_IFREG|0o640)
	}
	if unix.Geteuid() == 0 && (h.Uid != 1234 || h.Gid != 1235 || st.UID != 1234 || st.GID != 1235) {
		t.Errorf("owner host %d:%d reply %d:%d, want 1234:1235", h.Uid, h.Gid, st.UID, st.GID)
	}
	if st2, err := c.Stat(fid); err != nil || st2.Size != int64(len("written via fd")) {
		t.Errorf("stat via new fid: %+v, %v", st2, err)
	}

	// Mode bits beyond the umask are honoured exactly.
	old := unix.Umask(0o077)
	_, st, fd, err = c.Create(sub, "wide", unix.O_WRONLY|unix.O_EXCL, 0o777, 0, 0)
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if st.Mode&0o7777 != 0o777 {
		t.Errorf("mode %#o, want 0777 regardless of the gofer's umask", st.Mode&0o7777)
	}

	_, _, _, err = c.Create(sub, "new.txt", unix.O_RDWR|unix.O_EXCL, 0o644, 0, 0)
	wantErrno(t, "create excl existing", err, unix.EEXIST)

	// Without O_EXCL an existing file is opened (and truncated if asked),
	// keeping its mode.
	_, st, fd, err = c.Create(sub, "new.txt", unix.O_RDWR|unix.O_TRUNC, 0o600, 0, 0)
	if err != nil {
		t.Fatalf("create existing: %v", err)
	}
	unix.Close(fd)
	if st.Size != 0 || st.Mode&0o777 != 0o640 {
		t.Errorf("existing file after create O_TRUNC: size %d mode %#o", st.Size, st.Mode)
	}

	_, _, _, err = c.Create(RootFID, "sub", unix.O_RDONLY, 0o644, 0, 0)
	wantErrno(t, "create over dir", err, unix.EISDIR)
	done := make(chan error, 1)
	go func() {
		_, _, fd, err := c.Create(RootFID, "fifo", unix.O_RDONLY, 0o644, 0, 0)
		if err == nil {
			unix.Close(fd)
		}
		done <- err
	}()
	select {
	case err := <-done:
		wantErrno(t, "create over fifo", err, unix.EACCES)
	case <-time.After(5 * time.Second):
		t.Fatal("create over a fifo hung (the gofer opened it on the host)")
	}
	_, _, _, err = c.Create(RootFID, "x", unix.O_ACCMODE, 0o644, 0, 0)
	wantErrno(t, "create O_ACCMODE", err, unix.EINVAL)
	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	_, _, _, err = c.Create(file, "x", unix.O_RDWR, 0o644, 0, 0)
	wantErrno(t, "create in a file", err, unix.ENOTDIR)
}

func TestOpenFlags(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	path := filepath.Join(root, "hello.txt")

	fd, err := c.Open(file, unix.O_WRONLY|unix.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, []byte("more\n"))
	unix.Close(fd)
	if data, _ := os.ReadFile(path); string(data) != "hello, world\nmore\n" {
		t.Errorf("after append: %q", data)
	}
	fd, err = c.Open(file, unix.O_RDWR|unix.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if data, _ := os.ReadFile(path); len(data) != 0 {
		t.Errorf("after O_TRUNC: %q", data)
	}

	dir, _ := mustWalk(t, c, RootFID, "sub")
	fd, err = c.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		t.Fatalf("open dir: %v", err)
	}
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	unix.Close(fd)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("dir fd mode %#o", st.Mode)
	}
	_, err = c.Open(dir, unix.O_WRONLY)
	wantErrno(t, "open dir for write", err, unix.EISDIR)
	_, err = c.Open(file, unix.O_RDONLY|unix.O_DIRECTORY)
	wantErrno(t, "open file O_DIRECTORY", err, unix.ENOTDIR)
	_, err = c.Open(file, unix.O_ACCMODE)
	wantErrno(t, "open O_ACCMODE", err, unix.EINVAL)
	fifo, _ := mustWalk(t, c, RootFID, "fifo")
	_, err = c.Open(fifo, unix.O_RDONLY)
	wantErrno(t, "open fifo", err, unix.EACCES)
}

// TestMknodSocket: the gofer makes a socket node with the exact mode and
// owner asked for; nothing listens on it on the host.
func TestMknodSocket(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	sub, _ := mustWalk(t, c, RootFID, "sub")
	old := unix.Umask(0o077)
	fid, st, err := c.MknodSocket(sub, "sock", 0o751, 2000, 2001)
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	h := hostStat(t, filepath.Join(root, "sub", "sock"))
	if h.Mode != unix.S_IFSOCK|0o751 || st.Mode != h.Mode || st.Ino != h.Ino {
		t.Errorf("socket node mode host %#o reply %#o", h.Mode, st.Mode)
	}
	if unix.Geteuid() == 0 && (h.Uid != 2000 || h.Gid != 2001) {
		t.Errorf("socket node owner %d:%d", h.Uid, h.Gid)
	}
	if st2, err := c.Stat(fid); err != nil || st2.Ino != h.Ino {
		t.Errorf("stat of the new fid: %+v %v", st2, err)
	}
	_, err = c.Open(fid, unix.O_RDONLY)
	wantErrno(t, "open socket node", err, unix.ENXIO)
	_, _, err = c.MknodSocket(sub, "sock", 0o755, 0, 0)
	wantErrno(t, "mknod socket exists", err, unix.EEXIST)
	_, _, err = c.MknodSocket(sub, "a/b", 0o755, 0, 0)
	wantErrno(t, "mknod socket bad name", err, unix.EINVAL)
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	err = unix.Connect(s, &unix.SockaddrUnix{Name: filepath.Join(root, "sub", "sock")})
	wantErrno(t, "host connect to the marker", err, unix.ECONNREFUSED)
	if err := c.Unlink(sub, "sock", 0); err != nil {
		t.Errorf("unlink socket node: %v", err)
	}

	ro := startServer(t, root, ServerOptions{ReadOnly: true})
	rsub, _ := mustWalk(t, ro, RootFID, "sub")
	_, _, err = ro.MknodSocket(rsub, "sock", 0o755, 0, 0)
	wantErrno(t, "read-only mknod socket", err, unix.EROFS)
}

func TestMutations(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	sub, _ := mustWalk(t, c, RootFID, "sub")

	// Mkdir
	old := unix.Umask(0o077)
	d, st, err := c.Mkdir(sub, "newdir", 0o751, 2000, 2001)
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	h := hostStat(t, filepath.Join(root, "sub", "newdir"))
	if h.Mode != unix.S_IFDIR|0o751 || st.Mode != h.Mode || st.Ino != h.Ino {
		t.Errorf("mkdir mode host %#o reply %#o", h.Mode, st.Mode)
	}
	if unix.Geteuid() == 0 && (h.Uid != 2000 || h.Gid != 2001) {
		t.Errorf("mkdir owner %d:%d", h.Uid, h.Gid)
	}
	_, _, err = c.Mkdir(sub, "newdir", 0o755, 0, 0)
	wantErrno(t, "mkdir exists", err, unix.EEXIST)
	_, _, fd, err := c.Create(d, "f", unix.O_WRONLY|unix.O_EXCL, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	// Link
	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	if err := c.Link(sub, "hard", file); err != nil {
		t.Fatalf("link: %v", err)
	}
	if st, _ := c.Stat(file); st.Nlink != 2 {
		t.Errorf("nlink after link = %d", st.Nlink)
	}
	if a, b := hostStat(t, filepath.Join(root, "hello.txt")), hostStat(t, filepath.Join(root, "sub", "hard")); a.Ino != b.Ino {
		t.Errorf("hard link has a different inode")
	}
	wantErrno(t, "link exists", c.Link(sub, "hard", file), unix.EEXIST)
	wantErrno(t, "link a dir", c.Link(RootFID, "dirlink", d), unix.EPERM)
	symfid, _ := mustWalk(t, c, RootFID, "link")
	if err := c.Link(sub, "symhard", symfid); err != nil {
		t.Errorf("link to a symlink: %v", err)
	} else if h := hostStat(t, filepath.Join(root, "sub", "symhard")); h.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("link to a symlink made mode %#o", h.Mode)
	}

	// Rename, within and across directories.
	if err := c.Rename(sub, "hard", RootFID, "moved"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "moved")); err != nil {
		t.Errorf("renamed file missing: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "sub", "hard")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
	if err := c.Rename(sub, "newdir", sub, "renamed"); err != nil {
		t.Fatal(err)
	}
	// The fid follows the inode, not the name.
	if ents, err := c.Getdents(d); err != nil || len(ents) != 1 || ents[0].Name != "f" {
		t.Errorf("getdents of renamed dir via old fid: %v, %v", ents, err)
	}
	wantErrno(t, "rename missing", c.Rename(sub, "nope", sub, "x"), unix.ENOENT)

	// Unlink
	wantErrno(t, "unlink dir without AT_REMOVEDIR", c.Unlink(sub, "renamed", 0), unix.EISDIR)
	wantErrno(t, "rmdir non-empty", c.Unlink(sub, "renamed", unix.AT_REMOVEDIR), unix.ENOTEMPTY)
	wantErrno(t, "rmdir a file", c.Unlink(RootFID, "moved", unix.AT_REMOVEDIR), unix.ENOTDIR)
	wantErrno(t, "unlink bad flags", c.Unlink(RootFID, "moved", 0x1234), unix.EINVAL)
	if err := c.Unlink(d, "f", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlink(sub, "renamed", unix.AT_REMOVEDIR); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlink(RootFID, "moved", 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Stat(file); st.Nlink != 1 {
		t.Errorf("nlink after unlink = %d", st.Nlink)
	}
	wantErrno(t, "unlink missing", c.Unlink(RootFID, "moved", 0), unix.ENOENT)
	// An unlinked file's fid stays usable.
	if st, err := c.Stat(d); err != nil || st.Nlink != 0 {
		t.Errorf("stat of removed dir: %+v, %v", st, err)
	}
}

func TestSetAttr(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	path := filepath.Join(root, "hello.txt")

	if err := c.SetAttr(file, Attr{Mask: AttrMode, Mode: 0o4711}); err != nil {
		t.Fatal(err)
	}
	if h := hostStat(t, path); h.Mode&0o7777 != 0o4711 {
		t.Errorf("mode %#o", h.Mode&0o7777)
	}
	if err := c.SetAttr(file, Attr{Mask: AttrSize, Size: 5}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "hello" {
		t.Errorf("after truncate: %q", data)
	}
	if err := c.SetAttr(file, Attr{Mask: AttrSize, Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if h := hostStat(t, path); h.Size != 1<<20 {
		t.Errorf("size after extend: %d", h.Size)
	}
	if unix.Geteuid() == 0 {
		if err := c.SetAttr(file, Attr{Mask: AttrUID, UID: 777}); err != nil {
			t.Fatal(err)
		}
		h := hostStat(t, path)
		if h.Uid != 777 || h.Gid != 0 {
			t.Errorf("owner %d:%d, want 777:0", h.Uid, h.Gid)
		}
		if err := c.SetAttr(file, Attr{Mask: AttrUID | AttrGID, UID: 10, GID: 11}); err != nil {
			t.Fatal(err)
		}
		if h := hostStat(t, path); h.Uid != 10 || h.Gid != 11 {
			t.Errorf("owner %d:%d, want 10:11", h.Uid, h.Gid)
		}
	}

	at := Timespec{Sec: 1000000000, Nsec: 123456789}
	mt := Timespec{Sec: 1200000000, Nsec: 987654321}
	if err := c.SetAttr(file, Attr{Mask: AttrAtime | AttrMtime, Atime: at, Mtime: mt}); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Stat(file)
	if st.Atime != at || st.Mtime != mt {
		t.Errorf("times %+v %+v, want %+v %+v", st.Atime, st.Mtime, at, mt)
	}
	// Only atime, to "now": mtime is left alone.
	if err := c.SetAttr(file, Attr{Mask: AttrAtime, Atime: Timespec{Nsec: unix.UTIME_NOW}}); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Stat(file)
	if st.Mtime != mt || time.Since(time.Unix(st.Atime.Sec, 0)) > time.Hour {
		t.Errorf("after UTIME_NOW atime: atime %+v mtime %+v", st.Atime, st.Mtime)
	}
	// UTIME_OMIT for atime, explicit mtime.
	before := st.Atime
	if err := c.SetAttr(file, Attr{Mask: AttrAtime | AttrMtime, Atime: Timespec{Nsec: unix.UTIME_OMIT}, Mtime: at}); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Stat(file)
	if st.Atime != before || st.Mtime != at {
		t.Errorf("after UTIME_OMIT: atime %+v (want %+v) mtime %+v", st.Atime, before, st.Mtime)
	}

	// Symlinks: no mode, but times and ownership apply to the link itself.
	link, _ := mustWalk(t, c, RootFID, "link")
	wantErrno(t, "chmod symlink", c.SetAttr(link, Attr{Mask: AttrMode, Mode: 0o600}), unix.EOPNOTSUPP)
	if err := c.SetAttr(link, Attr{Mask: AttrMtime, Mtime: mt}); err != nil {
		t.Errorf("utimes symlink: %v", err)
	}
	if h := hostStat(t, filepath.Join(root, "link")); h.Mtim.Sec != mt.Sec {
		t.Errorf("symlink mtime not set")
	}
	if st, _ := c.Stat(file); st.Mtime != at {
		t.Errorf("setting the symlink's times changed its target")
	}
	wantErrno(t, "truncate symlink", c.SetAttr(link, Attr{Mask: AttrSize}), unix.EINVAL)
	dir, _ := mustWalk(t, c, RootFID, "sub")
	wantErrno(t, "truncate dir", c.SetAttr(dir, Attr{Mask: AttrSize}), unix.EISDIR)
	if err := c.SetAttr(dir, Attr{Mask: AttrMode, Mode: 0o700}); err != nil {
		t.Errorf("chmod dir: %v", err)
	}
	wantErrno(t, "bad mask", c.SetAttr(dir, Attr{Mask: 1 << 20}), unix.EINVAL)
}

func TestBadFID(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	const bad = FID(0xdead)
	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	_, _, err := c.Walk(bad, "x")
	wantErrno(t, "walk", err, unix.EBADF)
	_, err = c.Stat(bad)
	wantErrno(t, "stat", err, unix.EBADF)
	_, err = c.Open(bad, unix.O_RDONLY)
	wantErrno(t, "open", err, unix.EBADF)
	_, err = c.Getdents(bad)
	wantErrno(t, "getdents", err, unix.EBADF)
	_, err = c.Readlink(bad)
	wantErrno(t, "readlink", err, unix.EBADF)
	_, _, _, err = c.Create(bad, "x", unix.O_RDWR, 0o644, 0, 0)
	wantErrno(t, "create", err, unix.EBADF)
	_, _, err = c.Mkdir(bad, "x", 0o755, 0, 0)
	wantErrno(t, "mkdir", err, unix.EBADF)
	_, _, err = c.Symlink(bad, "x", "y", 0, 0)
	wantErrno(t, "symlink", err, unix.EBADF)
	wantErrno(t, "link dir", c.Link(bad, "x", file), unix.EBADF)
	wantErrno(t, "link target", c.Link(RootFID, "x", bad), unix.EBADF)
	wantErrno(t, "unlink", c.Unlink(bad, "x", 0), unix.EBADF)
	wantErrno(t, "rename old", c.Rename(bad, "x", RootFID, "y"), unix.EBADF)
	wantErrno(t, "rename new", c.Rename(RootFID, "hello.txt", bad, "y"), unix.EBADF)
	wantErrno(t, "setattr", c.SetAttr(bad, Attr{Mask: AttrMode}), unix.EBADF)
	wantErrno(t, "clunk", c.Clunk(bad), unix.EBADF)
	if _, err := os.Lstat(filepath.Join(root, "x")); err == nil {
		t.Errorf("an op with a bad fid created x")
	}
}

// snapshot records names, types, modes, sizes, owners, link targets and
// mtimes of every file under root.
func snapshot(t testing.TB, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st := hostStat(t, path)
		target, _ := os.Readlink(path)
		fmt.Fprintf(&b, "%s %#o %d %d:%d %q %d.%d\n", path, st.Mode, st.Size, st.Uid, st.Gid, target, st.Mtim.Sec, st.Mtim.Nsec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReadOnly(t *testing.T) {
	root := makeTree(t)
	before := snapshot(t, root)
	c := startServer(t, root, ServerOptions{ReadOnly: true})

	file, _ := mustWalk(t, c, RootFID, "hello.txt")
	sub, _ := mustWalk(t, c, RootFID, "sub")
	link, _ := mustWalk(t, c, RootFID, "link")

	// Reading works.
	fd, err := c.Open(file, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "hello, world\n" {
		t.Errorf("read %q", got)
	}
	if fd, err := c.Open(sub, unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
		t.Errorf("open dir read-only: %v", err)
	} else {
		unix.Close(fd)
	}
	if _, err := c.Getdents(sub); err != nil {
		t.Errorf("getdents: %v", err)
	}
	if got, err := c.Readlink(link); err != nil || got != "hello.txt" {
		t.Errorf("readlink %q %v", got, err)
	}

	for _, flags := range []int{unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_TRUNC, unix.O_WRONLY | unix.O_APPEND} {
		fd, err := c.Open(file, flags)
		if err == nil {
			unix.Close(fd)
		}
		wantErrno(t, fmt.Sprintf("open flags %#x", flags), err, unix.EROFS)
	}
	_, _, _, err = c.Create(sub, "new", unix.O_RDWR|unix.O_EXCL, 0o644, 0, 0)
	wantErrno(t, "create", err, unix.EROFS)
	_, _, _, err = c.Create(RootFID, "hello.txt", unix.O_RDONLY, 0o644, 0, 0)
	wantErrno(t, "create existing", err, unix.EROFS)
	_, _, err = c.Mkdir(sub, "newdir", 0o755, 0, 0)
	wantErrno(t, "mkdir", err, unix.EROFS)
	_, _, err = c.Symlink(sub, "newlink", "x", 0, 0)
	wantErrno(t, "symlink", err, unix.EROFS)
	wantErrno(t, "link", c.Link(sub, "hard", file), unix.EROFS)
	wantErrno(t, "unlink", c.Unlink(RootFID, "hello.txt", 0), unix.EROFS)
	wantErrno(t, "rmdir", c.Unlink(sub, "deeper", unix.AT_REMOVEDIR), unix.EROFS)
	wantErrno(t, "rename", c.Rename(RootFID, "hello.txt", sub, "moved"), unix.EROFS)
	for _, mask := range []AttrMask{AttrMode, AttrUID, AttrGID, AttrSize, AttrAtime, AttrMtime} {
		wantErrno(t, fmt.Sprintf("setattr %#x", mask), c.SetAttr(file, Attr{Mask: mask}), unix.EROFS)
	}

	if after := snapshot(t, root); after != before {
		t.Errorf("read-only server changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// warmLanes makes calls until the client has opened all its direct
// lanes (they open in the background as calls find none idle).
func warmLanes(t testing.TB, c *Client) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		var wg sync.WaitGroup
		for range clientLanes + 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Stat(RootFID)
			}()
		}
		wg.Wait()
		c.laneMu.Lock()
		n := len(c.lanes)
		c.laneMu.Unlock()
		if n == clientLanes {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d direct lanes open, want %d", n, clientLanes)
		}
		time.Sleep(time.Millisecond)
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestConcurrent(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	// Warm up (lazily created runtime descriptors) before counting.
	f, _ := mustWalk(t, c, RootFID, "hello.txt")
	c.Clunk(f)
	warmLanes(t, c.Client)
	// The server closes its copy of a lane's descriptor after sending
	// it: count once that has settled.
	baseline := countFDs(t)
	for n := -1; n != baseline; baseline = countFDs(t) {
		n = baseline
		time.Sleep(20 * time.Millisecond)
	}

	const workers, iters = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				name := fmt.Sprintf("w%d", w)
				dir, _, err := c.Mkdir(RootFID, name, 0o755, 0, 0)
				if err != nil {
					return err
				}
				for i := range iters {
					sub, _, err := c.Walk(RootFID, "sub")
					if err != nil {
						return err
					}
					fid, st, err := c.Walk(sub, "inner.txt")
					if err != nil {
						return err
					}
					if st.Size != 5 {
						return fmt.Errorf("size %d", st.Size)
					}
					fd, err := c.Open(fid, unix.O_RDONLY)
					if err != nil {
						return err
					}
					buf := make([]byte, 16)
					n, _ := unix.Pread(fd, buf, 0)
					unix.Close(fd)
					if string(buf[:n]) != "inner" {
						return fmt.Errorf("read %q", buf[:n])
					}
					fname := fmt.Sprintf("f%d", i)
					nf, _, fd, err := c.Create(dir, fname, unix.O_RDWR|unix.O_EXCL, 0o644, 0, 0)
					if err != nil {
						return err
					}
					unix.Pwrite(fd, []byte(fname), 0)
					unix.Close(fd)
					if st, err := c.Stat(nf); err != nil || st.Size != int64(len(fname)) {
						return fmt.Errorf("stat %s: %+v %v", fname, st, err)
					}
					for _, f := range []FID{sub, fid, nf} {
						if err := c.Clunk(f); err != nil {
							return err
						}
					}
				}
				ents, err := c.Getdents(dir)
				if err != nil {
					return err
				}
				if len(ents) != iters {
					return fmt.Errorf("%s has %d entries", name, len(ents))
				}
				return c.Clunk(dir)
			}()
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The server answers before its request goroutine has closed what it
	// used, so give stragglers a moment; a real leak never settles.
	n := countFDs(t)
	for deadline := time.Now().Add(5 * time.Second); n > baseline && time.Now().Before(deadline); n = countFDs(t) {
		time.Sleep(10 * time.Millisecond)
	}
	if n > baseline {
		t.Errorf("descriptor leak: %d open, %d before", n, baseline)
	}
}

// fastFail checks that f returns an EIO-like error promptly.
func fastFail(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, unix.EIO) {
			t.Errorf("%s: got %v, want an error matching EIO", what, err)
		}
		var errno unix.Errno
		if errors.As(err, &errno) && errno != unix.EIO {
			t.Errorf("%s: transport error %v looks like a server errno", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: hung after the server died", what)
	}
}

func allOpsFail(t *testing.T, c *Client, fid FID) {
	t.Helper()
	fastFail(t, "walk", func() error { _, _, err := c.Walk(RootFID, "hello.txt"); return err })
	fastFail(t, "stat", func() error { _, err := c.Stat(fid); return err })
	fastFail(t, "open", func() error { _, err := c.Open(fid, unix.O_RDONLY); return err })
	fastFail(t, "getdents", func() error { _, err := c.Getdents(RootFID); return err })
	fastFail(t, "readlink", func() error { _, err := c.Readlink(fid); return err })
	fastFail(t, "create", func() error { _, _, _, err := c.Create(RootFID, "x", unix.O_RDWR, 0o644, 0, 0); return err })
	fastFail(t, "mkdir", func() error { _, _, err := c.Mkdir(RootFID, "x", 0o755, 0, 0); return err })
	fastFail(t, "symlink", func() error { _, _, err := c.Symlink(RootFID, "x", "y", 0, 0); return err })
	fastFail(t, "link", func() error { return c.Link(RootFID, "x", fid) })
	fastFail(t, "unlink", func() error { return c.Unlink(RootFID, "x", 0) })
	fastFail(t, "rename", func() error { return c.Rename(RootFID, "x", RootFID, "y") })
	fastFail(t, "setattr", func() error { return c.SetAttr(fid, Attr{Mask: AttrMode}) })
	fastFail(t, "clunk", func() error { return c.Clunk(fid) })
}

func TestServerDeath(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	fid, _ := mustWalk(t, c, RootFID, "hello.txt")
	warmLanes(t, c.Client)
	// Kill the server's end of the connection (as if the process died):
	// the server then shuts its lanes down too.
	if err := unix.Shutdown(c.srvDup, unix.SHUT_RDWR); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not notice the server's death")
	}
	allOpsFail(t, c.Client, fid)
	_, _, err := c.Walk(RootFID, "hello.txt")
	if !strings.Contains(err.Error(), "walk") {
		t.Errorf("error %q lacks context", err)
	}
}

// TestPendingCallsWake uses a fake server that never answers, then
// disappears: calls waiting for a reply must fail promptly.
func TestPendingCallsWake(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := fds[0]
	srvOpen := true
	defer func() {
		if srvOpen {
			unix.Close(srv)
		}
	}()
	recv := func() []byte {
		buf := make([]byte, MaxMessageSize)
		n, _, err := unix.Recvfrom(srv, buf, 0)
		if err != nil {
			t.Errorf("fake server recv: %v", err)
			return nil
		}
		return buf[:n]
	}
	go func() {
		req := recv()
		if len(req) < headerSize || req[4] != tAttach {
			t.Errorf("first request %v is not an attach", req)
			return
		}
		d := decoder{b: req}
		e := newMessage(d.u32(), tAttach|replyBit)
		e.u32(Version)
		e.u32(uint32(RootFID))
		e.stat(&Stat{Mode: unix.S_IFDIR | 0o755})
		unix.Sendto(srv, e.b, 0, nil)
	}()
	c, err := NewClient(os.NewFile(uintptr(fds[1]), "client"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const waiters = 8
	results := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := c.Stat(RootFID)
			results <- err
		}()
	}
	for range waiters {
		if recv() == nil {
			return
		}
	}
	select {
	case err := <-results:
		t.Fatalf("a call returned before the server died: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	unix.Close(srv)
	srvOpen = false
	for range waiters {
		select {
		case err := <-results:
			if !errors.Is(err, unix.EIO) {
				t.Errorf("pending call: %v, want EIO-like", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("pending call hung after the server died")
		}
	}
	allOpsFail(t, c, RootFID)
}

func TestClientClose(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	fid, _ := mustWalk(t, c, RootFID, "hello.txt")
	warmLanes(t, c.Client)
	c.Close()
	// An idle lane closes at once, one in use when its call returns.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		c.laneMu.Lock()
		open := len(c.lanes)
		c.laneMu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d direct lanes still open after Close", open)
		}
	}
	_, err := c.Stat(fid)
	if !errors.Is(err, ErrClientClosed) || !errors.Is(err, unix.EIO) {
		t.Errorf("stat after close: %v", err)
	}
	select {
	case err := <-c.serveErr:
		if err != nil {
			t.Errorf("Serve returned %v after the client closed", err)
		}
		c.serveErr <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the client closed")
	}
}

func TestServeErrors(t *testing.T) {
	srv, cli := socketpair(t)
	defer cli.Close()
	if err := Serve(srv, filepath.Join(t.TempDir(), "missing"), ServerOptions{}); err == nil {
		t.Error("Serve with a missing root succeeded")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if err := Serve(os.NewFile(uintptr(fds[0]), "stream"), t.TempDir(), ServerOptions{}); err == nil {
		t.Error("Serve on a SOCK_STREAM socket succeeded")
	}
}

func BenchmarkWalkStat(b *testing.B) {
	root := makeTree(b)
	c := startServer(b, root, ServerOptions{})
	sub, _ := mustWalk(b, c, RootFID, "sub")
	b.ResetTimer()
	for b.Loop() {
		fid, _, err := c.Walk(sub, "inner.txt")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Stat(fid); err != nil {
			b.Fatal(err)
		}
		if err := c.Clunk(fid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWalkStatParallel(b *testing.B) {
	root := makeTree(b)
	c := startServer(b, root, ServerOptions{})
	sub, _ := mustWalk(b, c, RootFID, "sub")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			fid, _, err := c.Walk(sub, "inner.txt")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Stat(fid); err != nil {
				b.Fatal(err)
			}
			if err := c.Clunk(fid); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A call blocked on a direct lane wakes when the client closes.
func TestLaneCallWakesOnClose(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	// A lane nobody serves: the call's recvmsg blocks.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	l := &lane{fd: fds[0], buf: make([]byte, MaxMessageSize), oob: make([]byte, unix.CmsgSpace(4*4))}
	c.laneMu.Lock()
	c.lanes = append(c.lanes, l)
	c.laneMu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := c.callLane(l, newMessage(0, tStat))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the call returned before Close: %v", err)
	default:
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, unix.EIO) {
			t.Errorf("blocked lane call: %v, want EIO-like", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call on a lane hung after Close")
	}
}

// Sequential calls share one direct lane; more open only for calls that
// find every lane busy.
func TestLanesOpenOnDemand(t *testing.T) {
	root := makeTree(t)
	c := startServer(t, root, ServerOptions{})
	lanes := func() int {
		c.laneMu.Lock()
		defer c.laneMu.Unlock()
		return len(c.lanes)
	}
	if n := lanes(); n != 0 {
		t.Fatalf("%d direct lanes before any call", n)
	}
	c.Stat(RootFID) // goes on the main connection and opens a lane
	for deadline := time.Now().Add(5 * time.Second); len(c.idle) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no direct lane opened")
		}
	}
	for range 50 {
		if _, err := c.Stat(RootFID); err != nil {
			t.Fatal(err)
		}
	}
	if n := lanes(); n != 1 {
		t.Errorf("%d direct lanes after sequential calls, want 1", n)
	}
}

// Closing a client while replies carrying descriptors (lanes being
// opened) are in flight leaks none of them.
func TestCloseWithRepliesInFlight(t *testing.T) {
	root := makeTree(t)
	round := func() {
		srv, cli := socketpair(t)
		done := make(chan error, 1)
		go func() { done <- Serve(srv, root, ServerOptions{}) }()
		c, err := NewClient(cli)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range clientLanes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Stat(RootFID)
			}()
		}
		wg.Wait() // each asked for a lane, whose reply brings a descriptor
		c.Close()
		<-done
	}
	round()
	baseline := countFDs(t)
	for range 200 {
		round()
	}
	n := countFDs(t)
	for deadline := time.Now().Add(5 * time.Second); n > baseline && time.Now().Before(deadline); n = countFDs(t) {
		time.Sleep(10 * time.Millisecond)
	}
	if n > baseline {
		t.Errorf("descriptor leak: %d open, %d before", n, baseline)
	}
}
