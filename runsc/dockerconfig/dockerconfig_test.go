package dockerconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func read(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	return m
}

func TestAddAndRemoveKeepOtherSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.json")
	orig := `{"log-level": "warn", "runtimes": {"crun": {"path": "/usr/bin/crun"}}, "default-runtime": "runsc"}`
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	if replaced, err := AddRuntime(path, "runsc", Runtime{Path: "/usr/bin/runsc", RuntimeArgs: []string{"--platform=ptrace"}}); err != nil || replaced {
		t.Fatalf("AddRuntime: replaced %v, err %v", replaced, err)
	}
	m := read(t, path)
	want := map[string]any{
		"crun":  map[string]any{"path": "/usr/bin/crun"},
		"runsc": map[string]any{"path": "/usr/bin/runsc", "runtimeArgs": []any{"--platform=ptrace"}},
	}
	if !reflect.DeepEqual(m["runtimes"], want) || m["log-level"] != "warn" {
		t.Fatalf("after install: %v", m)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's own 0600", st.Mode().Perm())
	}
	if replaced, err := AddRuntime(path, "runsc", Runtime{Path: "/usr/bin/runsc"}); err != nil || !replaced {
		t.Fatalf("second AddRuntime: replaced %v, err %v", replaced, err)
	}
	removed, wasDefault, err := RemoveRuntime(path, "runsc")
	if err != nil || !removed || !wasDefault {
		t.Fatalf("RemoveRuntime: %v %v %v", removed, wasDefault, err)
	}
	m = read(t, path)
	if !reflect.DeepEqual(m, map[string]any{"log-level": "warn", "runtimes": map[string]any{"crun": map[string]any{"path": "/usr/bin/crun"}}}) {
		t.Fatalf("after uninstall: %v", m)
	}
	if removed, _, err := RemoveRuntime(path, "runsc"); err != nil || removed {
		t.Fatalf("RemoveRuntime of a missing runtime: %v %v", removed, err)
	}
}

func TestMissingFileIsCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docker", "daemon.json")
	if _, err := AddRuntime(path, "veil", Runtime{Path: "/x/runsc"}); err != nil {
		t.Fatal(err)
	}
	if m := read(t, path); !reflect.DeepEqual(m, map[string]any{"runtimes": map[string]any{"veil": map[string]any{"path": "/x/runsc"}}}) {
		t.Fatalf("got %v", m)
	}
	if removed, _, err := RemoveRuntime(path, "veil"); err != nil || !removed {
		t.Fatal(removed, err)
	}
	if m := read(t, path); len(m) != 0 {
		t.Fatalf("after removing the only runtime: %v", m)
	}
}

func TestBadJSONLeavesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.json")
	for _, bad := range []string{`{"runtimes": `, `[1, 2]`, `{"runtimes": 3}`} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := AddRuntime(path, "runsc", Runtime{Path: "/x"}); err == nil {
			t.Errorf("AddRuntime on %q succeeded", bad)
		}
		if _, _, err := RemoveRuntime(path, "runsc"); err == nil {
			t.Errorf("RemoveRuntime on %q succeeded", bad)
		}
		if data, _ := os.ReadFile(path); string(data) != bad {
			t.Errorf("file changed to %q", data)
		}
	}
}
