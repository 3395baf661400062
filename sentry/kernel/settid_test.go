package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestCloneSetTID: clone3's set_tid names ids from the child's pid
// namespace outwards, checked as alloc_pid does.
func TestCloneSetTID(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	clone := func(parent *Task, flags uint64, ids ...ThreadID) (ThreadID, error) {
		var tid ThreadID
		var err error
		h.do(parent, func(p *Task) {
			tid, err = p.Clone(CloneArgs{Flags: flags, ExitSignal: unix.SIGCHLD, SetTID: ids})
		})
		return tid, err
	}
	if _, err := clone(it, 0, 700, 701); err != unix.EINVAL {
		t.Fatalf("two ids in the initial namespace: %v, want EINVAL", err)
	}
	if _, err := clone(it, 0, it.tid); err != unix.EEXIST {
		t.Fatalf("an id in use: %v, want EEXIST", err)
	}
	if _, err := clone(it, unix.CLONE_NEWPID, 5, 800); err != unix.EINVAL {
		t.Fatalf("a new namespace's first id other than 1: %v, want EINVAL", err)
	}
	tid, err := clone(it, unix.CLONE_NEWPID, 1, 800)
	if err != nil || tid != 800 {
		t.Fatalf("set_tid {1, 800} in a new namespace: %d, %v", tid, err)
	}
	c := h.k.TaskByTID(800)
	if c == nil || c.TID() != 1 || c.PIDNamespace() == it.PIDNamespace() {
		t.Fatalf("child: %v", c)
	}
	if _, err := clone(c, 0, 1); err != unix.EEXIST {
		t.Fatalf("pid 1 again: %v, want EEXIST", err)
	}
	vid, err := clone(c, 0, 7)
	if err != nil || vid != 7 {
		t.Fatalf("set_tid {7} inside: %d, %v", vid, err)
	}
	if _, err := clone(c, 0, 8, 800); err != unix.EEXIST {
		t.Fatalf("an outer id in use: %v, want EEXIST", err)
	}
	if _, err := clone(c, 0, 8, 9, 10); err != unix.EINVAL {
		t.Fatalf("more ids than levels: %v, want EINVAL", err)
	}
}
