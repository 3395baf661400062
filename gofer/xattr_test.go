package gofer

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestXattrs(t *testing.T) {
	root := makeTree(t)
	if err := unix.Setxattr(filepath.Join(root, "hello.txt"), "user.probe", []byte("x"), 0); err != nil {
		t.Skipf("the test directory's filesystem has no user xattrs: %v", err)
	}
	c := startServer(t, root, ServerOptions{})
	f, _ := mustWalk(t, c, RootFID, "hello.txt")
	if v, err := c.Getxattr(f, "user.probe"); err != nil || v != "x" {
		t.Fatalf("Getxattr: %q %v", v, err)
	}
	wantErrno(t, "missing", func() error { _, err := c.Getxattr(f, "user.none"); return err }(), unix.ENODATA)
	// (ext4 keeps a value in one block.)
	if err := c.Setxattr(f, "user.big", strings.Repeat("v", 3000), 0); err != nil {
		t.Fatalf("Setxattr of a 3000-byte value: %v", err)
	}
	if v, err := c.Getxattr(f, "user.big"); err != nil || len(v) != 3000 {
		t.Fatalf("Getxattr of a 3000-byte value: %d %v", len(v), err)
	}
	wantErrno(t, "XATTR_CREATE", c.Setxattr(f, "user.probe", "y", unix.XATTR_CREATE), unix.EEXIST)
	wantErrno(t, "XATTR_REPLACE", c.Setxattr(f, "user.nope", "y", unix.XATTR_REPLACE), unix.ENODATA)
	names, err := c.Listxattr(f)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "user.big,user.probe" {
		t.Errorf("Listxattr: %q", names)
	}
	if err := c.Removexattr(f, "user.big"); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "remove twice", c.Removexattr(f, "user.big"), unix.ENODATA)
	// The host sees the changes.
	buf := make([]byte, 16)
	if _, err := unix.Getxattr(filepath.Join(root, "hello.txt"), "user.big", buf); err != unix.ENODATA {
		t.Errorf("host getxattr after remove: %v", err)
	}

	// Directories too; FIFOs and symlinks are never opened on the host.
	d, _ := mustWalk(t, c, RootFID, "sub")
	if err := c.Setxattr(d, "user.dir", "1", 0); err != nil {
		t.Errorf("Setxattr on a directory: %v", err)
	}
	p, _ := mustWalk(t, c, RootFID, "fifo")
	wantErrno(t, "fifo get", func() error { _, err := c.Getxattr(p, "user.a"); return err }(), unix.ENODATA)
	wantErrno(t, "fifo set", c.Setxattr(p, "user.a", "1", 0), unix.EPERM)
	if names, err := c.Listxattr(p); err != nil || len(names) != 0 {
		t.Errorf("fifo list: %q %v", names, err)
	}

	ro := startServer(t, root, ServerOptions{ReadOnly: true})
	rf, _ := mustWalk(t, ro, RootFID, "hello.txt")
	wantErrno(t, "read-only set", ro.Setxattr(rf, "user.a", "1", 0), unix.EROFS)
	wantErrno(t, "read-only remove", ro.Removexattr(rf, "user.probe"), unix.EROFS)
	if v, err := ro.Getxattr(rf, "user.probe"); err != nil || v != "x" {
		t.Errorf("read-only get: %q %v", v, err)
	}
}

// TestXattrMessagesFit checks that the largest attribute Linux allows fits
// one message.
func TestXattrMessagesFit(t *testing.T) {
	e := newMessage(1, tSetxattr)
	e.u32(1)
	e.str(strings.Repeat("n", 255))
	e.str(strings.Repeat("v", xattrMax))
	e.u32(0)
	if len(e.b) > MaxMessageSize {
		t.Errorf("a Tsetxattr of a %d-byte value is %d bytes, over MaxMessageSize %d", xattrMax, len(e.b), MaxMessageSize)
	}
}
