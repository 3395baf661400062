package epoll

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/pipe"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// TestReleaseHook checks that the VFS's release hook is installed: when
// the last reference to a watched file description goes, every epoll
// instance drops its watch, as Linux's eventpoll_release.
func TestReleaseHook(t *testing.T) {
	ctx := newCtx()
	before := registry.watches.Load()
	ep := New()
	r, w := pipe.NewFiles(ctx, 0)
	defer w.DecRef()
	// As epoll_ctl does: the key is the description, the target its impl.
	if err := ep.Add(5, r, r.Impl(), EPOLLIN, 5); err != nil {
		t.Fatal(err)
	}
	if ep.Len() != 1 || registry.watches.Load() != before+1 {
		t.Fatalf("after add: len %d, watches %d (before %d)", ep.Len(), registry.watches.Load(), before)
	}
	if _, err := w.Write(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if evs := wait(t, ep, 0); len(evs) != 1 || evs[0].Data != 5 || evs[0].Events&EPOLLIN == 0 {
		t.Fatalf("before close: %+v", evs)
	}

	// Another reference (a dup, a fork) keeps the watch.
	r.IncRef()
	r.DecRef()
	if ep.Len() != 1 || !Watched(r) {
		t.Fatal("watch dropped while the file is still referenced")
	}
	if evs := wait(t, ep, 0); len(evs) != 1 {
		t.Fatalf("still referenced: %+v", evs)
	}

	// The last reference: the watch goes, ready or not.
	r.DecRef()
	if ep.Len() != 0 || Watched(r) {
		t.Fatalf("watch survived the release: len %d", ep.Len())
	}
	if got := registry.watches.Load(); got != before {
		t.Fatalf("watch count %d, want %d", got, before)
	}
	w.Write(ctx, []byte("y")) // EPIPE: no reader; nothing to report anyway
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("released file still reported: %+v", evs)
	}
	// The instance keeps working.
	r2, w2 := pipe.NewFiles(ctx, 0)
	defer w2.DecRef()
	if err := ep.Add(5, r2, r2.Impl(), EPOLLIN, 6); err != nil {
		t.Fatalf("re-adding fd 5: %v", err)
	}
	w2.Write(ctx, []byte("z"))
	if evs := wait(t, ep, 0); len(evs) != 1 || evs[0].Data != 6 {
		t.Fatalf("new file: %+v", evs)
	}
	r2.DecRef()
	if ep.Len() != 0 {
		t.Fatal("second watch survived")
	}
}

// TestReleaseHookNested: closing an epoll instance's last reference
// removes it from the instances watching it.
func TestReleaseHookNested(t *testing.T) {
	ctx := newCtx()
	outer := New()
	innerFD := vfs.NewFileDescription(New(), unix.O_RDWR, vfs.NewAnonInode(ctx, 0o600), "anon_inode:[eventpoll]")
	if err := outer.Add(7, innerFD, innerFD.Impl(), EPOLLIN, 7); err != nil {
		t.Fatal(err)
	}
	inner := innerFD.Impl().(*EventPoll)
	if len(parentsOf(inner)) != 1 {
		t.Fatal("nesting not recorded")
	}
	innerFD.DecRef()
	if outer.Len() != 0 || Watched(innerFD) || len(parentsOf(inner)) != 0 {
		t.Fatal("outer instance still watches the released one")
	}
	outerFD := vfs.NewFileDescription(outer, unix.O_RDWR, vfs.NewAnonInode(ctx, 0o600), "anon_inode:[eventpoll]")
	outerFD.DecRef()
}
