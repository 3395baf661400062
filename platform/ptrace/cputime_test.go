package ptrace

import (
	"runtime"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/platform"
)

func TestParseSchedstat(t *testing.T) {
	run, slices, ok := parseSchedstat("982128099 6136156 24\n")
	if !ok || run != 982128099 || slices != 24 {
		t.Fatalf("got %d %d %v", run, slices, ok)
	}
	for _, bad := range []string{"", "1 2", "x 2 3", "1 2 y"} {
		if _, _, ok := parseSchedstat(bad); ok {
			t.Errorf("parseSchedstat(%q) accepted", bad)
		}
	}
}

// spinCode counts rcx down from 2^28 (a few hundred milliseconds of CPU
// time) and then makes a system call.
var spinCode = []byte{
	0x48, 0xc7, 0xc1, 0x00, 0x00, 0x00, 0x10, // mov rcx, 0x10000000
	0x48, 0xff, 0xc9, // loop: dec rcx
	0x75, 0xfb, // jnz loop
	0x0f, 0x05, // syscall
	0xeb, 0xf0, // jmp back to the mov
}

// TestCPUUsage checks that the stub thread's CPU time is what the context
// reports, read while it is stopped, from another goroutine, and after
// Release.
func TestCPUUsage(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(spinCode...)
	c := newContext(t, e.p)
	cc, ok := c.(platform.CPUClock)
	if !ok {
		t.Fatal("the ptrace context is not a platform.CPUClock")
	}
	if u := cc.CPUUsage(); u.Time != 0 {
		t.Errorf("usage before running: %+v", u)
	}
	regs := regsAt(codeAddr)
	start := time.Now()
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	wall := time.Since(start)
	u1 := cc.CPUUsage()
	t.Logf("spin: %v of CPU in %v", u1.Time, wall)
	if u1.Time < 10*time.Millisecond || u1.Time > wall+10*time.Millisecond {
		t.Errorf("CPU time %v after a spin of %v wall time", u1.Time, wall)
	}
	// Once more, read from another goroutine while the thread is stopped.
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	got := make(chan platform.CPUUsage)
	go func() { got <- cc.CPUUsage() }()
	u2 := <-got
	if u2.Time <= u1.Time {
		t.Errorf("CPU time went from %v to %v over a second spin", u1.Time, u2.Time)
	}
	c.Release()
	if u3 := cc.CPUUsage(); u3.Time < u2.Time {
		t.Errorf("after Release: %v, before: %v", u3.Time, u2.Time)
	}
}

// BenchmarkCPUUsage is the cost of reading a stopped stub thread's CPU
// time (a pread of its schedstat).
func BenchmarkCPUUsage(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(b, 1)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	c := newContext(b, e.p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	cc := c.(platform.CPUClock)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cc.CPUUsage()
	}
}
