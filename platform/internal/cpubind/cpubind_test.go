package cpubind

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCurrent(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &all)
	for cpu := 0; cpu < 64; cpu++ {
		if !all.IsSet(cpu) {
			continue
		}
		Bind(0, cpu, &all)
		if got := Current(); got != cpu {
			t.Errorf("bound to CPU %d, Current says %d (lsl works: %v)", cpu, got, lslWorks)
		}
	}
	t.Logf("per-CPU segment works: %v", lslWorks)
}

func BenchmarkCurrent(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Current()
	}
}

func BenchmarkGetcpu(b *testing.B) {
	for i := 0; i < b.N; i++ {
		getcpu()
	}
}
