package tests

import (
	"os"
	"path/filepath"
	"strings"
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
