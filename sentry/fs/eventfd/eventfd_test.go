package eventfd

import (
	"encoding/binary"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// newCtx returns a root context whose Interrupt channel, when closed,
// simulates a signal.
func newCtx() *vfstest.Context { return &vfstest.Context{PID: 1, Interrupt: make(chan struct{})} }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint64(b, v)
	return b
}

func read(t *testing.T, f *File, nonblock bool) (uint64, error) {
	t.Helper()
	b := make([]byte, 8)
	n, err := f.Read(newCtx(), b, -1, nonblock)
	if err != nil {
		return 0, err
	}
	if n != 8 {
		t.Fatalf("read returned %d bytes", n)
	}
	return binary.NativeEndian.Uint64(b), nil
}

func TestCounter(t *testing.T) {
	ctx := newCtx()
	f := New(3, false)
	if v, err := read(t, f, true); v != 3 || err != nil {
		t.Fatalf("read = %d, %v", v, err)
	}
	if _, err := read(t, f, true); err != unix.EAGAIN {
		t.Fatalf("read at 0: %v", err)
	}
	f.Write(ctx, u64(5), -1, false)
	f.Write(ctx, u64(7), -1, false)
	if v, _ := read(t, f, true); v != 12 {
		t.Fatalf("read = %d", v)
	}
	if _, err := f.Read(ctx, make([]byte, 4), -1, true); err != unix.EINVAL {
		t.Fatalf("short read: %v", err)
	}
	if _, err := f.Write(ctx, make([]byte, 4), -1, true); err != unix.EINVAL {
		t.Fatalf("short write: %v", err)
	}
	if _, err := f.Write(ctx, u64(^uint64(0)), -1, true); err != unix.EINVAL {
		t.Fatalf("write of 2^64-1: %v", err)
	}
	// A longer buffer reads/writes 8 bytes.
	if n, err := f.Write(ctx, append(u64(1), 0, 0, 0), -1, true); n != 8 || err != nil {
		t.Fatalf("long write = %d, %v", n, err)
	}
}

func TestSemaphore(t *testing.T) {
	f := New(2, true)
	for i := 0; i < 2; i++ {
		if v, err := read(t, f, true); v != 1 || err != nil {
			t.Fatalf("semaphore read = %d, %v", v, err)
		}
	}
	if _, err := read(t, f, true); err != unix.EAGAIN {
		t.Fatalf("semaphore read at 0: %v", err)
	}
}

func TestBlocking(t *testing.T) {
	ctx := newCtx()
	f := New(0, false)
	got := make(chan uint64)
	go func() {
		v, err := read(t, f, false)
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	select {
	case <-got:
		t.Fatal("read did not block")
	case <-time.After(50 * time.Millisecond):
	}
	f.Write(ctx, u64(9), -1, false)
	select {
	case v := <-got:
		if v != 9 {
			t.Fatalf("read %d", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still blocked")
	}

	// Overflowing write blocks until a read.
	f = New(MaxCount-1, false)
	if _, err := f.Write(ctx, u64(2), -1, true); err != unix.EAGAIN {
		t.Fatalf("overflowing nonblocking write: %v", err)
	}
	done := make(chan error)
	go func() {
		_, err := f.Write(ctx, u64(2), -1, false)
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("overflowing write did not block")
	case <-time.After(50 * time.Millisecond):
	}
	read(t, f, false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.Value() != 2 {
		t.Fatalf("value %d", f.Value())
	}

	// Interrupted read.
	ictx := newCtx()
	f = New(0, false)
	go func() { done <- func() error { _, err := f.Read(ictx, make([]byte, 8), -1, false); return err }() }()
	time.Sleep(20 * time.Millisecond)
	close(ictx.Interrupt)
	if err := <-done; err != syserr.ErrInterrupted {
		t.Fatalf("interrupted read: %v", err)
	}
}

func TestReadiness(t *testing.T) {
	ctx := newCtx()
	f := New(0, false)
	all := ^waiter.EventMask(0)
	if got := f.Readiness(all); got != waiter.EventOut|waiter.EventWrNorm {
		t.Fatalf("readiness at 0: %#x", got)
	}
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	f.EventRegister(e)
	defer f.EventUnregister(e)
	f.Write(ctx, u64(1), -1, false)
	select {
	case <-ch:
	default:
		t.Fatal("no notification")
	}
	if got := f.Readiness(waiter.EventIn); got != waiter.EventIn {
		t.Fatalf("readiness at 1: %#x", got)
	}
	f = New(MaxCount, false)
	if got := f.Readiness(all); got&waiter.EventOut != 0 {
		t.Fatalf("writable at max: %#x", got)
	}
}
