package tests

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runscProcesses lists host processes still running the runsc binary under
// test (the Sentry, the gofer and the ptrace stubs are all runsc).
func runscProcesses() []string {
	want := runscPath
	if p, err := filepath.EvalSymlinks(runscPath); err == nil {
		want = p
	}
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		exe, err := os.Readlink(filepath.Join(d, "exe"))
		if err != nil {
			continue // gone, a zombie or a kernel thread
		}
		if strings.TrimSuffix(exe, " (deleted)") != want {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		found = append(found, filepath.Base(d)+": "+strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
	}
	return found
}

// TestSandboxEndsWithPid1 checks that when the first process exits, the
// whole sandbox ends: a background child does not keep runsc alive, and
// no runsc process (Sentry, gofer, stub) is left on the host.
func TestSandboxEndsWithPid1(t *testing.T) {
	needRunsc(t)
	before := map[string]bool{}
	for _, p := range runscProcesses() {
		before[p] = true
	}
	if len(before) > 0 {
		t.Logf("runsc processes already running before the test (ignored): %d", len(before))
	}
	r := sandbox(t, opts{}, bb("sh", "-c", "/bin/busybox sleep 30 & echo started")...)
	expect(t, r, 0, "started\n")
	if r.elapsed > 15*time.Second {
		t.Errorf("runsc took %v: it waited for the background sleep instead of ending with pid 1", r.elapsed)
	}
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		left = left[:0]
		for _, p := range runscProcesses() {
			if !before[p] {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("runsc processes still running 5s after runsc exited: %q", left)
	for _, p := range left {
		if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
			if proc, err := os.FindProcess(pid); err == nil {
				proc.Kill()
			}
		}
	}
}

// TestDoKilledLeavesNoState: a `runsc do` killed with SIGKILL cannot
// delete its container; its sandbox dies with it, and the next `runsc do`
// removes the abandoned state directory, so killed runs do not pile up
// in --root.
func TestDoKilledLeavesNoState(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(runscPath, "--root", root, "do", busybox, "sh", "-c", "echo ready; sleep 60")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line := make([]byte, 6)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "ready\n" {
		t.Fatalf("sandbox did not start: %q %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 {
		t.Fatalf("after the kill, --root holds %d entries, want the killed run's 1", len(ents))
	}
	// The sandbox dies with its runsc (parent-death signal); wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := runsc(t, opts{}, "--root", root, "do", busybox, "true")
		if r.code != 0 {
			t.Fatalf("runsc do true: %s", r)
		}
		if ents, _ = os.ReadDir(root); len(ents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--root still holds %v after the next runs", ents[0].Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
