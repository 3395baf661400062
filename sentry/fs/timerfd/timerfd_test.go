package timerfd

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/ktime"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

func TestTimerfd(t *testing.T) {
	f := New(ktime.Monotonic)
	defer f.Release()
	ctx := vfstest.Root()
	buf := make([]byte, 8)
	if _, err := f.Read(ctx, buf, 0, true); err != unix.EAGAIN {
		t.Fatalf("read of a disarmed timerfd: %v", err)
	}
	if _, err := f.Read(ctx, buf[:4], 0, true); err != unix.EINVAL {
		t.Fatalf("short read: %v", err)
	}
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	f.EventRegister(e)
	defer f.EventUnregister(e)
	f.Set(2*time.Millisecond, 2*time.Millisecond, false)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no readiness notification")
	}
	if f.Readiness(waiter.EventIn) == 0 {
		t.Fatal("not readable after expiry")
	}
	time.Sleep(20 * time.Millisecond)
	n, err := f.Read(ctx, buf, 0, false)
	if err != nil || n != 8 || binary.NativeEndian.Uint64(buf) < 5 {
		t.Fatalf("read = %d, %v, count %d", n, err, binary.NativeEndian.Uint64(buf))
	}
	v, iv := f.Get()
	if iv != 2*time.Millisecond || v <= 0 || v > 2*time.Millisecond {
		t.Errorf("Get = %v, %v", v, iv)
	}
	// Re-arming drops the unread count.
	time.Sleep(5 * time.Millisecond)
	f.Set(time.Hour, 0, false)
	if f.Ticks() != 0 || f.Readiness(waiter.EventIn) != 0 {
		t.Errorf("count %d after re-arming", f.Ticks())
	}
	if _, err := f.Write(ctx, buf, 0, false); err != unix.EINVAL {
		t.Errorf("write: %v", err)
	}
}
