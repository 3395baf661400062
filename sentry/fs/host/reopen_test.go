package host_test

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// reopen opens f's inode again, as opening /proc/self/fd/N does.
func reopen(t *testing.T, f *vfs.FileDescription, flags uint32) (*vfs.FileDescription, error) {
	t.Helper()
	impl, err := f.Inode().Open(vfstest.Root(), flags)
	if err != nil {
		return nil, err
	}
	return vfs.NewFileDescription(impl, flags, f.Inode(), f.PathName()), nil
}

func TestReopen(t *testing.T) {
	ctx := vfstest.Root()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, err := host.NewFile(ctx, p[0], true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := host.NewFile(ctx, p[1], true)
	if err != nil {
		t.Fatal(err)
	}

	// The host descriptor's access mode limits the reopen's.
	for _, c := range []struct {
		f     *vfs.FileDescription
		flags uint32
	}{{r, unix.O_WRONLY}, {r, unix.O_RDWR}, {w, unix.O_RDONLY}, {w, unix.O_RDWR}} {
		if _, err := reopen(t, c.f, c.flags); err != unix.EACCES {
			t.Errorf("reopen of %s with %#o: %v, want EACCES", c.f.PathName(), c.flags, err)
		}
	}

	r2, err := reopen(t, r, unix.O_RDONLY)
	if err != nil {
		t.Fatalf("reopen read end: %v", err)
	}
	w2, err := reopen(t, w, unix.O_WRONLY)
	if err != nil {
		t.Fatalf("reopen write end: %v", err)
	}
	if _, err := w2.Write(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := r2.Read(ctx, buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read through reopen: %q %v", buf[:n], err)
	}
	st1, _ := r.Stat(ctx)
	st2, err := r2.Stat(ctx)
	if err != nil || st1.Ino != st2.Ino || st2.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("stat of reopen: %+v %v", st2, err)
	}

	// The originals go; the reopens keep the pipe (and fstat) working.
	r.DecRef()
	w.DecRef()
	if _, err := r2.Stat(ctx); err != nil {
		t.Errorf("stat after the original closed: %v", err)
	}
	if _, err := w2.Write(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := r2.Read(ctx, buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("read after the original closed: %q %v", buf[:n], err)
	}
	// Last writer gone: EOF.
	w2.DecRef()
	if n, err := r2.Read(ctx, buf); err != nil || n != 0 {
		t.Fatalf("want EOF, got %d %v", n, err)
	}
	ino := r2.Inode()
	r2.DecRef()
	// Everything released: the host descriptor is closed and never used
	// again (its number may be reused).
	if _, err := ino.Stat(ctx); err != unix.EBADF {
		t.Errorf("stat after release: %v", err)
	}
	if _, err := ino.Open(ctx, unix.O_RDONLY); err != unix.ENXIO {
		t.Errorf("open after release: %v", err)
	}
}

func TestReopenNotOwned(t *testing.T) {
	ctx := vfstest.Root()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	w, err := host.NewFile(ctx, p[1], false)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := reopen(t, w, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	w.DecRef()
	w2.DecRef()
	// p[1] still belongs to the caller.
	if _, err := unix.Write(p[1], []byte("k")); err != nil {
		t.Fatalf("caller's descriptor closed: %v", err)
	}
}

func TestReopenSocket(t *testing.T) {
	ctx := vfstest.Root()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[1])
	f, err := host.NewFile(ctx, sp[0], true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if _, err := reopen(t, f, unix.O_RDWR); err != unix.ENXIO {
		t.Errorf("reopening a socket: %v, want ENXIO", err)
	}
}
