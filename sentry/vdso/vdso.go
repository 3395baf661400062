// Package vdso provides the sandbox's vDSO: a small shared object the
// Sentry maps into every address space (AT_SYSINFO_EHDR, "[vdso]" in
// /proc/self/maps) so that clock_gettime, gettimeofday, time, clock_getres
// and getcpu run in the application without a system call, as on Linux.
// Under the ptrace platform a system call costs tens of microseconds; these
// calls are the most frequent ones of many programs (Go's runtime reads the
// clock around every scheduling decision).
//
// The shared object is csrc/vdso.c linked by csrc/vdso.lds (in their own
// directory: the go tool refuses C files in a package without cgo);
// `go generate` (mkimage.go) compiles it with gcc and stores the result in
// vdso_image.go, so building Veil needs no C compiler. image_test.go checks that the stored image was
// built from the current sources.
//
// Its functions compute time from the TSC with parameters in a data page
// ("[vvar]", read-only, right below the image) that the Sentry keeps
// current (timekeeper.go). When the host's TSC is not reliable the data
// page tells the vDSO to make the real system call, which traps into the
// Sentry as without a vDSO. Clocks the vDSO does not serve (the CPU-time
// clocks, unknown ids) always take the system call.
//
// Every address space maps the same pages: the image and the data page are
// allocated once in the memory file.
package vdso

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

//go:generate go run mkimage.go -o vdso_image.go

const pageSize = memfile.PageSize

// TSCMode says whether the vDSO computes time from the TSC.
type TSCMode int

const (
	// TSCAuto uses the TSC when the host's is reliable (see tscReliable).
	TSCAuto TSCMode = iota
	// TSCOn uses the TSC regardless.
	TSCOn
	// TSCOff makes the vDSO functions make the system call.
	TSCOff
)

// Options configure New.
type Options struct {
	TSC TSCMode
	// Calibration, if not nil, is the calibration's start, taken
	// earlier (StartCalibration).
	Calibration *Calibration
}

// A Calibration is the first sample of the TSC calibration. The Sentry
// takes it as soon as it starts, so that the milliseconds the calibration
// needs pass while it sets the sandbox up rather than before the first
// process can map the vDSO. It serves one New: the vDSO then owns its
// clock.
type Calibration struct {
	clock *hostClock
	s0    sample
	at    time.Time
}

// StartCalibration takes the first sample (~10 µs).
func StartCalibration() *Calibration {
	c := &Calibration{clock: newHostClock()}
	c.s0 = c.clock.sample()
	c.at = time.Now()
	return c
}

// VDSO is one sandbox's vDSO: the image and data page in the memory file,
// and the goroutine keeping the data page current. It implements
// loader.VDSO.
type VDSO struct {
	text *fixedMappable // the image, rounded up to pages
	data *fixedMappable // the data page
	page dataPage

	tk      timekeeper
	clock   *hostClock
	tscWhy  string // why the TSC is or is not used
	useTSC  bool
	ready   chan struct{} // closed once the data page is usable
	stop    chan struct{}
	done    chan struct{}
	closeMu sync.Mutex
	closed  bool
}

// New allocates the vDSO in mf and, if it uses the TSC, calibrates it;
// Map waits for that (a few milliseconds after New, or after
// o.Calibration began).
func New(mf *memfile.File, o Options) (*VDSO, error) {
	return newVDSO(mf, o, updateIntervals)
}

