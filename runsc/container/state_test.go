package container

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestStateRoundTripAndStatus(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Process.Kill()
	s := &State{ID: "c1", Bundle: "/b", Status: Running, Created: time.Now().UTC(), Sandbox: processOf(sleep.Process.Pid)}
	if err := writeState(dir, s); err != nil {
		t.Fatal(err)
	}
	c, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status() != Running || c.PID() != sleep.Process.Pid {
		t.Errorf("status %s pid %d, want running %d", c.Status(), c.PID(), sleep.Process.Pid)
	}
	// No temporary files are left next to the state.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("state directory holds %d entries, want only %s", len(ents), stateFile)
	}
	sleep.Process.Kill()
	sleep.Wait()
	if c.Status() != Stopped || c.PID() != 0 {
		t.Errorf("after the sandbox died: status %s pid %d, want stopped 0", c.Status(), c.PID())
	}
	// A reused pid is not the sandbox: the start time differs.
	c.Sandbox = Process{PID: os.Getpid(), Start: 1}
	if c.Sandbox.Alive() {
		t.Error("a process with another start time counts as the sandbox")
	}
}

func TestCreatingWithDeadCreatorIsStopped(t *testing.T) {
	c := &Container{State: State{Status: Creating, Creator: Process{PID: 1 << 30}}}
	if c.Status() != Stopped {
		t.Errorf("status %s, want stopped", c.Status())
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "abc-1.2_3", "0123456789abcdef"} {
		if err := checkID(id); err != nil {
			t.Errorf("checkID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", ".hidden"} {
		if err := checkID(id); err == nil {
			t.Errorf("checkID(%q) accepted", id)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load(t.TempDir(), "nope"); err == nil || err.Error() != `container "nope" does not exist` {
		t.Errorf("Load: %v", err)
	}
}

// A container whose state went (its pod's sandbox was deleted) is
// ErrNotExist, with the message runsc prints.
func TestLockOfRemovedContainerIsNotExist(t *testing.T) {
	c := &Container{State: State{ID: "gone"}, dir: filepath.Join(t.TempDir(), "gone")}
	_, err := c.lock()
	if !errors.Is(err, ErrNotExist) || err.Error() != `container "gone" does not exist` {
		t.Errorf("lock of a removed container: %v, want ErrNotExist", err)
	}
}

// A state file a host crash emptied or tore reads as a stopped container
// that delete removes.
func TestTornStateIsStopped(t *testing.T) {
	for _, content := range []string{"", `{"id":"torn","status":"run`} {
		root := t.TempDir()
		dir := filepath.Join(root, "torn")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(root, "torn")
		if err != nil {
			t.Fatalf("state %q: Load: %v", content, err)
		}
		if st := c.Status(); st != Stopped {
			t.Errorf("state %q: status %s, want stopped", content, st)
		}
		if err := c.Delete(false); err != nil {
			t.Errorf("state %q: Delete: %v", content, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state %q: directory left after Delete (%v)", content, err)
		}
	}
	// JSON that does not fit is no crash's doing: an error, state kept.
	root := t.TempDir()
	dir := filepath.Join(root, "odd")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":7}`), 0o600)
	if _, err := Load(root, "odd"); err == nil {
		t.Error("Load of a state file with an id of the wrong type succeeded")
	}
}
