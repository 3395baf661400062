package vdso

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// simHost is a simulated host: a TSC at a nominal 2.4 GHz and host clocks
// whose rate against it changes over time (NTP), read with noise.
type simHost struct {
	segs    []simSeg // CLOCK_MONOTONIC as a piecewise linear function of the TSC
	realOff float64  // CLOCK_REALTIME - CLOCK_MONOTONIC
	noise   float64  // sample noise (ns), uniform in [-noise, noise]
	rng     *rand.Rand
}

type simSeg struct {
	tsc       uint64
	mono      float64
	nsPerTick float64
}

const simNsPerTick = 1 / 2.4

func newSimHost(seed uint64) *simHost {
	return &simHost{
		segs:    []simSeg{{tsc: 1 << 40, mono: 5e12, nsPerTick: simNsPerTick}},
		realOff: 1.7e18,
		noise:   150,
		rng:     rand.New(rand.NewPCG(seed, 1)),
	}
}

func (h *simHost) seg(tsc uint64) simSeg {
	s := h.segs[0]
	for _, c := range h.segs {
		if c.tsc <= tsc {
			s = c
		}
	}
	return s
}

func (h *simHost) mono(tsc uint64) float64 {
	s := h.seg(tsc)
	return s.mono + float64(tsc-s.tsc)*s.nsPerTick
}

// setRate makes the host's clock run ppm faster than nominal from tsc on.
func (h *simHost) setRate(tsc uint64, ppm float64) {
	h.segs = append(h.segs, simSeg{tsc: tsc, mono: h.mono(tsc), nsPerTick: simNsPerTick * (1 + ppm*1e-6)})
}

// jump moves the host's CLOCK_MONOTONIC against the TSC by d ns at tsc.
func (h *simHost) jump(tsc uint64, d float64) {
	s := h.seg(tsc)
	h.segs = append(h.segs, simSeg{tsc: tsc, mono: h.mono(tsc) + d, nsPerTick: s.nsPerTick})
}

func (h *simHost) sample(tsc uint64) sample {
	n := func() float64 { return (h.rng.Float64()*2 - 1) * h.noise }
	m := h.mono(tsc)
	return sample{tsc: tsc, mono: int64(m + n()), real: int64(m + h.realOff + n()), unc: int64(h.noise)}
}

// ticksFor converts host ns into TSC ticks at tsc.
func (h *simHost) ticksFor(tsc uint64, ns time.Duration) uint64 {
	return uint64(float64(ns) / h.seg(tsc).nsPerTick)
}

// simResult is what a simulation observed.
type simResult struct {
	maxErr      float64 // largest |vDSO - host| of CLOCK_MONOTONIC
	maxErrAfter float64 // the same, after warmUp
	maxRealErr  float64 // largest |vDSO - host| of CLOCK_REALTIME after warmUp
	maxBump     uint64  // largest forward jump of CLOCK_MONOTONIC at an update
	updates     int
	log         []string
}

