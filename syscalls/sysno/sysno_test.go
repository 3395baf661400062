package sysno

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestNumbers(t *testing.T) {
	for name, want := range map[string]uint64{
		"read": unix.SYS_READ, "mkdir": unix.SYS_MKDIR, "clone": unix.SYS_CLONE,
		"clone3": unix.SYS_CLONE3, "personality": unix.SYS_PERSONALITY, "seccomp": unix.SYS_SECCOMP,
	} {
		if got, ok := Number(name); !ok || got != want {
			t.Errorf("Number(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	for _, name := range []string{"chown32", "mmap2", "socketcall", "_llseek", "", "MKDIR"} {
		if nr, ok := Number(name); ok {
			t.Errorf("Number(%q) = %d, want none on amd64", name, nr)
		}
	}
	if len(numbers) != len(names) {
		t.Errorf("%d names for %d numbers: a name is used twice", len(numbers), len(names))
	}
	for nr, name := range names {
		if got, _ := Number(name); got != nr {
			t.Errorf("Number(Name(%d)) = %d", nr, got)
		}
	}
}
