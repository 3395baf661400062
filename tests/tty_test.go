package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY allocates a host pseudo-terminal: its master, its slave and its
// number.
func openPTY(t *testing.T) (*os.File, *os.File, int) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals on this host: %v", err)
	}
	master := os.NewFile(uintptr(m), "ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, os.NewFile(uintptr(s), "pts"), n
}

// TestTerminalNames runs `runsc do` with a terminal as stdin (and its
// controlling terminal): tty(1) names it under /dev/pts, which exists
// inside, and /dev/tty writes to it. stdout and stderr are pipes, so what
// reaches the terminal came through /dev/tty.
func TestTerminalNames(t *testing.T) {
	needRunsc(t)
	master, slave, n := openPTY(t)
	script := `tty; t=$(tty); [ -c "$t" ] && echo "$t exists"; ls -l /proc/self/fd/0 | sed 's/.* -> //'
[ -e /dev/tty ] && echo hastty
ls /dev/pts
echo via-dev-tty > /dev/tty && echo written`
	cmd := exec.Command(runscPath, "do", busybox, "sh", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	// The master reads EIO once the last descriptor of the slave is
	// closed, which is when the sandbox is gone.
	fromTerm := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for {
			k, err := master.Read(buf)
			b.Write(buf[:k])
			if err != nil {
				break
			}
		}
		fromTerm <- b.String()
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runsc: %v", err)
		}
	case <-time.After(defaultTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatal("timed out")
	}
	var term string
	select {
	case term = <-fromTerm:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal's master never read EIO after runsc exited")
	}
	pts := fmt.Sprintf("/dev/pts/%d", n)
	want := fmt.Sprintf("%s\n%s exists\n%s\nhastty\n%d\nwritten\n", pts, pts, pts, n)
	if stdout.String() != want {
		t.Errorf("stdout %q, want %q (stderr %q)", stdout.String(), want, stderr.String())
	}
	if !strings.Contains(term, "via-dev-tty") {
		t.Errorf("the write to /dev/tty did not reach the terminal: it read %q", term)
	}
}

// TestNoTerminal: without a terminal tty(1) says so and /dev/tty cannot
// be opened.
func TestNoTerminal(t *testing.T) {
	r := sandbox(t, opts{}, bb("sh", "-c", "tty; echo x > /dev/tty; ls /dev/pts | wc -l")...)
	expect(t, r, 0, "not a tty\n0\n")
	if !strings.Contains(r.stderr, "/dev/tty: No such device or address") {
		t.Errorf("opening /dev/tty should fail with ENXIO%s", r)
	}
}
