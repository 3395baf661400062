package vfs_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func (e *env) vd(path string, follow bool) vfs.VirtualDentry {
	e.t.Helper()
	vd, err := e.v.GetDentry(e.ctx, e.pop(path, follow))
	if err != nil {
		e.t.Fatalf("resolve %s: %v", path, err)
	}
	e.t.Cleanup(vd.DecRef)
	return vd
}

func TestXattrsOnTmpfs(t *testing.T) {
	e := newEnv(t)
	f, err := e.open("/f", unix.O_CREAT|unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	f.DecRef()
	e.mkdir("/d")
	e.symlink("f", "/l")
	vd := e.vd("/f", true)
	root := e.ctx
	user := vfstest.User(1000, 1000)

	if err := e.v.Setxattr(root, vd, "user.a", "1", 0); err != nil {
		t.Fatal(err)
	}
	if v, err := e.v.Getxattr(user, vd, "user.a"); err != nil || v != "1" {
		t.Errorf("other user reading user.a (file mode 0644): %q %v", v, err)
	}
	wantErr(t, "other user writing user.a", e.v.Setxattr(user, vd, "user.a", "2", 0), unix.EACCES)
	wantErr(t, "XATTR_CREATE", e.v.Setxattr(root, vd, "user.a", "2", unix.XATTR_CREATE), unix.EEXIST)
	wantErr(t, "XATTR_REPLACE", e.v.Setxattr(root, vd, "user.b", "2", unix.XATTR_REPLACE), unix.ENODATA)
	wantErr(t, "bad flags", e.v.Setxattr(root, vd, "user.b", "2", 4), unix.EINVAL)
	wantErr(t, "too big", e.v.Setxattr(root, vd, "user.b", strings.Repeat("x", vfs.XattrSizeMax+1), 0), unix.E2BIG)
	if err := e.v.Setxattr(root, vd, "user.max", strings.Repeat("x", vfs.XattrSizeMax), 0); err != nil {
		t.Errorf("64KiB value: %v", err)
	}
	wantErr(t, "bare prefix", e.v.Setxattr(root, vd, "user.", "2", 0), unix.EINVAL)
	wantErr(t, "unknown namespace", e.v.Setxattr(root, vd, "other.x", "2", 0), unix.EOPNOTSUPP)
	wantErr(t, "long name", e.v.Setxattr(root, vd, "user."+strings.Repeat("n", 251), "2", 0), unix.ERANGE)
	if err := e.v.Setxattr(root, vd, "user."+strings.Repeat("n", 250), "", 0); err != nil {
		t.Errorf("255-byte name and empty value: %v", err)
	}

	// trusted.* needs CAP_SYS_ADMIN, and is invisible without it.
	if err := e.v.Setxattr(root, vd, "trusted.t", "t", 0); err != nil {
		t.Fatal(err)
	}
	_, err = e.v.Getxattr(user, vd, "trusted.t")
	wantErr(t, "unprivileged trusted get", err, unix.ENODATA)
	wantErr(t, "unprivileged trusted set", e.v.Setxattr(user, vd, "trusted.u", "t", 0), unix.EPERM)
	list := func(ctx vfs.Context) string {
		names, err := e.v.Listxattr(ctx, vd)
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		for i, n := range names {
			if len(n) > 20 {
				names[i] = n[:20]
			}
		}
		return strings.Join(names, ",")
	}
	if got := list(root); got != "trusted.t,user.a,user.max,user.nnnnnnnnnnnnnnn" {
		t.Errorf("root's list %q", got)
	}
	if got := list(user); got != "user.a,user.max,user.nnnnnnnnnnnnnnn" {
		t.Errorf("user's list %q", got)
	}

	// security.*: anyone reads, CAP_SYS_ADMIN writes; security.capability
	// needs CAP_SETFCAP and a valid header.
	_, err = e.v.Getxattr(user, vd, "security.selinux")
	wantErr(t, "security.selinux", err, unix.ENODATA)
	wantErr(t, "unprivileged security set", e.v.Setxattr(user, vd, "security.x", "1", 0), unix.EPERM)
	wantErr(t, "bad capability", e.v.Setxattr(root, vd, "security.capability", "12345", 0), unix.EINVAL)
	capV2 := "\x00\x00\x00\x02" + strings.Repeat("\x00", 16)
	if err := e.v.Setxattr(root, vd, "security.capability", capV2, 0); err != nil {
		t.Errorf("valid security.capability: %v", err)
	}
	// No ACLs on tmpfs.
	_, err = e.v.Getxattr(root, vd, vfs.XattrACLAccess)
	wantErr(t, "ACL get", err, unix.ENODATA)
	wantErr(t, "ACL set", e.v.Setxattr(root, vd, vfs.XattrACLAccess, "x", 0), unix.EOPNOTSUPP)

	// user.* only on regular files and directories.
	if err := e.v.Setxattr(root, e.vd("/d", true), "user.d", "1", 0); err != nil {
		t.Errorf("directory: %v", err)
	}
	lvd := e.vd("/l", false)
	wantErr(t, "user.* on a symlink", e.v.Setxattr(root, lvd, "user.l", "1", 0), unix.EPERM)
	_, err = e.v.Getxattr(root, lvd, "user.l")
	wantErr(t, "user.* get on a symlink", err, unix.ENODATA)

	// Remove.
	if err := e.v.Removexattr(root, vd, "user.a"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "remove twice", e.v.Removexattr(root, vd, "user.a"), unix.ENODATA)

	// A read-only mount refuses changes, not reads.
	ro := tmpfs.New(nil, tmpfs.Options{Mode: 0o755})
	e.mkdir("/ro")
	if _, err := e.v.MountAt(e.ctx, "/ro", ro.Root(), vfs.MountOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "read-only", e.v.Setxattr(root, e.vd("/ro", true), "user.x", "1", 0), unix.EROFS)
}