// simulate runs the timekeeper against h for dur. events may change the
// host at each update (tsc is the update's, elapsed the simulated time).
// It checks at every update that neither clock can go back: the new
// parameters read at least the old ones for every TSC value between the
// anchor and anchorMargin later (readers use the old ones until the
// publication, which the updater makes within half that margin).
func simulate(t *testing.T, h *simHost, dur, warmUp time.Duration, events func(tsc uint64, elapsed time.Duration)) simResult {
	t.Helper()
	var res simResult
	var tk timekeeper
	tsc := uint64(1 << 40)
	s0 := h.sample(tsc)
	tsc += h.ticksFor(tsc, calibration)
	p, interval, ok := tk.start(s0, h.sample(tsc))
	if !ok {
		t.Fatal("start failed")
	}
	elapsed := calibration
	realStepped := false
	for elapsed < dur {
		// Read the clocks throughout the interval.
		n := h.ticksFor(tsc, interval)
		for k := uint64(1); k <= 20; k++ {
			x := tsc + n*k/20
			err := math.Abs(float64(p.mono(x)) - h.mono(x))
			res.maxErr = max(res.maxErr, err)
			if elapsed >= warmUp {
				res.maxErrAfter = max(res.maxErrAfter, err)
				res.maxRealErr = max(res.maxRealErr, math.Abs(float64(p.real(x))-h.mono(x)-h.realOff))
			}
		}
		tsc += n
		elapsed += interval
		off := h.realOff
		if events != nil {
			events(tsc, elapsed)
		}
		realStepped = off != h.realOff
		np, niv, commit := tk.next(h.sample(tsc))
		margin := ticks(anchorMargin, p.mult)
		for _, d := range []uint64{0, 1, 1000, margin / 4, margin / 2, margin} {
			x := tsc + d
			if np.mono(x) < p.mono(x) {
				t.Fatalf("at %v: CLOCK_MONOTONIC goes back by %d ns %d ticks after the anchor", elapsed, p.mono(x)-np.mono(x), d)
			}
			if !realStepped && np.real(x) < p.real(x) {
				t.Fatalf("at %v: CLOCK_REALTIME goes back by %d ns %d ticks after the anchor", elapsed, p.real(x)-np.real(x), d)
			}
		}
		x := tsc + margin/2
		res.maxBump = max(res.maxBump, np.mono(x)-p.mono(x))
		commit()
		res.log = append(res.log, time.Duration(elapsed).String()+"/"+niv.String())
		p, interval = np, niv
		res.updates++
	}
	return res
}

func TestTimekeeperSteady(t *testing.T) {
	h := newSimHost(1)
	// NTP nudging the host's rate by up to ±0.1 ppm every 16 s around
	// an offset of 12 ppm from nominal.
	ppm := 12.0
	h.setRate(1<<40, ppm)
	next := 16 * time.Second
	r := simulate(t, h, 10*time.Minute, 2*time.Second, func(tsc uint64, el time.Duration) {
		if el >= next {
			ppm += h.rng.Float64()*0.2 - 0.1
			h.setRate(tsc, ppm)
			next += 16 * time.Second
		}
	})
	t.Logf("%d updates, max error %.0f ns, after 2s %.0f ns (realtime %.0f ns), largest jump %d ns",
		r.updates, r.maxErr, r.maxErrAfter, r.maxRealErr, r.maxBump)
	if r.maxErr > 50e3 || r.maxErrAfter > 2e3 || r.maxRealErr > 2e3 || r.maxBump > 10 {
		t.Errorf("error too large")
	}
	// Steady state: one update a second.
	if r.updates > 620 {
		t.Errorf("%d updates in 10 minutes", r.updates)
	}
}

// TestTimekeeperRateChange: the host's rate changes abruptly by 200 ppm
// (NTP starting to slew a large offset away). The error is at most what
// accumulates within one interval, and shrinks fast after that.
func TestTimekeeperRateChange(t *testing.T) {
	h := newSimHost(2)
	changed, recovered := false, time.Duration(0)
	var at time.Duration
	r := simulate(t, h, time.Minute, 2*time.Second, func(tsc uint64, el time.Duration) {
		switch {
		case !changed && el >= 20*time.Second:
			// Just after an update: the worst case.
			h.setRate(tsc+1, 200)
			changed, at = true, el
		case changed && el >= 40*time.Second && recovered == 0:
			h.setRate(tsc+1, 0)
			recovered = el
		}
	})
	t.Logf("rate change at %v; max error %.0f ns (realtime %.0f ns); largest jump %d ns; %d updates",
		at, r.maxErrAfter, r.maxRealErr, r.maxBump, r.updates)
	// 200 ppm for one second is 200 µs.
	if r.maxErrAfter > 205e3 || r.maxBump > 1000 {
		t.Errorf("error %.0f ns, jump %d ns", r.maxErrAfter, r.maxBump)
	}
	// Short intervals after each change, one a second again later.
	if !strings.Contains(strings.Join(r.log, " "), "/10ms") || r.updates < 60 || r.updates > 120 {
		t.Errorf("%d updates: %v", r.updates, r.log)
	}
}

