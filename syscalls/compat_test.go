package syscalls

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCompatibilityTableIsCurrent: docs/compatibility.md is what the
// syscall table says (regenerate with `go run ./syscalls/compatdoc`).
func TestCompatibilityTableIsCurrent(t *testing.T) {
	path := filepath.Join("..", "docs", "compatibility.md")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with `go run ./syscalls/compatdoc` at the repository root)", err)
	}
	if string(got) != CompatibilityTable() {
		t.Fatalf("%s is stale: run `go run ./syscalls/compatdoc` at the repository root and commit it", path)
	}
}

// TestEverySyscallHasASupportLevel: a registered call is full, partial
// with a note, or a refusal with a note.
func TestEverySyscallHasASupportLevel(t *testing.T) {
	for nr, e := range Table {
		if e.Fn == nil {
			continue
		}
		if e.Support != Full && e.Note == "" {
			t.Errorf("syscall %d (%s) is %s without a note saying what is missing", nr, e.Name, e.Support)
		}
	}
}
