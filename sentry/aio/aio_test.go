package aio

import (
	"runtime"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func TestContext(t *testing.T) {
	m := &mm.MemoryManager{}
	c, err := New(m, 0x1000, 4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	if Lookup(m, 0x1000) != c || Lookup(m, 0x2000) != nil || Lookup(&mm.MemoryManager{}, 0x1000) != nil {
		t.Fatal("Lookup")
	}
	ctx := vfstest.Root()
	if !c.Reserve() || !c.Reserve() || c.Reserve() {
		t.Fatal("a context of 2 takes exactly 2 requests")
	}
	c.Complete(Event{Data: 1})
	evs, err := c.GetEvents(ctx, 1, 10, -1)
	if err != nil || len(evs) != 1 || evs[0].Data != 1 {
		t.Fatalf("GetEvents: %v %v", evs, err)
	}
	if !c.Reserve() {
		t.Fatal("reaping frees a slot")
	}
	// A timeout returns what there is (nothing).
	if evs, err := c.GetEvents(ctx, 1, 10, 10*time.Millisecond); err != nil || len(evs) != 0 {
		t.Fatalf("timeout: %v %v", evs, err)
	}
	// A waiter wakes on completion.
	done := make(chan []Event)
	go func() {
		evs, _ := c.GetEvents(ctx, 1, 10, -1)
		done <- evs
	}()
	cancelled := false
	if !c.InFlight(42, func() {
		if c.Done(42) {
			cancelled = true
			c.Complete(Event{Obj: 42})
		}
	}) {
		t.Fatal("InFlight")
	}
	if err := c.Cancel(42); err != unix.EINPROGRESS || !cancelled {
		t.Fatalf("Cancel: %v %v", err, cancelled)
	}
	if evs := <-done; len(evs) != 1 || evs[0].Obj != 42 {
		t.Fatalf("woken with %v", evs)
	}
	if err := c.Cancel(42); err != unix.EINVAL {
		t.Fatalf("cancelling twice: %v", err)
	}
	// A signal ends the wait.
	ictx := &vfstest.Context{Interrupt: make(chan struct{})}
	close(ictx.Interrupt)
	if _, err := c.GetEvents(ictx, 1, 1, -1); err == nil {
		t.Fatal("GetEvents ignored a signal")
	}
	if _, err := Destroy(m, 0x1000); err != nil {
		t.Fatal(err)
	}
	if _, err := Destroy(m, 0x1000); err != unix.EINVAL {
		t.Fatalf("Destroy twice: %v", err)
	}
	if c.Reserve() {
		t.Fatal("a destroyed context took a request")
	}
}

func TestLimitAndCleanup(t *testing.T) {
	func() {
		m := &mm.MemoryManager{}
		if _, err := New(m, 1, 4096, MaxEvents); err != nil {
			t.Fatal(err)
		}
		if _, err := New(m, 2, 4096, 1); err != unix.EAGAIN {
			t.Fatalf("past aio-max-nr: %v", err)
		}
		runtime.KeepAlive(m)
	}()
	// The address space is garbage: its contexts go, and their events.
	for i := 0; i < 500; i++ {
		runtime.GC()
		registry.Lock()
		total := registry.total
		registry.Unlock()
		if total == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the contexts of a dead address space were not released")
}
