//go:build amd64

package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vdso/internal/ccall"
	"golang.org/x/sys/unix"
)

// These tests run the vDSO's machine code in the test process, mapped the
// way the Sentry maps it for applications: the data page, then the image.
// The system calls it falls back to are real host system calls here.

// loadedVDSO is the vDSO mapped into the test process.
type loadedVDSO struct {
	sym     map[string]uintptr
	scratch []byte // a page for the functions' results, outside the Go heap
}

// loadImage maps the data page (from dataMem, or a fresh one) and the
// image, and returns the data page as the Sentry writes it.
func loadImage(t testing.TB) (*loadedVDSO, dataPage) {
	t.Helper()
	img := imageBytes()
	textSize := (len(img) + pageSize - 1) &^ (pageSize - 1)
	mem, err := unix.Mmap(-1, 0, 2*pageSize+textSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	copy(mem[pageSize:], img)
	if err := unix.Mprotect(mem[pageSize:pageSize+textSize], unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	return newLoaded(t, uintptr(unsafe.Pointer(&mem[pageSize])), mem[pageSize+textSize:]), dataPage{mem: mem[:pageSize]}
}

// loadFromMemfile maps v's data page and image straight from the memory
// file, as an application sees them.
func loadFromMemfile(t *testing.T, mf *memfile.File, v *VDSO) *loadedVDSO {
	t.Helper()
	if v.text.off != v.data.off+pageSize {
		t.Fatal("image does not follow the data page in the memory file")
	}
	mem, err := unix.Mmap(mf.FD(), v.data.off, int(pageSize+v.text.size), unix.PROT_READ|unix.PROT_EXEC, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	scratch, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(scratch) })
	return newLoaded(t, uintptr(unsafe.Pointer(&mem[pageSize])), scratch)
}

func newLoaded(t testing.TB, base uintptr, scratch []byte) *loadedVDSO {
	f, err := elf.NewFile(bytes.NewReader(imageBytes()))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	l := &loadedVDSO{sym: map[string]uintptr{}, scratch: scratch}
	for _, s := range syms {
		l.sym[s.Name] = base + uintptr(s.Value)
	}
	return l
}

func (l *loadedVDSO) buf(off int) uintptr { return uintptr(unsafe.Pointer(&l.scratch[off])) }
func (l *loadedVDSO) word(off int) int64  { return int64(binary.LittleEndian.Uint64(l.scratch[off:])) }
func (l *loadedVDSO) fill(b byte) {
	for i := range 64 {
		l.scratch[i] = b
	}
}

// clockGettime calls __vdso_clock_gettime and returns its result and the
// time in ns.
func (l *loadedVDSO) clockGettime(id int) (int32, int64) {
	r := ccall.Call3(l.sym["__vdso_clock_gettime"], uintptr(id), l.buf(0), 0)
	return int32(r), l.word(0)*1e9 + l.word(8)
}

func hostNow(id int) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(id), &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// startTSC calibrates like the Sentry and publishes the parameters.
func startTSC(t testing.TB, d dataPage) {
	t.Helper()
	if ok, why := tscReliable(); !ok {
		t.Skipf("host TSC not used: %s", why)
	}
	c := newHostClock()
	s0 := c.sample()
	time.Sleep(calibration)
	var tk timekeeper
	p, _, ok := tk.start(s0, c.sample())
	if !ok {
		t.Fatal("calibration failed")
	}
	d.publish(p)
	d.setMode(modeTSC)
}

// checkClocks compares the vDSO's clocks with the host's: with the
// Sentry's clocks (the host's CLOCK_MONOTONIC or CLOCK_REALTIME) when it
// computes time itself, with the same host clock in system call mode.
func checkClocks(t *testing.T, l *loadedVDSO, tolerance int64, syscallMode bool) {
	t.Helper()
	for _, c := range []struct {
		id, host int
	}{
		{unix.CLOCK_REALTIME, unix.CLOCK_REALTIME},
		{unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC},
		{unix.CLOCK_REALTIME_COARSE, unix.CLOCK_REALTIME},
		{unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_MONOTONIC},
		{unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_MONOTONIC},
		{unix.CLOCK_BOOTTIME, unix.CLOCK_MONOTONIC},
		{unix.CLOCK_TAI, unix.CLOCK_REALTIME},
	} {
		if syscallMode {
			c.host = c.id
		}
		before := hostNow(c.host)
		r, got := l.clockGettime(c.id)
		after := hostNow(c.host)
		if r != 0 || got < before-tolerance || got > after+tolerance {
			t.Errorf("clock %d: returned %d, %d ns; host between %d and %d (%+d ns off)",
				c.id, r, got, before, after, got-min(max(got, before), after))
		}
		if nsec := l.word(8); nsec < 0 || nsec >= 1e9 {
			t.Errorf("clock %d: tv_nsec %d", c.id, nsec)
		}
	}
}

func checkOtherFunctions(t *testing.T, l *loadedVDSO) {
	t.Helper()
	// Clocks the vDSO leaves to the kernel.
	if r, ns := l.clockGettime(unix.CLOCK_PROCESS_CPUTIME_ID); r != 0 || ns <= 0 {
		t.Errorf("CLOCK_PROCESS_CPUTIME_ID: %d, %d", r, ns)
	}
	if r, _ := l.clockGettime(1000); r != -int32(unix.EINVAL) {
		t.Errorf("clock 1000: %d, want -EINVAL", r)
	}
	getres := func(id int, res uintptr) int32 {
		return int32(ccall.Call3(l.sym["__vdso_clock_getres"], uintptr(id), res, 0))
	}
	for id, want := range map[int]int64{unix.CLOCK_MONOTONIC: 1, unix.CLOCK_REALTIME: 1, unix.CLOCK_MONOTONIC_COARSE: 4e6} {
		l.fill(0xff)
		if r := getres(id, l.buf(0)); r != 0 || l.word(0) != 0 || l.word(8) != want {
			t.Errorf("clock_getres(%d) = %d, %d.%09d; want 0.%09d", id, r, l.word(0), l.word(8), want)
		}
	}
	if r := getres(unix.CLOCK_MONOTONIC, 0); r != 0 {
		t.Errorf("clock_getres(CLOCK_MONOTONIC, NULL) = %d", r)
	}
	if r := getres(1000, l.buf(0)); r != -int32(unix.EINVAL) {
		t.Errorf("clock_getres(1000) = %d", r)
	}

	l.fill(0xff)
	before := hostNow(unix.CLOCK_REALTIME)
	r := int32(ccall.Call3(l.sym["__vdso_gettimeofday"], l.buf(0), l.buf(16), 0))
	after := hostNow(unix.CLOCK_REALTIME)
	tv := l.word(0)*1e9 + l.word(8)*1e3
	if r != 0 || tv < before/1e3*1e3-100e3 || tv > after+100e3 || l.word(8) >= 1e6 || l.word(16) != 0 {
		t.Errorf("gettimeofday = %d, %d.%06d, tz %#x; host %d..%d", r, l.word(0), l.word(8), l.word(16), before, after)
	}
	if r := int32(ccall.Call3(l.sym["gettimeofday"], 0, 0, 0)); r != 0 {
		t.Errorf("gettimeofday(NULL, NULL) = %d", r)
	}

	l.fill(0xff)
	before = hostNow(unix.CLOCK_REALTIME) / 1e9
	sec := int64(ccall.Call3(l.sym["__vdso_time"], l.buf(0), 0, 0))
	after = hostNow(unix.CLOCK_REALTIME) / 1e9
	if sec < before || sec > after || l.word(0) != sec {
		t.Errorf("time = %d, stored %d; host %d..%d", sec, l.word(0), before, after)
	}
	if sec := int64(ccall.Call3(l.sym["time"], 0, 0, 0)); sec < before || sec > after+1 {
		t.Errorf("time(NULL) = %d", sec)
	}

	l.fill(0xff)
	if r := int32(ccall.Call3(l.sym["__vdso_getcpu"], l.buf(0), l.buf(4), 0)); r != 0 || l.word(0) != 0 {
		t.Errorf("getcpu = %d, cpu %d node %d", r, int32(l.word(0)), int32(l.word(0)>>32))
	}
	if r := int32(ccall.Call3(l.sym["getcpu"], 0, 0, 0)); r != 0 {
		t.Errorf("getcpu(NULL, NULL) = %d", r)
	}
}

// TestExecSyscallMode: with the TSC off, every function gives the host's
// answers through real system calls.
func TestExecSyscallMode(t *testing.T) {
	l, d := loadImage(t)
	d.setMode(modeSyscall)
	checkClocks(t, l, 0, true)
	// gettimeofday and time take the system call; getcpu never does.
	checkOtherFunctions(t, l)
}

// TestExecTSCMode: computed from the TSC, the clocks match the host's.
func TestExecTSCMode(t *testing.T) {
	l, d := loadImage(t)
	startTSC(t, d)
	checkClocks(t, l, int64(20*time.Microsecond), false)
	checkOtherFunctions(t, l)

	prev := map[int]int64{}
	for i := 0; i < 200000; i++ {
		for _, id := range []int{unix.CLOCK_MONOTONIC, unix.CLOCK_REALTIME} {
			_, ns := l.clockGettime(id)
			if ns < prev[id] {
				t.Fatalf("clock %d went back by %d ns", id, prev[id]-ns)
			}
			prev[id] = ns
		}
	}
}

// TestExecLive runs the vDSO against the data page the updater keeps
// current (with short intervals), in the memory file as applications map
// it: its clocks follow the host's and never go back across updates.
func TestExecLive(t *testing.T) {
	if ok, why := tscReliable(); !ok {
		t.Skipf("host TSC not used: %s", why)
	}
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVDSO(mf, Options{}, []time.Duration{2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if ok, why := v.UsesTSC(); !ok {
		t.Fatalf("TSC not used: %s", why)
	}
	l := loadFromMemfile(t, mf, v)
	seq0 := atomicSeq(v)
	var prev int64
	var worst int64
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		for i := 0; i < 1000; i++ {
			_, ns := l.clockGettime(unix.CLOCK_MONOTONIC)
			if ns < prev {
				t.Fatalf("CLOCK_MONOTONIC went back by %d ns (update %d)", prev-ns, atomicSeq(v)-seq0)
			}
			prev = ns
		}
		before := hostNow(unix.CLOCK_MONOTONIC)
		_, ns := l.clockGettime(unix.CLOCK_MONOTONIC)
		after := hostNow(unix.CLOCK_MONOTONIC)
		if after-before > int64(5*time.Microsecond) {
			continue // preempted: the bracket says nothing
		}
		off := ns - (before+after)/2
		worst = max(worst, off, -off)
	}
	checkClocks(t, l, int64(20*time.Microsecond), false)
	if n := atomicSeq(v) - seq0; n < 10 {
		t.Errorf("only %d updates in 1s", n)
	}
	t.Logf("%d updates; largest difference from the host's CLOCK_MONOTONIC (read with a system call): %d ns", atomicSeq(v)-seq0, worst)
	if worst > int64(20*time.Microsecond) {
		t.Errorf("CLOCK_MONOTONIC was %d ns off the host's", worst)
	}
	v.Close()
	// Closed: back to system calls.
	checkClocks(t, l, 0, true)
}

// TestExecEarlyCalibration makes the vDSO from a calibration begun well
// before it, as the Sentry does: its clocks agree with the host's.
func TestExecEarlyCalibration(t *testing.T) {
	if ok, why := tscReliable(); !ok {
		t.Skipf("host TSC not used: %s", why)
	}
	cal := StartCalibration()
	time.Sleep(4 * calibration) // the Sentry setting up
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(mf, Options{Calibration: cal})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if ok, why := v.UsesTSC(); !ok {
		t.Fatalf("TSC not used: %s", why)
	}
	checkClocks(t, loadFromMemfile(t, mf, v), int64(20*time.Microsecond), false)
}

func atomicSeq(v *VDSO) uint32 { return atomic.LoadUint32(v.page.u32(offSeq)) }

func BenchmarkExecClockGettime(b *testing.B) {
	l, d := loadImage(b)
	startTSC(b, d)
	fn, buf := l.sym["__vdso_clock_gettime"], l.buf(0)
	for b.Loop() {
		ccall.Call3(fn, unix.CLOCK_MONOTONIC, buf, 0)
	}
}
