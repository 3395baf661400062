package tests

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPlatformFlag runs a program on each platform asked for by name, and
// checks with --debug that the Sentry used that one.
func TestPlatformFlag(t *testing.T) {
	for _, p := range []string{"systrap", "ptrace"} {
		r := runsc(t, opts{}, "--debug", "--platform="+p, "do", busybox, "echo", p)
		expect(t, r, 0, p+"\n")
		if !strings.Contains(r.stderr, "platform: "+p) {
			t.Errorf("--platform=%s: the debug log does not say the Sentry ran on it%s", p, r)
		}
	}
	// auto picks systrap where it works, and says so.
	r := runsc(t, opts{}, "--debug", "--platform=auto", "do", busybox, "true")
	expect(t, r, 0, "")
	if !strings.Contains(r.stderr, "platform: systrap (auto)") && !strings.Contains(r.stderr, "platform: ptrace (auto:") {
		t.Errorf("--platform=auto: the debug log does not say which platform it chose%s", r)
	}
	// The default is the platform the tests were asked to run on.
	want := os.Getenv("VEIL_E2E_PLATFORM")
	if want == "" || os.Getenv("VEIL_E2E_RUNSC") != "" {
		return
	}
	r = runsc(t, opts{}, "--debug", "do", busybox, "true")
	expect(t, r, 0, "")
	if !strings.Contains(r.stderr, "platform: "+want) {
		t.Errorf("the default platform is not %s (VEIL_E2E_PLATFORM)%s", want, r)
	}
}

// TestBusyLoopInterrupted: a program that computes without ever making a
// system call still stops at once when the sandbox is told to (the
// platform must interrupt a thread running application code).
func TestBusyLoopInterrupted(t *testing.T) {
	needRunsc(t)
	for _, threads := range []string{"1", "3"} {
		// sh's `:` and `while` are builtins: the loops never trap.
		script := "i=1; while [ $i -lt " + threads + " ]; do (while :; do :; done) & i=$((i+1)); done; echo ready; while :; do :; done"
		cmd := exec.Command(runscPath, "do", busybox, "sh", "-c", script)
		var out strings.Builder
		cmd.Stdout = &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for deadline := time.Now().Add(defaultTimeout); !strings.Contains(out.String(), "ready"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the loops did not start (stdout %q)", out.String())
			}
		}
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(syscall.SIGTERM) // forwarded to the first process, which has no handler
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s busy loop(s) still running 5s after SIGTERM", threads)
		}
		if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
			t.Errorf("exit code %d, want %d", code, 128+int(syscall.SIGTERM))
		}
		t.Logf("%s busy loop(s) stopped %v after SIGTERM", threads, time.Since(start).Round(time.Millisecond))
	}
}
