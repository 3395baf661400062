package tests

import (
	"strings"
	"testing"
)

func TestStraceFlag(t *testing.T) {
	r := runsc(t, opts{}, "--strace", "do", busybox, "true")
	expect(t, r, 0, "")
	if !strings.Contains(r.stderr, "exit_group") {
		t.Errorf("--strace: stderr does not mention exit_group%s", r)
	}
	// Without --strace, system calls are not logged.
	r = runsc(t, opts{}, "do", busybox, "true")
	expect(t, r, 0, "")
	if strings.Contains(r.stderr, "exit_group") {
		t.Errorf("without --strace, stderr mentions exit_group%s", r)
	}
}

func TestPlatformFlag(t *testing.T) {
	r := runsc(t, opts{}, "--platform=ptrace", "do", busybox, "echo", "ptrace")
	expect(t, r, 0, "ptrace\n")
}

func TestDebugFlag(t *testing.T) {
	t.Skip("the format of the --debug report of unimplemented syscalls is not settled yet")
}
