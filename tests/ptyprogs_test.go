package tests

import (
	"os"
	"path/filepath"
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