// newVDSO is New with the intervals between updates (tests shorten them).
func newVDSO(mf *memfile.File, o Options, intervals []time.Duration) (*VDSO, error) {
	img := imageBytes()
	textSize := (int64(len(img)) + pageSize - 1) &^ (pageSize - 1)
	off, err := mf.Allocate(textSize + pageSize)
	if err != nil {
		return nil, fmt.Errorf("vdso: %w", err)
	}
	v := &VDSO{
		data:  &fixedMappable{off: off, size: pageSize},
		text:  &fixedMappable{off: off + pageSize, size: textSize},
		page:  dataPage{mem: mf.Slice(off, pageSize)},
		ready: make(chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		tk:    timekeeper{intervals: intervals},
	}
	copy(mf.Slice(v.text.off, textSize), img)

	switch o.TSC {
	case TSCOn:
		v.useTSC, v.tscWhy = haveTSC, "forced on"
		if !haveTSC {
			v.tscWhy = "no TSC on this architecture"
		}
	case TSCOff:
		v.tscWhy = "disabled"
	default:
		v.useTSC, v.tscWhy = tscReliable()
	}
	v.page.setMode(modeSyscall)
	if !v.useTSC {
		close(v.ready)
		close(v.done)
		return v, nil
	}
	cal := o.Calibration
	if cal == nil {
		cal = StartCalibration()
	}
	v.clock = cal.clock
	go v.run(cal)
	return v, nil
}

// UsesTSC reports whether the vDSO computes time itself (rather than making
// system calls), and why.
func (v *VDSO) UsesTSC() (bool, string) {
	<-v.ready
	return v.useTSC, v.tscWhy
}

// Close stops the updates and switches the vDSO to system calls. The
// memory stays allocated (address spaces may still map it).
func (v *VDSO) Close() {
	v.closeMu.Lock()
	if !v.closed {
		v.closed = true
		close(v.stop)
	}
	v.closeMu.Unlock()
	<-v.done
	v.page.setMode(modeSyscall)
}

// Map implements loader.VDSO.Map: it maps the data page and the image
// into m, ending at top if that range is free (anywhere otherwise), and
// returns the address of the image's ELF header for AT_SYSINFO_EHDR.
func (v *VDSO) Map(m *mm.MemoryManager, top uintptr) (uintptr, error) {
	<-v.ready
	size := uintptr(pageSize + v.text.size)
	base, err := m.MMap(mm.MMapOpts{Addr: (top - size) &^ (pageSize - 1), Length: size, Prot: unix.PROT_NONE})
	if err != nil {
		return 0, err
	}
	// Like Linux's: the data page cannot be made writable, the image can
	// (a private copy, for debuggers).
	if _, err := m.MMap(mm.MMapOpts{Addr: base, Length: pageSize, Fixed: true,
		Prot: unix.PROT_READ, MaxProt: unix.PROT_READ, Mappable: v.data, Name: "[vvar]"}); err != nil {
		return 0, err
	}
	text := base + pageSize
	if _, err := m.MMap(mm.MMapOpts{Addr: text, Length: uintptr(v.text.size), Fixed: true,
		Prot: unix.PROT_READ | unix.PROT_EXEC, Mappable: v.text, Name: "[vdso]"}); err != nil {
		return 0, err
	}
	return text, nil
}

// run calibrates the TSC, publishes the first parameters and then keeps
// them current.
func (v *VDSO) run(cal *Calibration) {
	defer close(v.done)
	time.Sleep(calibration - time.Since(cal.at))
	s1 := v.clock.sample()
	p, interval, ok := v.tk.start(cal.s0, s1)
	if !ok {
		v.useTSC, v.tscWhy = false, "TSC calibration failed"
		close(v.ready)
		return
	}
	v.page.publish(p)
	v.page.setMode(modeTSC)
	close(v.ready)

	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-timer.C:
		}
		timer.Reset(v.update())
	}
}

// update re-anchors the parameters with a fresh sample and returns the
// time until the next update.
func (v *VDSO) update() time.Duration {
	v.clock.refine(1)
	for range 10 {
		s := v.clock.sample()
		if s.unc > int64(5*time.Microsecond) {
			// Preempted while sampling: try again a little later.
			time.Sleep(100 * time.Microsecond)
			continue
		}
		p, interval, commit := v.tk.next(s)
		// Publish only well within the anchor margin (see
		// timekeeper.go); otherwise take a new sample.
		if rdtsc()-s.tsc > ticks(anchorMargin/2, v.tk.cur.mult) {
			continue
		}
		v.page.publish(p)
		commit()
		return interval
	}
	return v.tk.intervals[0]
}

// fixedMappable is memory file pages that never move: the image or the
// data page.
type fixedMappable struct {
	off, size int64
}

// TranslatePage implements mm.Mappable.
func (f *fixedMappable) TranslatePage(off int64) (int64, error) {
	if off < 0 || off >= f.size {
		return 0, unix.EFAULT
	}
	return f.off + off, nil
}

// tscReliable reports whether the host's TSC can be used: it must tick at
// a constant rate (constant_tsc), also in deep sleep states (nonstop_tsc),
// on every CPU, and the host kernel must be using it as its clocksource,
// which Linux does only after checking that the TSCs of all CPUs are
// synchronized (and stops doing if its watchdog finds otherwise).
func tscReliable() (bool, string) {
	if !haveTSC {
		return false, "no TSC on this architecture"
	}
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil {
		return false, fmt.Sprintf("host clocksource unknown: %v", err)
	}
	if c := strings.TrimSpace(string(cs)); c != "tsc" {
		return false, fmt.Sprintf("host clocksource is %q, not tsc", c)
	}
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false, fmt.Sprintf("reading /proc/cpuinfo: %v", err)
	}
	return cpuinfoTSCFlags(string(ci))
}

// cpuinfoTSCFlags checks that every CPU's flags include constant_tsc and
// nonstop_tsc.
func cpuinfoTSCFlags(cpuinfo string) (bool, string) {
	cpus := 0
	for _, line := range strings.Split(cpuinfo, "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "flags" {
			continue
		}
		cpus++
		flags := strings.Fields(val)
		for _, want := range []string{"constant_tsc", "nonstop_tsc"} {
			found := false
			for _, f := range flags {
				found = found || f == want
			}
			if !found {
				return false, fmt.Sprintf("CPU flag %s missing", want)
			}
		}
	}
	if cpus == 0 {
		return false, "no CPU flags in /proc/cpuinfo"
	}
	return true, "host TSC is constant, nonstop and the host's clocksource"
}

// imageBytes returns a copy of the image (vdso_image.go).
func imageBytes() []byte { return []byte(image) }
