package dev_test

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/dev"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func TestDev(t *testing.T) {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	// A read-only root without /dev: Mount makes the mount point.
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{}).Root(), vfs.MountOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := dev.Mount(ctx, v); err != nil {
		t.Fatal(err)
	}
	fsc := vfs.NewFSContext(v.Root(), v.Root(), 0o022)
	open := func(p string, flags uint32) *vfs.FileDescription {
		t.Helper()
		f, err := v.Open(ctx, fsc.PathOp(vfs.VirtualDentry{}, p, true), flags, 0)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		return f
	}
	buf := []byte{1, 2, 3}
	f := open("/dev/null", unix.O_RDWR)
	if n, err := f.Read(ctx, buf); n != 0 || err != nil {
		t.Errorf("null read %d %v", n, err)
	}
	if n, err := f.Write(ctx, buf); n != 3 || err != nil {
		t.Errorf("null write %d %v", n, err)
	}
	st, _ := f.Stat(ctx)
	if st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("null stat mode %o rdev %x", st.Mode, st.Rdev)
	}
	f.DecRef()
	f = open("/dev/zero", unix.O_RDONLY)
	if n, _ := f.Read(ctx, buf); n != 3 || buf[0] != 0 || buf[2] != 0 {
		t.Errorf("zero read %v", buf)
	}
	if _, err := f.Mappable(); err != nil {
		t.Errorf("zero mappable: %v", err)
	}
	f.DecRef()
	f = open("/dev/full", unix.O_WRONLY)
	if _, err := f.Write(ctx, buf); err != unix.ENOSPC {
		t.Errorf("full write %v", err)
	}
	f.DecRef()
	f = open("/dev/urandom", unix.O_RDONLY)
	big := make([]byte, 64)
	if n, _ := f.Read(ctx, big); n != 64 {
		t.Errorf("urandom %d", n)
	}
	f.DecRef()
	if l, err := v.Readlink(ctx, fsc.PathOp(vfs.VirtualDentry{}, "/dev/stdout", false)); err != nil || l != "/proc/self/fd/1" {
		t.Errorf("stdout link %q %v", l, err)
	}
	f = open("/dev/shm/x", unix.O_CREAT|unix.O_RDWR)
	f.DecRef()
	if _, err := v.Open(ctx, fsc.PathOp(vfs.VirtualDentry{}, "/x", true), unix.O_CREAT|unix.O_RDWR, 0o644); err != unix.EROFS {
		t.Errorf("ro root create: %v", err)
	}
	// mknod'ed device node elsewhere opens the same device.
	if err := v.Mknod(ctx, fsc.PathOp(vfs.VirtualDentry{}, "/dev/shm/mynull", false), unix.S_IFCHR|0o666, unix.Mkdev(1, 3)); err != nil {
		t.Fatal(err)
	}
	f = open("/dev/shm/mynull", unix.O_WRONLY)
	if n, _ := f.Write(ctx, buf); n != 3 {
		t.Errorf("mknod null write %d", n)
	}
	f.DecRef()
	if err := v.Mknod(vfstest.User(1, 1), fsc.PathOp(vfs.VirtualDentry{}, "/dev/shm/c", false), unix.S_IFCHR|0o666, 0); err != unix.EPERM {
		t.Errorf("user mknod chr: %v", err)
	}
	if err := v.Mknod(ctx, fsc.PathOp(vfs.VirtualDentry{}, "/dev/shm/fifo", false), unix.S_IFIFO|0o666, 0); err != unix.EPERM {
		t.Errorf("mknod fifo without pipe impl: %v", err)
	}
}
