package systrap

import (
	"runtime"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/platform"
)

func TestParseProcFigures(t *testing.T) {
	run, ok := parseSchedstat([]byte("982128099 6136156 24\n"))
	if !ok || run != 982128099 {
		t.Fatalf("got %d %v", run, ok)
	}
	for _, bad := range []string{"", "1 2", "x 2 3"} {
		if _, ok := parseSchedstat([]byte(bad)); ok {
			t.Errorf("parseSchedstat(%q) accepted", bad)
		}
	}
	st := "Name:\tstub\nvoluntary_ctxt_switches:\t150\nnonvoluntary_ctxt_switches:\t7\n"
	if n, ok := parseNonvoluntary([]byte(st)); !ok || n != 7 {
		t.Errorf("parseNonvoluntary: %d %v", n, ok)
	}
	if _, ok := parseNonvoluntary([]byte("Name:\tx\n")); ok {
		t.Error("parseNonvoluntary accepted a status without the field")
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

// TestCPUUsage checks that the application thread's CPU time is what the
// context reports, read between traps, from another goroutine, and after
// Release, and that a context on a reused (spare) thread starts from 0.
func TestCPUUsage(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(spinCode...)
	for round := 0; round < 2; round++ {
		c := newContext(t, e.P.(*Platform))
		var cc platform.CPUClock = c
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
		t.Logf("round %d spin: %v of CPU in %v", round, u1.Time, wall)
		if u1.Time < 10*time.Millisecond || u1.Time > wall+10*time.Millisecond {
			t.Errorf("CPU time %v after a spin of %v wall time", u1.Time, wall)
		}
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
}
