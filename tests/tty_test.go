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

// runOnTerminal runs `runsc do busybox sh -c script` with the slave of a
// host pty as the descriptors in onTerm (the others are pipes), the
// slave being the controlling terminal of runsc's session. It returns
// stdout and stderr where they are pipes, and everything the terminal's
// master read until EIO (once the sandbox and runsc are gone).
func runOnTerminal(t *testing.T, script string, onTerm ...int) (stdout, stderr, term string, n int) {
	t.Helper()
	master, slave, n := openPTY(t)
	cmd := exec.Command(runscPath, "do", busybox, "sh", "-c", script)
	var outb, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &outb, &errb
	for _, fd := range onTerm {
		switch fd {
		case 0:
			cmd.Stdin = slave
		case 1:
			cmd.Stdout = slave
		case 2:
			cmd.Stderr = slave
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: onTerm[0]}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
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
			t.Errorf("runsc: %v (stderr %q)", err, errb.String())
		}
	case <-time.After(defaultTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatal("timed out")
	}
	select {
	case term = <-fromTerm:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal's master never read EIO after runsc exited")
	}
	return outb.String(), errb.String(), term, n
}

// TestTerminalNames: with a terminal as stdin (and runsc's controlling
// terminal), `runsc do` gives the command a pseudo-terminal of the
// Sentry's, /dev/pts/0, which tty(1) names and which exists inside along
// with /dev/pts/ptmx; /dev/tty writes reach the host terminal through the
// relay. stdout and stderr are pipes and stay pipes.
func TestTerminalNames(t *testing.T) {
	needRunsc(t)
	script := `tty; t=$(tty); [ -c "$t" ] && echo "$t exists"; ls -l /proc/self/fd/0 | sed 's/.* -> //'
[ -e /dev/tty ] && echo hastty
ls /dev/pts
[ -t 1 ] || echo stdout-is-not-a-terminal
echo via-dev-tty > /dev/tty && echo written`
	stdout, stderr, term, _ := runOnTerminal(t, script, 0)
	want := "/dev/pts/0\n/dev/pts/0 exists\n/dev/pts/0\nhastty\n0\nptmx\nstdout-is-not-a-terminal\nwritten\n"
	if stdout != want {
		t.Errorf("stdout %q, want %q (stderr %q)", stdout, want, stderr)
	}
	if !strings.Contains(term, "via-dev-tty\r\n") {
		t.Errorf("the write to /dev/tty did not reach the terminal (through ONLCR): it read %q", term)
	}
}

// TestHostTerminalNames: a host terminal given as a descriptor other than
// stdin stays the host's: /proc/self/fd/1 names it under its host number,
// which /dev/pts lists next to ptmx.
func TestHostTerminalNames(t *testing.T) {
	needRunsc(t)
	script := `exec 3>&1; readlink /proc/self/fd/3 >&2; ls /dev/pts >&2; [ -t 1 ] && echo on-the-terminal`
	_, stderr, term, n := runOnTerminal(t, script, 1)
	if want := fmt.Sprintf("/dev/pts/%d\n%d\nptmx\n", n, n); stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if !strings.Contains(term, "on-the-terminal") {
		t.Errorf("stdout did not reach the terminal: it read %q", term)
	}
}

// TestNoTerminal: without a terminal tty(1) says so, /dev/tty cannot
// be opened and /dev/pts holds only ptmx.
func TestNoTerminal(t *testing.T) {
	r := sandbox(t, opts{}, bb("sh", "-c", "tty; echo x > /dev/tty; ls /dev/pts")...)
	expect(t, r, 0, "not a tty\nptmx\n")
	if !strings.Contains(r.stderr, "/dev/tty: No such device or address") {
		t.Errorf("opening /dev/tty should fail with ENXIO%s", r)
	}
}
