package tests

import (
	"os"
	"regexp"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tryExpect is expect without failing: it reports whether re matched
// within timeout (and consumes the match if so).
func (p *ptyProc) tryExpect(re *regexp.Regexp, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		loc := re.FindIndex(p.out[p.pos:])
		if loc != nil {
			p.pos += loc[1]
		}
		p.mu.Unlock()
		if loc != nil {
			return true
		}
		select {
		case <-p.notify:
		case <-p.exited:
			return false
		case <-deadline.C:
			return false
		}
	}
}

// key types a job-control key until its effect (re) shows: if it came
// before the job was in the terminal's foreground, the shell got the
// signal and ignored it, and the key must be typed again. (Not a timing
// assertion: a slow machine only takes more rounds.)
func (p *ptyProc) key(k string, re *regexp.Regexp) {
	p.t.Helper()
	for i := 0; i < 20; i++ {
		p.send(k)
		if p.tryExpect(re, 3*time.Second) {
			return
		}
	}
	p.t.Fatalf("typing %q never gave %q%s", k, re, p.transcript())
}

// TestInteractiveShell drives an interactive shell through a pty, as a
// person at a terminal would: `runsc do bash -i` (and busybox sh) must
// behave as the same shell run natively, which the same script checks
// first: the prompt, echo, the window size and its changes, ^C ending
// the foreground job and not the shell (nor the sandbox), background
// jobs, jobs, fg, ^Z stopping the foreground job, bg, and exit.
func TestInteractiveShell(t *testing.T) {
	shells := map[string][]string{
		"bash":    {"/bin/bash", "--norc", "--noprofile", "-i"},
		"busybox": {busybox, "sh", "-i"},
	}
	if _, err := os.Stat("/bin/bash"); err != nil {
		delete(shells, "bash")
	}
	for _, name := range []string{"bash", "busybox"} {
		sh, ok := shells[name]
		if !ok {
			continue
		}
		for _, where := range []string{"native", "runsc"} {
			t.Run(name+"/"+where, func(t *testing.T) {
				argv := append([]string{"env", "PS1=veil$ "}, sh...)
				if where == "runsc" {
					needRunsc(t)
					argv = append([]string{"env", "PS1=veil$ ", runscPath, "do"}, sh...)
				}
				p := startPty(t, 30, 100, argv...)
				interactiveSession(t, p)
				// runsc made its terminal raw meanwhile: it must be
				// back to cooked mode.
				var tios *unix.Termios
				err := control(p.master, func(fd int) (err error) {
					tios, err = unix.IoctlGetTermios(fd, unix.TCGETS)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := uint32(unix.ICANON | unix.ECHO | unix.ISIG); tios.Lflag&want != want || tios.Oflag&unix.OPOST == 0 {
					t.Errorf("the terminal was left with lflag %#x oflag %#x", tios.Lflag, tios.Oflag)
				}
			})
		}
	}
}

func interactiveSession(t *testing.T, p *ptyProc) {
	const wait = 30 * time.Second
	prompt := regexp.MustCompile(`veil\$ `)
	re := regexp.MustCompile
	p.expect(prompt, wait)

	// The quotes keep the typed command (echoed) apart from its output.
	p.send("echo hel''lo\r")
	p.expect(re(`echo hel''lo\r\n`), wait)
	p.expect(re(`hello\r\n`), wait)
	p.expect(prompt, wait)

	p.send("stty size; tty | sed 's,[0-9]*$,N,'\r")
	p.expect(re(`30 100\r\n/dev/pts/N\r\n`), wait)
	p.expect(prompt, wait)
	p.resize(40, 120)
	p.send("stty size\r")
	p.expect(re(`40 120\r\n`), wait)
	p.expect(prompt, wait)

	// ^C ends the foreground job; the shell goes on.
	p.send("sh -c 'echo sle''eping; exec sleep 100'\r")
	p.expect(re(`sleeping\r\n`), wait)
	p.key("\x03", prompt)
	p.send("echo status $?\r")
	p.expect(re(`status 130\r\n`), wait)
	p.expect(prompt, wait)

	// A background job, jobs, fg, ^Z, bg.
	p.send("sleep 100 &\r")
	p.expect(prompt, wait)
	p.send("jobs\r")
	p.expect(re(`\[1\]\+\s+Running\s+sleep 100`), wait)
	p.expect(prompt, wait)
	p.send("fg\r")
	p.expect(re(`sleep 100\r\n`), wait)
	p.key("\x1a", re(`\[1\]\+\s+Stopped\s+sleep 100`))
	p.expect(prompt, wait)
	p.send("jobs\r")
	p.expect(re(`\[1\]\+\s+Stopped\s+sleep 100`), wait)
	p.expect(prompt, wait)
	p.send("bg\r")
	p.expect(re(`\[1\]\+? sleep 100`), wait)
	p.expect(prompt, wait)
	p.send("jobs\r")
	p.expect(re(`\[1\]\+\s+Running\s+sleep 100`), wait)
	p.expect(prompt, wait)
	p.send("fg\r")
	p.expect(re(`sleep 100\r\n`), wait)
	p.key("\x03", prompt)
	p.send("jobs; echo no-''jobs\r")
	p.expect(re(`no-jobs\r\n`), wait)
	p.expect(prompt, wait)

	p.send("exit 3\r")
	if code := p.wait(wait); code != 3 {
		t.Errorf("exit code %d, want 3%s", code, p.transcript())
	}
}

// TestInterruptOnTerminal: ^C typed on runsc's terminal ends `runsc do
// sleep 100` (pid 1 inside, without a handler), as it ends sleep run
// natively: the relayed terminal's keys count as signals from outside.
func TestInterruptOnTerminal(t *testing.T) {
	needRunsc(t)
	p := startPty(t, 24, 80, runscPath, "do", busybox, "sh", "-c", "echo sle''eping; exec sleep 100")
	p.expect(regexp.MustCompile(`sleeping\r\n`), defaultTimeout)
	p.send("\x03")
	if code := p.wait(defaultTimeout); code != 130 {
		t.Errorf("exit code %d, want 130 (SIGINT)%s", code, p.transcript())
	}
}

// TestInterruptFromShell: ^C in the shell that runs `runsc do` with stdin
// not a terminal (the host's line discipline signals runsc's process
// group) ends the command through runsc: the gofer and the Sentry are in
// sessions of their own and do not get it (a gofer killed by it would end
// the sandbox with 125).
func TestInterruptFromShell(t *testing.T) {
	needRunsc(t)
	p := startPty(t, 24, 80, busybox, "sh", "-c", "exec "+runscPath+" do "+busybox+" sh -c 'echo star''ted; exec sleep 100' </dev/null")
	p.expect(regexp.MustCompile(`started\r\n`), defaultTimeout)
	p.send("\x03")
	if code := p.wait(defaultTimeout); code != 130 {
		t.Errorf("exit code %d, want 130 (SIGINT)%s", code, p.transcript())
	}
}
