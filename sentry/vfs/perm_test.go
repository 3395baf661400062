package vfs_test

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// capContext is a test context that carries capabilities (vfs.Capable),
// as the kernel's Task does.
type capContext struct {
	*vfstest.Context
	caps uint64
}

func (c capContext) HasCapability(cp int) bool { return c.caps&(1<<uint(cp)) != 0 }

func withCaps(ctx *vfstest.Context, caps ...int) capContext {
	c := capContext{Context: ctx}
	for _, cp := range caps {
		c.caps |= 1 << uint(cp)
	}
	return c
}

const (
	dacOverride   = unix.CAP_DAC_OVERRIDE
	dacReadSearch = unix.CAP_DAC_READ_SEARCH
)

// TestCheckPermissionCapabilities follows Linux's generic_permission: the
// mode bits first, then CAP_DAC_READ_SEARCH (read a file; read or search
// a directory) and CAP_DAC_OVERRIDE (anything but executing a file with
// no x bit).
func TestCheckPermissionCapabilities(t *testing.T) {
	file := func(mode uint32) *vfs.Stat { return &vfs.Stat{Mode: unix.S_IFREG | mode, UID: 1234, GID: 1234} }
	dir := func(mode uint32) *vfs.Stat { return &vfs.Stat{Mode: unix.S_IFDIR | mode, UID: 1234, GID: 1234} }
	root, user := vfstest.Root(), vfstest.User(1000, 1000)
	for _, tc := range []struct {
		name string
		ctx  vfs.Context
		st   *vfs.Stat
		want uint32
		ok   bool
	}{
		{"uid 0 without capabilities reads 0600", withCaps(root), file(0o600), vfs.MayRead, false},
		{"uid 0 without capabilities reads 0604", withCaps(root), file(0o604), vfs.MayRead, true},
		{"uid 0 without capabilities searches 0700 dir", withCaps(root), dir(0o700), vfs.MayExec, false},
		{"READ_SEARCH reads", withCaps(root, dacReadSearch), file(0o600), vfs.MayRead, true},
		{"READ_SEARCH does not write", withCaps(root, dacReadSearch), file(0o600), vfs.MayWrite, false},
		{"READ_SEARCH does not read+write", withCaps(root, dacReadSearch), file(0o600), vfs.MayRead | vfs.MayWrite, false},
		{"READ_SEARCH does not execute", withCaps(root, dacReadSearch), file(0o700), vfs.MayExec, false},
		{"READ_SEARCH searches", withCaps(root, dacReadSearch), dir(0o700), vfs.MayExec, true},
		{"READ_SEARCH lists", withCaps(root, dacReadSearch), dir(0o700), vfs.MayRead | vfs.MayExec, true},
		{"READ_SEARCH does not create", withCaps(root, dacReadSearch), dir(0o700), vfs.MayWrite | vfs.MayExec, false},
		{"OVERRIDE writes", withCaps(root, dacOverride), file(0o000), vfs.MayRead | vfs.MayWrite, true},
		{"OVERRIDE creates in dir", withCaps(root, dacOverride), dir(0o000), vfs.MayWrite | vfs.MayExec, true},
		{"OVERRIDE needs an x bit to execute", withCaps(root, dacOverride), file(0o666), vfs.MayExec, false},
		{"OVERRIDE executes with any x bit", withCaps(root, dacOverride), file(0o001), vfs.MayExec, true},
		{"capabilities apply to any uid", withCaps(user, dacOverride), file(0o000), vfs.MayWrite, true},
		{"no Capable: uid 0 is privileged", root, file(0o000), vfs.MayRead | vfs.MayWrite, true},
		{"no Capable: others are not", user, file(0o000), vfs.MayRead, false},
		// The owner's bits apply to the owner even if others' allow more.
		{"owner bits first", withCaps(vfstest.User(1234, 1)), file(0o077), vfs.MayRead, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := vfs.CheckPermission(tc.ctx, tc.st, tc.want)
			if (err == nil) != tc.ok || (err != nil && err != unix.EACCES) {
				t.Errorf("CheckPermission = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestOwnershipCapabilities: chmod, chown, utimes, sticky directories,
// mknod, through the VFS (Linux's setattr_prepare, may_delete,
// vfs_mknod).
func TestOwnershipCapabilities(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/d")
	e.writeFile("/d/f", "x")
	set := func(ctx vfs.Context, path string, s vfs.SetStat) error {
		return e.v.SetStat(ctx, e.pop(path, false), s)
	}
	mode := func(path string) uint32 {
		st, err := e.v.Stat(e.ctx, e.pop(path, false))
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode & 0o7777
	}
	if err := set(e.ctx, "/d/f", vfs.SetStat{Valid: vfs.AttrUID | vfs.AttrGID, UID: 1234, GID: 1234}); err != nil {
		t.Fatal(err)
	}
	noCaps := withCaps(vfstest.Root())
	owner := withCaps(vfstest.User(1234, 1234))
	wantErr(t, "chmod by uid 0 without FOWNER", set(noCaps, "/d/f", vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o644}), unix.EPERM)
	wantErr(t, "chmod with FOWNER", set(withCaps(vfstest.User(5, 5), unix.CAP_FOWNER), "/d/f", vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o640}), nil)
	wantErr(t, "explicit utimes without FOWNER", set(noCaps, "/d/f", vfs.SetStat{Valid: vfs.AttrMtime, Mtime: unix.Timespec{Sec: 5}}), unix.EPERM)
	wantErr(t, "utimes now without write permission", set(noCaps, "/d/f", vfs.SetStat{Valid: vfs.AttrMtime, Mtime: unix.Timespec{Nsec: unix.UTIME_NOW}}), unix.EACCES)
	wantErr(t, "utimes now with DAC_OVERRIDE", set(withCaps(vfstest.Root(), dacOverride), "/d/f", vfs.SetStat{Valid: vfs.AttrMtime, Mtime: unix.Timespec{Nsec: unix.UTIME_NOW}}), nil)

	wantErr(t, "chown to the same owner, not the owner", set(noCaps, "/d/f", vfs.SetStat{Valid: vfs.AttrUID, UID: 1234}), unix.EPERM)
	wantErr(t, "chown to itself by the owner", set(owner, "/d/f", vfs.SetStat{Valid: vfs.AttrUID, UID: 1234}), nil)
	wantErr(t, "chown away by the owner", set(owner, "/d/f", vfs.SetStat{Valid: vfs.AttrUID, UID: 1}), unix.EPERM)
	wantErr(t, "chgrp by the owner to a group it is not in", set(owner, "/d/f", vfs.SetStat{Valid: vfs.AttrGID, GID: 7}), unix.EPERM)
	member := withCaps(&vfstest.Context{UID: 1234, GID: 1234, PID: 1, Groups: []uint32{7}})
	wantErr(t, "chgrp by the owner to its group", set(member, "/d/f", vfs.SetStat{Valid: vfs.AttrGID, GID: 7}), nil)
	wantErr(t, "chown with CHOWN by anyone", set(withCaps(vfstest.User(5, 5), unix.CAP_CHOWN), "/d/f", vfs.SetStat{Valid: vfs.AttrUID | vfs.AttrGID, UID: 9, GID: 9}), nil)

	// The set-group-ID bit survives chmod only for a member of the
	// file's group or with CAP_FSETID.
	fowner := withCaps(vfstest.Root(), unix.CAP_FOWNER)
	wantErr(t, "chmod g+s", set(fowner, "/d/f", vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o2755}), nil)
	if m := mode("/d/f"); m != 0o755 {
		t.Errorf("mode %o after chmod 2755 without FSETID by a non-member, want 755", m)
	}
	wantErr(t, "chmod g+s with FSETID", set(withCaps(vfstest.Root(), unix.CAP_FOWNER, unix.CAP_FSETID), "/d/f", vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o2755}), nil)
	if m := mode("/d/f"); m != 0o2755 {
		t.Errorf("mode %o after chmod 2755 with FSETID, want 2755", m)
	}

	// Sticky directory: only the file's or the directory's owner, or
	// CAP_FOWNER, may remove.
	e.mkdir("/tmp")
	set(e.ctx, "/tmp", vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o1777})
	e.writeFile("/tmp/a", "")
	e.writeFile("/tmp/b", "")
	wantErr(t, "sticky unlink by another user", e.v.Unlink(withCaps(vfstest.User(1000, 1000)), e.pop("/tmp/a", false)), unix.EPERM)
	wantErr(t, "sticky unlink with FOWNER", e.v.Unlink(withCaps(vfstest.User(1000, 1000), unix.CAP_FOWNER), e.pop("/tmp/a", false)), nil)
	wantErr(t, "sticky unlink by uid 0 that owns the dir", e.v.Unlink(noCaps, e.pop("/tmp/b", false)), nil)

	// Device nodes need CAP_MKNOD, whatever the uid.
	wantErr(t, "mknod char device by uid 0 without MKNOD", e.v.Mknod(withCaps(vfstest.Root(), dacOverride), e.pop("/tmp/null", false), unix.S_IFCHR|0o600, unix.Mkdev(1, 3)), unix.EPERM)
	wantErr(t, "mknod fifo without MKNOD", e.v.Mknod(withCaps(vfstest.Root(), dacOverride), e.pop("/tmp/fifo", false), unix.S_IFIFO|0o600, 0), nil)
}
