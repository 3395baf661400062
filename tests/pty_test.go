package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptyProc is a command running with a pseudo-terminal as its controlling
// terminal and stdio, as when a person types `docker run -it` in a shell.
// Its output accumulates; expect waits for a pattern in what arrived after
// the previous match.
type ptyProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File

	mu     sync.Mutex
	out    []byte
	pos    int           // end of the last match
	notify chan struct{} // a token after each read

	exited  chan struct{} // closed when the command has exited
	waitErr error
}

// openPty returns the master and the slave of a new pseudo-terminal pair
// with the given window size.
func openPty(rows, cols uint16) (master, slave *os.File, err error) {
	// Through os.OpenFile the master is non-blocking in Go's poller, so a
	// Close unblocks a pending Read.
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
			return fmt.Errorf("unlockpt: %v", err)
		}
		var err error
		if n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil { // ptsname
			return fmt.Errorf("ptsname: %v", err)
		}
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
	if err == nil {
		slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// control runs f on the descriptor of f without putting it in blocking mode
// (as File.Fd would).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// startPty starts argv in a new session whose controlling terminal is the
// slave of a new pty (rows x cols). The process group is killed and the pty
// closed when the test ends.
func startPty(t *testing.T, rows, cols uint16, argv ...string) *ptyProc {
	t.Helper()
	master, slave, err := openPty(rows, cols)
	if err != nil {
		t.Fatalf("opening a pty: %v", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// Ctty is a descriptor number in the child: its stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	slave.Close() // the child has it; reads then end with EIO once it exits
	if err != nil {
		master.Close()
		t.Fatalf("starting %s on a pty: %v", shellQuote(argv), err)
	}
	p := &ptyProc{t: t, cmd: cmd, master: master, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	go p.readLoop()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		// The session leader's pid is its process group's id.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not exit after SIGKILL", argv[0])
		}
		master.Close()
	})
	t.Logf("started on a pty (%dx%d): %s", rows, cols, shellQuote(argv))
	return p
}

func (p *ptyProc) readLoop() {
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		if n > 0 {
			p.mu.Lock()
			p.out = append(p.out, buf[:n]...)
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
		if err != nil { // EIO when the last slave closes, or our Close
			return
		}
	}
}

// transcript is everything the command printed, quoted, for failure messages.
func (p *ptyProc) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := string(p.out)
	state := "still running"
	select {
	case <-p.exited:
		state = "exited: " + exitDescription(p.cmd, p.waitErr)
	default:
	}
	return fmt.Sprintf("\n  command: %s (%s)\n  --- terminal output (%d bytes, quoted) ---\n    %s\n  ---",
		shellQuote(p.cmd.Args), state, len(s), strconv.Quote(clip(s)))
}

func exitDescription(cmd *exec.Cmd, err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) || err == nil {
		return cmd.ProcessState.String()
	}
	return err.Error()
}

// expect waits until output that arrived after the previous match matches
// re, and returns the match. It fails the test on timeout or when the
// command exits without printing it.
func (p *ptyProc) expect(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		loc := re.FindIndex(p.out[p.pos:])
		var m string
		if loc != nil {
			m = string(p.out[p.pos+loc[0] : p.pos+loc[1]])
			p.pos += loc[1]
		}
		p.mu.Unlock()
		if loc != nil {
			return m
		}
		select {
		case <-p.notify:
		case <-p.exited:
			// Let the reader drain what the command printed last.
			select {
			case <-p.notify:
				continue
			case <-time.After(200 * time.Millisecond):
			}
			p.mu.Lock()
			ok := re.Match(p.out[p.pos:])
			p.mu.Unlock()
			if !ok {
				p.t.Fatalf("the command exited before printing %q%s", re, p.transcript())
			}
		case <-deadline.C:
			p.t.Fatalf("no %q on the terminal within %v%s", re, timeout, p.transcript())
		}
	}
}

// send types s (e.g. "echo hi\r", or "\x03" for ^C).
func (p *ptyProc) send(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("writing %q to the pty: %v%s", s, err, p.transcript())
	}
}

// resize sets the terminal's window size; the kernel sends SIGWINCH to its
// foreground process group, as a terminal emulator's resize does.
func (p *ptyProc) resize(rows, cols uint16) {
	p.t.Helper()
	err := control(p.master, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
	if err != nil {
		p.t.Fatalf("TIOCSWINSZ: %v", err)
	}
}

// wait waits for the command to exit and returns its exit code (128+N for
// death by signal N).
func (p *ptyProc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("did not exit within %v%s", timeout, p.transcript())
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		p.t.Fatalf("no wait status: %v", p.waitErr)
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
