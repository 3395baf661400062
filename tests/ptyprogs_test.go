package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// ptySpawnScript runs a shell on a pseudo-terminal with python's
// pty.spawn (openpty, fork, login_tty, a select loop copying the master
// to stdout until EIO), as tools like expect and pexpect do.
const ptySpawnScript = `import os, pty
st = pty.spawn(["/bin/sh", "-c", "tty | sed 's,[0-9]*$,N,'; stty size; [ -t 0 ] && [ -t 1 ] && echo both-ttys; stty -a | grep -o 'icanon\\| echo \\|-echo' | head -3; exit 3"])
print("status", os.waitstatus_to_exitcode(st))
`

// TestPythonPtySpawn: pty.spawn inside the sandbox prints what it prints
// natively (the child's output through ONLCR, its terminal's name and
// settings, its exit status).
func TestPythonPtySpawn(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no %s: %v", py, err)
	}
	script := filepath.Join(workDir, "ptyspawn.py")
	if err := os.WriteFile(script, []byte(ptySpawnScript), 0o644); err != nil {
		t.Fatal(err)
	}
	nat := native(t, opts{}, py, script)
	if nat.code != 0 || nat.stdout == "" {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	compareOutputs(t, nat, sandbox(t, opts{}, py, script))
}

// TestScriptOnTerminal: script(1) inside `runsc do` on a terminal makes a
// second pseudo-terminal in the sandbox (the first is the relayed one),
// copies the window size to it and relays it (with signalfd and poll),
// as on Linux.
func TestScriptOnTerminal(t *testing.T) {
	needRunsc(t)
	const script = "/usr/bin/script"
	if _, err := os.Stat(script); err != nil {
		t.Skipf("no %s: %v", script, err)
	}
	p := startPty(t, 30, 100, runscPath, "do", script, "-eqc", "tty; stty size; exit 4", "/dev/null")
	p.expect(regexp.MustCompile(`/dev/pts/1\r\n30 100\r\n`), defaultTimeout)
	if code := p.wait(defaultTimeout); code != 4 {
		t.Errorf("exit code %d, want 4 (script -e passes the command's on)%s", code, p.transcript())
	}
}

// expectScript is an expect(1) dialogue with a program on a pty it
// spawns: a prompt, an answer, the window size, ^C, the end.
const expectScript = `set timeout 20
spawn /bin/sh -c {printf 'Name? '; read n; echo "hello, $n"; stty size; exec sleep 100}
expect "Name? "
send "veil\r"
expect "hello, veil"
expect -re {(\d+) (\d+)}
send "\003"
expect eof
puts "\nexpect: exit [lrange [wait] 2 end]"
`

// TestExpect: expect(1) inside the sandbox talks to what it spawns as it
// does natively.
func TestExpect(t *testing.T) {
	const expect = "/usr/bin/expect"
	if _, err := os.Stat(expect); err != nil {
		t.Skipf("no %s (apt-get install expect; .ci/run does): %v", expect, err)
	}
	script := filepath.Join(workDir, "dialogue.exp")
	if err := os.WriteFile(script, []byte(expectScript), 0o644); err != nil {
		t.Fatal(err)
	}
	nat := native(t, opts{}, expect, script)
	if nat.code != 0 || nat.stdout == "" {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	compareOutputs(t, nat, sandbox(t, opts{}, expect, script))
}
