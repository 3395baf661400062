package vfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

type hookImpl struct {
	NoIoctl
	AlwaysReady
	onRelease func()
}

func (h *hookImpl) Read(Context, []byte, int64, bool) (int, error)  { return 0, nil }
func (h *hookImpl) Write(Context, []byte, int64, bool) (int, error) { return 0, nil }
func (h *hookImpl) Release()                                        { h.onRelease() }

func TestReleaseHookOrder(t *testing.T) {
	old := releaseHook.Load()
	defer releaseHook.Store(old)

	var events []string
	impl := &hookImpl{onRelease: func() { events = append(events, "release") }}
	f := NewFileDescription(impl, unix.O_RDWR, NewAnonInode(nil, unix.S_IFIFO|0o600), "pipe:[1]")
	SetReleaseHook(func(fd *FileDescription) {
		if fd != f {
			t.Errorf("hook called with another file")
		}
		events = append(events, "hook")
	})
	f.IncRef()
	f.DecRef()
	if len(events) != 0 {
		t.Fatalf("hook or release before the last reference: %v", events)
	}
	f.DecRef()
	if len(events) != 2 || events[0] != "hook" || events[1] != "release" {
		t.Fatalf("events %v, want [hook release]", events)
	}

	SetReleaseHook(nil)
	g := NewFileDescription(&hookImpl{onRelease: func() {}}, unix.O_RDWR, nil, "x")
	g.DecRef() // no hook: must not crash
}
