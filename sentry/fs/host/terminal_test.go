package host_test

import (
	"fmt"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// openPTY returns a new host pseudo-terminal: master, slave and number.
func openPTY(t *testing.T) (int, int, int) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { unix.Close(m) })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s, n
}

func TestTerminal(t *testing.T) {
	ctx := vfstest.Root()
	master, slave, n := openPTY(t)
	f, err := host.NewFile(ctx, slave, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.PathName(), fmt.Sprintf("/dev/pts/%d", n); got != want {
		t.Errorf("PathName %q, want %q", got, want)
	}
	term := host.PseudoTerminals()[int64(n)]
	if term == nil {
		t.Fatalf("pts %d not among %v", n, host.PseudoTerminals())
	}
	// What ttyname(3) compares.
	fst, _ := f.Stat(ctx)
	tst, err := term.Stat(ctx)
	if err != nil || tst.Dev != fst.Dev || tst.Ino != fst.Ino || tst.Rdev != fst.Rdev || tst.Mode != fst.Mode {
		t.Errorf("terminal stat %+v, %v; descriptor's %+v", tst, err, fst)
	}
	if tty := host.TTYOf(f); tty == nil || tty.Device() != term {
		t.Errorf("the descriptor's TTY does not lead back to its terminal")
	}
	// Opening the terminal makes a new description on a dup.
	impl, err := term.Open(ctx, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := impl.Write(ctx, []byte("hi"), -1, false); n != 2 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	buf := make([]byte, 8)
	if n, err := unix.Read(master, buf); err != nil || string(buf[:n]) != "hi" {
		t.Errorf("master read %q, %v", buf[:n], err)
	}
	// Once the sandbox has no descriptor of it, the terminal is gone.
	f.DecRef()
	if host.PseudoTerminals()[int64(n)] == nil {
		t.Errorf("terminal gone while a reopened description is open")
	}
	impl.Release()
	if host.PseudoTerminals()[int64(n)] != nil {
		t.Errorf("terminal still listed after every description was released")
	}
	if _, err := term.Reopen(ctx, unix.O_RDWR); err != unix.ENXIO {
		t.Errorf("reopen of a terminal without descriptors: %v, want ENXIO", err)
	}
	if _, err := term.Stat(ctx); err != unix.ENOENT {
		t.Errorf("stat of a terminal without descriptors: %v, want ENOENT", err)
	}
}

// A descriptor opened read-only cannot be reopened for writing; another
// one of the same terminal can.
func TestTerminalReopenPicksADescriptor(t *testing.T) {
	ctx := vfstest.Root()
	_, slave, n := openPTY(t)
	ro, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := host.NewFile(ctx, ro, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	term := host.PseudoTerminals()[int64(n)]
	if _, err := term.Reopen(ctx, unix.O_WRONLY); err != unix.EACCES {
		t.Errorf("write reopen with only a read-only descriptor: %v, want EACCES", err)
	}
	w, err := host.NewFile(ctx, slave, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.DecRef()
	impl, err := term.Reopen(ctx, unix.O_WRONLY)
	if err != nil {
		t.Fatalf("write reopen: %v", err)
	}
	impl.Release()
}
