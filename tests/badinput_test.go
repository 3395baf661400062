package tests

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// checkOneLineError requires a clean failure: a non-zero exit (not a
// crash, not a timeout) and exactly one line on stderr starting "runsc: ".
func checkOneLineError(t *testing.T, r *result) {
	t.Helper()
	checkNoCrash(t, r)
	if r.code == 0 {
		t.Errorf("exit code 0, want non-zero%s", r)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "runsc: ") {
		t.Errorf("stderr should be exactly one line starting with \"runsc: \"%s", r)
	}
}

func TestBadInput(t *testing.T) {
	t.Run("do-not-elf", func(t *testing.T) {
		checkOneLineError(t, sandbox(t, opts{}, "/etc/passwd"))
	})
	t.Run("do-nonexistent", func(t *testing.T) {
		checkOneLineError(t, sandbox(t, opts{}, "/nonexistent/bin"))
	})
	t.Run("run-broken-config", func(t *testing.T) {
		dir := makeBundle(t, newSpec("/", "/bin/busybox", "true"))
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {`), 0o644); err != nil {
			t.Fatal(err)
		}
		checkOneLineError(t, runsc(t, opts{}, "--root", stateDir, "run", "--bundle", dir, "id1-"+nonce(t)))
	})
	t.Run("run-missing-root", func(t *testing.T) {
		spec := newSpec("/", "/bin/busybox", "true")
		spec.Root.Path = "does-not-exist"
		dir := makeBundle(t, spec)
		checkOneLineError(t, runsc(t, opts{}, "--root", stateDir, "run", "--bundle", dir, "id2-"+nonce(t)))
	})
}

// TestContainerIDInUse runs a container and, while it runs, tries to run
// another with the same id: that fails with one line and leaves the first
// untouched; once the first is gone the id is free again.
func TestContainerIDInUse(t *testing.T) {
	needRunsc(t)
	dir := makeBundle(t, newSpec("/", "/bin/busybox", "sh", "-c", "echo started; sleep 2; echo first-done"))
	id := "veil-e2e-dup-" + nonce(t)
	cmd := exec.Command(runscPath, "--root", stateDir, "run", "--bundle", dir, id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	started := make([]byte, 8)
	if _, err := io.ReadFull(stdout, started); err != nil || string(started) != "started\n" {
		t.Fatalf("first container did not start: %q %v", started, err)
	}
	r := runsc(t, opts{}, "--root", stateDir, "run", "--bundle", dir, id)
	checkOneLineError(t, r)
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("stderr does not say the id exists%s", r)
	}
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil || string(rest) != "first-done\n" {
		t.Errorf("first container: %v, rest of stdout %q; want it to finish normally", err, rest)
	}
	r = runsc(t, opts{}, "--root", stateDir, "run", "--bundle", dir, id)
	if r.code != 0 || r.stdout != "started\nfirst-done\n" {
		t.Errorf("the id is not free again after the container ended%s", r)
	}
}

// TestUnavailablePlatform: asking for a platform that is not there says so.
// TestUnknownNetworkMode: --network takes sandbox, host or none only.
func TestUnknownNetworkMode(t *testing.T) {
	for _, cmd := range [][]string{{"do", busybox, "true"}, {"--root", stateDir, "run", "--bundle", "/nonexistent", "x"}} {
		r := runsc(t, opts{}, append([]string{"--network=bridge"}, cmd...)...)
		checkOneLineError(t, r)
		if !strings.Contains(r.stderr, "bridge") {
			t.Errorf("stderr does not name the bad value%s", r)
		}
	}
}

func TestUnavailablePlatform(t *testing.T) {
	r := runsc(t, opts{}, "--platform=kvm", "do", busybox, "true")
	checkOneLineError(t, r)
	if !strings.Contains(r.stderr, "kvm") {
		t.Errorf("stderr does not name the platform%s", r)
	}
}