// TestTimekeeperConverges: whatever the error after a disturbance, the
// vDSO comes back to within a few microseconds of the host without going
// back in time: ahead of the host it slews (slower), behind it steps.
func TestTimekeeperConverges(t *testing.T) {
	for _, jump := range []float64{-20e6, -3e6, -500e3, -400, 400, 500e3, 3e6, 20e6} {
		h := newSimHost(3)
		jumped := false
		r := simulate(t, h, 40*time.Second, 25*time.Second, func(tsc uint64, el time.Duration) {
			if !jumped && el >= 10*time.Second {
				h.jump(tsc, jump)
				jumped = true
			}
		})
		t.Logf("host jumps %+.0f ns: error %.0f ns 15 s later, largest jump %d ns", jump, r.maxErrAfter, r.maxBump)
		if r.maxErrAfter > 2e3 {
			t.Errorf("host jumps %+.0f ns: still %.0f ns off 15 s later", jump, r.maxErrAfter)
		}
		// Only a host clock far ahead makes the vDSO step; otherwise
		// it slews, with jumps (the margin for rate changes) small
		// against the error it corrects.
		allowed := math.Abs(jump)/1000 + 1000
		if jump > float64(stepThreshold) {
			allowed = jump + 10e3
		}
		if float64(r.maxBump) > allowed {
			t.Errorf("host jumps %+.0f ns: the vDSO's clock jumped %d ns", jump, r.maxBump)
		}
	}
}

// TestTimekeeperRealtimeStep: setting the host's clock moves the vDSO's
// CLOCK_REALTIME at the next update, and only then.
func TestTimekeeperRealtimeStep(t *testing.T) {
	h := newSimHost(4)
	stepped := false
	r := simulate(t, h, 30*time.Second, 15*time.Second, func(tsc uint64, el time.Duration) {
		if !stepped && el >= 10*time.Second {
			h.realOff -= 3600e9
			stepped = true
		}
	})
	if r.maxRealErr > 2e3 {
		t.Errorf("CLOCK_REALTIME %.0f ns off after the host's clock was set", r.maxRealErr)
	}
}

// TestTimekeeperNoise: with noisier samples (a busy host) the error stays
// proportional to the noise.
func TestTimekeeperNoise(t *testing.T) {
	h := newSimHost(5)
	h.noise = 2000
	r := simulate(t, h, 5*time.Minute, 2*time.Second, nil)
	t.Logf("noise ±2 µs: max error %.0f ns after 2 s", r.maxErrAfter)
	if r.maxErrAfter > 10e3 {
		t.Errorf("error %.0f ns", r.maxErrAfter)
	}
}

func TestParamsArithmetic(t *testing.T) {
	// 1 ns per tick exactly, far from the anchor: no overflow.
	p := params{tscBase: 100, monoBase: 7, realBase: 1e18, mult: 1 << 32}
	if got := p.mono(100 + 1<<62); got != 7+1<<62 {
		t.Errorf("mono = %d", got)
	}
	if got := p.mono(50); got != 7 {
		t.Errorf("before the anchor: %d, want the base", got)
	}
	// 2.4 GHz: 1e9 ns after 2.4e9 ticks, within a ns.
	mult, ok := rate(sample{tsc: 0, mono: 0}, sample{tsc: 2_400_000_000, mono: 1e9})
	if !ok {
		t.Fatal("rate")
	}
	p = params{mult: mult}
	if got := p.mono(2_400_000_000); got < 1e9-1 || got > 1e9 {
		t.Errorf("mono after 2.4e9 ticks at 2.4 GHz = %d", got)
	}
	if n := ticks(1e9, mult); n < 2_399_999_990 || n > 2_400_000_010 {
		t.Errorf("ticks(1s) = %d", n)
	}
}

func TestCPUInfoFlags(t *testing.T) {
	good := "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp\n\nprocessor\t: 1\nflags\t\t: tsc nonstop_tsc constant_tsc\n"
	if ok, why := cpuinfoTSCFlags(good); !ok {
		t.Errorf("rejected: %s", why)
	}
	bad := good + "\nprocessor\t: 2\nflags\t\t: fpu tsc constant_tsc\n"
	if ok, _ := cpuinfoTSCFlags(bad); ok {
		t.Errorf("accepted a CPU without nonstop_tsc")
	}
	if ok, _ := cpuinfoTSCFlags("processor : 0\n"); ok {
		t.Errorf("accepted no flags at all")
	}
}
