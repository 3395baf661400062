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

// TestDebugFlag checks that --debug names the unimplemented syscalls a
// program made (rawsys calls syscall number 1000, which Linux lacks too)
// and that they fail with ENOSYS rather than pretending to work.
func TestDebugFlag(t *testing.T) {
	n := nonce(t)
	r := runsc(t, opts{}, "--debug", "do", prog("rawsys"), n, workDir)
	checkNoCrash(t, r)
	if !strings.Contains(r.stdout, "enosys=-38") {
		t.Errorf("syscall 1000 did not fail with ENOSYS%s", r)
	}
	if !strings.Contains(r.stderr, "unimplemented syscalls") || !strings.Contains(r.stderr, "syscall_1000: 1") {
		t.Errorf("--debug: stderr does not report syscall_1000 once%s", r)
	}
	r = runsc(t, opts{}, "do", prog("rawsys"), n+"b", workDir)
	if strings.Contains(r.stderr, "unimplemented") {
		t.Errorf("without --debug, stderr reports unimplemented syscalls%s", r)
	}
}
