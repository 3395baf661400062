package dev_test

import (
	"fmt"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/dev"
	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func TestTerminals(t *testing.T) {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{}).Root(), vfs.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := dev.Mount(ctx, v); err != nil {
		t.Fatal(err)
	}
	fsc := vfs.NewFSContext(v.Root(), v.Root(), 0o022)
	pop := func(p string) vfs.PathOperation { return fsc.PathOp(vfs.VirtualDentry{}, p, true) }
	for _, c := range []struct {
		path  string
		mode  uint32
		major uint32
		minor uint32
		err   error
	}{{"/dev/tty", 0o666, 5, 0, unix.ENXIO}, {"/dev/console", 0o600, 5, 1, unix.ENODEV}} {
		st, err := v.Stat(ctx, pop(c.path))
		if err != nil || st.Mode != unix.S_IFCHR|c.mode || st.Rdev != unix.Mkdev(c.major, c.minor) {
			t.Errorf("%s: mode %o rdev %x, %v", c.path, st.Mode, st.Rdev, err)
		}
		// Not a task: no controlling terminal, no first process.
		if _, err := v.Open(ctx, pop(c.path), unix.O_RDWR, 0); err != c.err {
			t.Errorf("open %s: %v, want %v", c.path, err, c.err)
		}
	}

	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	defer unix.Close(m)
	unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0)
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	if _, err := v.Stat(ctx, pop(name)); err != unix.ENOENT {
		t.Errorf("stat %s before the sandbox has it: %v, want ENOENT", name, err)
	}
	s, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := host.NewFile(ctx, s, true)
	if err != nil {
		t.Fatal(err)
	}
	fst, _ := f.Stat(ctx)
	st, err := v.Stat(ctx, pop(name))
	if err != nil || st.Dev != fst.Dev || st.Ino != fst.Ino || st.Rdev != fst.Rdev {
		t.Errorf("stat %s: %+v, %v; the descriptor's: %+v", name, st, err, fst)
	}
	dir, err := v.Open(ctx, pop("/dev/pts"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := dir.Inode().Getdents(ctx)
	dir.DecRef()
	found := false
	for _, e := range ents {
		if e.Name == fmt.Sprint(n) && e.Type == unix.DT_CHR && e.Ino == fst.Ino {
			found = true
		}
	}
	if err != nil || !found {
		t.Errorf("/dev/pts lists %+v, %v; want %d", ents, err, n)
	}
	pf, err := v.Open(ctx, pop(name), unix.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	if _, err := pf.Write(ctx, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if k, err := unix.Read(m, buf); err != nil || string(buf[:k]) != "ok" {
		t.Errorf("master read %q, %v", buf[:k], err)
	}
	pf.DecRef()
	f.DecRef()
	if _, err := v.Stat(ctx, pop(name)); err != unix.ENOENT {
		t.Errorf("stat %s once the sandbox has no descriptor of it: %v, want ENOENT", name, err)
	}
}
