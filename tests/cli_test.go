package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCLIHelp: help is there as `runsc help [COMMAND]` and `COMMAND
// --help`, needs no root, and a mistake is one line pointing at --help.
func TestCLIHelp(t *testing.T) {
	t.Run("help", func(t *testing.T) {
		r := runsc(t, opts{}, "help")
		expectCode(t, r, 0)
		for _, want := range []string{"usage: runsc", "do ", "install ", "uninstall ", "-platform"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("runsc help does not mention %q%s", want, r)
			}
		}
		if strings.Contains(r.stdout, "gofer") || strings.Contains(r.stdout, "exec-wait") {
			t.Errorf("runsc help lists runsc's internal commands%s", r)
		}
	})
	for _, args := range [][]string{{"help", "install"}, {"install", "--help"}, {"install", "-h"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			r := runsc(t, opts{}, args...)
			expectCode(t, r, 0)
			if !strings.HasPrefix(r.stdout, "usage: runsc install ") || !strings.Contains(r.stdout, "-config") || !strings.Contains(r.stdout, "-runtime") {
				t.Errorf("not install's usage with its flags%s", r)
			}
		})
	}
	t.Run("help-as-nobody", func(t *testing.T) {
		r := asNobody(t, "run", "--help")
		expectCode(t, r, 0)
		if !strings.HasPrefix(r.stdout, "usage: runsc run ") {
			t.Errorf("run --help as an unprivileged user does not show run's usage%s", r)
		}
	})
	for name, args := range map[string][]string{
		"unknown-global-flag":  {"--no-such-flag", "do", busybox, "true"},
		"unknown-command-flag": {"do", "--no-such-flag", busybox, "true"},
		"unknown-command":      {"no-such-command"},
		"help-unknown-command": {"help", "no-such-command"},
		"global-flag-no-value": {"--root"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runsc(t, opts{}, args...)
			checkOneLineError(t, r)
			if !strings.Contains(r.stderr, "--help") {
				t.Errorf("the error does not point to --help%s", r)
			}
		})
	}
}

// expectCode checks a run's exit code, after ruling out a crash.
func expectCode(t *testing.T, r *result, code int) {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != code {
		t.Errorf("exit code %d, want %d%s", r.code, code, r)
	}
}

// asNobody runs runsc with the uid and gid of nobody and no groups.
func asNobody(t *testing.T, args ...string) *result {
	t.Helper()
	needRunsc(t)
	cmd := append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", runscPath}, args...)
	return run(opts{dir: "/"}, cmd...)
}

// checkSays requires a one-line error that contains each of the words.
func checkSays(t *testing.T, r *result, words ...string) {
	t.Helper()
	checkOneLineError(t, r)
	for _, w := range words {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the error does not say %q%s", w, r)
		}
	}
}

// TestHostRequirements: on a host that lacks what a sandbox needs, runsc
// says in one line what is missing instead of failing somewhere inside.
// Each case takes the feature away from runsc alone (a seccomp filter,
// dropped credentials, a private /dev), never from the host.
func TestHostRequirements(t *testing.T) {
	needRunsc(t)
	t.Run("not-root", func(t *testing.T) {
		for _, cmd := range [][]string{{"do", busybox, "true"}, {"list"}, {"run", "--bundle", "/nonexistent", "x"}} {
			checkSays(t, asNobody(t, cmd...), "needs root", "sudo")
		}
	})
	t.Run("no-cap-sys-admin", func(t *testing.T) {
		r := run(opts{}, "setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", runscPath, "do", busybox, "true")
		checkSays(t, r, "CAP_SYS_ADMIN")
	})
	for _, platform := range []string{"systrap", "ptrace"} {
		t.Run("no-ptrace-"+platform, func(t *testing.T) {
			r := run(opts{}, prog("denyhost"), "ptrace", runscPath, "--platform="+platform, "do", busybox, "true")
			checkSays(t, r, "ptrace(2) is forbidden", "seccomp profile", "ptrace_scope")
		})
	}
	t.Run("no-seccomp", func(t *testing.T) {
		r := run(opts{}, prog("denyhost"), "seccomp", runscPath, "do", busybox, "true")
		checkSays(t, r, "seccomp filters are not available", "CONFIG_SECCOMP_FILTER")
	})
	t.Run("no-dev-kvm", func(t *testing.T) {
		// A mount namespace of its own whose /dev is an empty tmpfs:
		// the host's /dev is untouched.
		r := run(opts{}, "unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs tmpfs /dev && exec "$0" --platform=kvm do /bin/true`, runscPath)
		checkSays(t, r, "needs /dev/kvm")
	})
	// Veil does not use the host's user namespaces (the Sentry makes the
	// application's own), so a host without them runs it, and `unshare
	// -r` still works inside the sandbox though it fails outside.
	t.Run("no-user-namespaces-is-fine", func(t *testing.T) {
		r := run(opts{}, prog("denyhost"), "userns", "unshare", "-r", "true")
		if r.code == 0 {
			t.Fatalf("denyhost userns did not take user namespaces away%s", r)
		}
		r = run(opts{}, prog("denyhost"), "userns", runscPath, "do", "/usr/bin/unshare", "-r", "id", "-u")
		expect(t, r, 0, "0\n")
	})
}

// TestDoDocClaims checks what the user guide says of `runsc do`: the
// working directory is the caller's (a directory below /tmp, which the
// sandbox replaces, is a one-line error), and the exit codes. ^C is
// TestInterruptOnTerminal and TestInterruptFromShell.
func TestDoDocClaims(t *testing.T) {
	t.Run("cwd", func(t *testing.T) {
		expect(t, sandbox(t, opts{dir: binDir}, busybox, "pwd"), 0, binDir+"\n")
		expect(t, sandbox(t, opts{dir: "/tmp"}, busybox, "sh", "-c", "pwd; ls -A | wc -l"), 0, "/tmp\n0\n")
		below, err := os.MkdirTemp("/tmp", "veil-e2e-cwd-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(below) })
		checkSays(t, sandbox(t, opts{dir: below}, busybox, "pwd"), below, "below /tmp")
	})
	notExec := filepath.Join(workDir, "not-executable-"+nonce(t))
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		argv []string
		code int
	}{
		{"program-status", []string{busybox, "sh", "-c", "exit 42"}, 42},
		{"death-by-signal", []string{prog("segv")}, 128 + int(syscall.SIGSEGV)},
		{"not-found", []string{"/nonexistent/program"}, 127},
		{"not-executable", []string{notExec}, 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectCode(t, sandbox(t, opts{}, tc.argv...), tc.code)
		})
	}
}
