package tests

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOCITerminal: process.terminal=true with --console-socket: the
// runtime sends the pty master to the engine's socket, and an interactive
// shell works through it (echo, window size, isatty, ^C).
func TestOCITerminal(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		b := rt.newBundle(t, bundleOpts{terminal: true}, "sh")
		c := rt.newContainer(t, b, "tt")
		cs := newConsoleSocket(t, rt.dir)
		c.create(t, "--console-socket", cs.path)
		master := cs.master(t)
		fd := int(master.Fd())
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 77}); err != nil {
			t.Fatalf("TIOCSWINSZ on the master the runtime sent: %v", err)
		}
		pty := readPty(master)
		rt.must(t, rt.cli(t, ociOpts{}, "start", c.id), "start")
		c.waitStatus(t, "running")
		type_ := func(s string) {
			t.Helper()
			if _, err := master.Write([]byte(s)); err != nil {
				t.Fatalf("writing %q to the pty master: %v", s, err)
			}
		}
		const wait = ociStopTimeout
		// The quotes keep the typed command (echoed back by the terminal)
		// apart from its output.
		type_("echo hel''lo\n")
		off := pty.waitFor(t, 0, "echo hel''lo", wait) // the terminal echoes input
		off = pty.waitFor(t, off, "hello\r\n", wait)   // the output, through ONLCR

		type_("stty size\n")
		off = pty.waitFor(t, off, "33 77", wait)

		type_("[ -t 0 ] && [ -t 1 ] && echo is''atty\n")
		off = pty.waitFor(t, off, "isatty", wait)

		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
			t.Fatal(err)
		}
		type_("stty size\n")
		off = pty.waitFor(t, off, "40 100", wait)

		// ^C interrupts the foreground job, not the interactive shell.
		n0 := len(c.psPids(t))
		type_("sleep 100\n")
		pollPs(t, c, n0+1, "with `sleep 100` running in the shell")
		type_("\x03")
		type_("echo af''ter\n")
		off = pty.waitFor(t, off, "after", wait)
		if st := c.state(t); st.Status != "running" {
			t.Fatalf("%s: container %s after ^C, want running (the shell survives ^C)", rt.name, st.Status)
		}
		pollPs(t, c, n0, "after ^C")

		t.Run("exec-tty", func(t *testing.T) {
			cs2 := newConsoleSocket(t, rt.dir)
			rt.must(t, c.exec(t, ociOpts{}, []string{"-d", "--tty", "--console-socket", cs2.path},
				"sh", "-c", "[ -t 0 ] && echo exec-is''atty; sleep 1"), "exec -d --tty --console-socket")
			m2 := cs2.master(t)
			p2 := readPty(m2)
			p2.waitFor(t, 0, "exec-isatty", wait)
		})

		type_("exit\n")
		c.waitStatus(t, "stopped")
		_ = off
	})
}

// TestOCITerminalRequiresSocket: terminal=true without --console-socket is
// refused by create (there is nowhere to send the master).
func TestOCITerminalRequiresSocket(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		b := rt.newBundle(t, bundleOpts{terminal: true}, "sh")
		c := rt.newContainer(t, b, "tn")
		before := rt.listIDs(t)
		r := c.launch(t, ociOpts{timeout: 10 * time.Second}, "create", "--bundle", b.dir, c.id)
		checkCLIError(t, rt, r, "create with terminal=true and no --console-socket")
		if after := rt.listIDs(t); len(after) != len(before) {
			t.Errorf("%s: list changed after a failed create: %q -> %q", rt.name, before, after)
		}
	})
}
