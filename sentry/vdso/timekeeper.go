package vdso

import (
	"math"
	"math/bits"
	"time"

	"golang.org/x/sys/unix"
)

// Timekeeping: the parameters in the data page make the vDSO's clocks
// follow the host's CLOCK_MONOTONIC and CLOCK_REALTIME, which is what the
// Sentry's clock_gettime(2) returns.
//
// At start the TSC rate is calibrated against the host's CLOCK_MONOTONIC
// over a few milliseconds. Then the Sentry re-anchors the parameters
// (VDSO.run), first at growing intervals (10 ms, 50 ms, 250 ms) and then
// every second. Each update reads the TSC and the host's clocks together
// (a sample, good to about a tenth of a microsecond) and
//
//   - estimates the host clock's rate in TSC ticks from a baseline of up to
//     histLen samples (~16 s, where sample noise costs ~0.01 ppm) while the
//     rate over the last interval agrees with it. When it does not, the
//     host's rate changed (NTP adjusting it) and the baseline restarts
//     from the last sample;
//   - compares what the vDSO shows now with the host (the phase error) and
//     slews it away over the next interval or slewHorizon, whichever is
//     longer, by choosing a slightly faster or slower rate, by at most
//     maxSlewPPM. The vDSO's clocks are continuous at the new anchor:
//     CLOCK_MONOTONIC never jumps back. Only when it has fallen more than
//     stepThreshold behind does it step forward;
//   - goes back to short intervals when the phase error is larger than
//     sample noise and the slewing in progress explain (the host's rate
//     changed), and lengthens them again while it stays small;
//   - keeps CLOCK_REALTIME - CLOCK_MONOTONIC constant unless the host's
//     differs by more than the measurement noise, i.e. unless the host's
//     clock was set; then CLOCK_REALTIME steps as it did on the host (at
//     most an interval late).
//
// Readers may use the old parameters until the new ones are published, a
// little after the sample's TSC value. If the new rate is slower, the new
// line lies below the old one after the anchor and a reader could see time
// go back across the switch. So the new base is raised by the most the
// lines can diverge within anchorMargin after the anchor (well under a ns
// for the rate changes of a running system; the slew horizon keeps rate
// changes small even while a large error is being corrected), and the
// updater publishes only if it is still within half of that margin (see
// VDSO.update).
//
// The error against the host's clocks is the sample uncertainty plus what
// the host's rate changes accumulate within an interval: about a
// microsecond in steady state (measured on a KVM guest), up to the rate
// change times a second when NTP suddenly slews the host's clock hard.
// Either is far below what a round trip through the Sentry costs (tens of
// microseconds), so readings made through the vDSO and through system
// calls stay ordered in practice as well.

const (
	calibration   = 5 * time.Millisecond
	histLen       = 16
	maxSlewPPM    = 50000 // 5%: only reached after host clock anomalies
	stepThreshold = int64(time.Millisecond)
	anchorMargin  = int64(250 * time.Microsecond)
	slewHorizon   = int64(250 * time.Millisecond)
	// Phase errors (beyond what the slewing leaves) up to calmError let
	// the interval grow; above disturbedError, it starts again from the
	// shortest.
	calmError      = int64(2 * time.Microsecond)
	disturbedError = int64(8 * time.Microsecond)
	// realStepMin is the smallest change of the host's CLOCK_REALTIME -
	// CLOCK_MONOTONIC taken as the host's clock being set, on top of the
	// measurement uncertainty.
	realStepMin = int64(10 * time.Microsecond)
)

// updateIntervals are the times between updates, shortest first; the
// last one is the steady state.
var updateIntervals = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond, time.Second}

// sample is the TSC and the host's clocks read at (nearly) the same time.
type sample struct {
	tsc  uint64
	mono int64 // host CLOCK_MONOTONIC at tsc (ns)
	real int64 // host CLOCK_REALTIME at tsc (ns)
	unc  int64 // uncertainty of mono (ns)
}

// timekeeper computes the parameters from samples. It reads no clock
// itself (tests feed it simulated samples).
type timekeeper struct {
	intervals []time.Duration // updateIntervals
	level     int             // index of the current interval
	expect    int64           // the phase error expected at the next update

	cur     params
	hist    []sample // recent samples, oldest first
	realOff int64    // CLOCK_REALTIME - CLOCK_MONOTONIC
	offUnc  int64    // uncertainty of realOff
}

// rate returns the TSC rate between two samples as params.mult.
func rate(a, b sample) (uint64, bool) {
	if b.tsc <= a.tsc || b.mono <= a.mono {
		return 0, false
	}
	dns := uint64(b.mono - a.mono)
	hi, lo := dns>>(64-multShift), dns<<multShift
	dt := b.tsc - a.tsc
	if hi >= dt {
		return 0, false // slower than one tick per 2^32 ns
	}
	q, _ := bits.Div64(hi, lo, dt)
	return q, q != 0
}

// start returns the first parameters, from two samples some milliseconds
// apart, and the time until the first update.
func (tk *timekeeper) start(s0, s1 sample) (params, time.Duration, bool) {
	if tk.intervals == nil {
		tk.intervals = updateIntervals
	}
	mult, ok := rate(s0, s1)
	if !ok || s1.mono < 0 || s1.real < 0 {
		return params{}, 0, false
	}
	tk.level = 0
	tk.hist = []sample{s0, s1}
	tk.realOff, tk.offUnc = s1.real-s1.mono, s1.unc
	tk.cur = params{tscBase: s1.tsc, monoBase: uint64(s1.mono), realBase: uint64(s1.real), mult: mult}
	return tk.cur, tk.intervals[0], true
}

// estimateRate returns the host clock's rate at sample s and the samples to
// keep for the next estimate.
func (tk *timekeeper) estimateRate(s sample) (uint64, []sample) {
	last := tk.hist[len(tk.hist)-1]
	recent, ok := rate(last, s)
	if !ok {
		return tk.cur.mult, tk.hist
	}
	long, ok := rate(tk.hist[0], s)
	if !ok || len(tk.hist) == 1 {
		return recent, append(tk.hist, s)
	}
	// How far the two may differ by sample noise alone (four times the
	// relative uncertainty of the recent rate), plus 1 ppm.
	dns := uint64(s.mono - last.mono)
	hi, lo := bits.Mul64(recent, uint64(4*(s.unc+last.unc)))
	tol := recent / 1e6
	if hi < dns {
		q, _ := bits.Div64(hi, lo, dns)
		tol += q
	} else {
		tol = math.MaxUint64
	}
	if max(long, recent)-min(long, recent) > tol {
		// The host's rate changed: start a new baseline.
		return recent, []sample{last, s}
	}
	return long, append(tk.hist, s)
}

// next returns the parameters to publish for sample s and the time until
// the following update. commit must be called once they are published.
func (tk *timekeeper) next(s sample) (p params, interval time.Duration, commit func()) {
	old := &tk.cur
	mult, hist := tk.estimateRate(s)

	// The phase error: what the vDSO shows at s.tsc against the host,
	// and how much of it the last update did not expect.
	v := old.mono(s.tsc)
	behind := s.mono - int64(v)
	surprise := behind - tk.expect
	level := tk.level
	switch {
	case surprise > disturbedError || -surprise > disturbedError:
		level = 0
	case surprise <= calmError && -surprise <= calmError:
		level = min(level+1, len(tk.intervals)-1)
	}
	interval = tk.intervals[level]
	iv := max(int64(interval), int64(time.Millisecond))

	base := v
	expect := int64(0)
	if behind > stepThreshold {
		base = uint64(s.mono)
	} else {
		// Gain (or lose) behind over slewHorizon, or the interval if
		// longer: rate := rate * (h + behind) / h.
		h := max(iv, slewHorizon)
		lim := h / 1e6 * maxSlewPPM
		gain := min(max(behind, -lim), lim)
		hi, lo := bits.Mul64(mult, uint64(h+gain))
		if hi < uint64(h) {
			mult, _ = bits.Div64(hi, lo, uint64(h))
			expect = behind - gain*iv/h
		}
	}
	if mult == 0 {
		mult = old.mult
	}
	// Never below the old line within anchorMargin of the anchor (see
	// above); +2 covers the rounding of both lines.
	if mult < old.mult {
		marginTicks := ticks(anchorMargin, old.mult)
		hi, lo := bits.Mul64(marginTicks, old.mult-mult)
		base += hi<<(64-multShift) | lo>>multShift
	}
	base += 2

	realOff, offUnc := tk.realOff, tk.offUnc
	if d := s.real - s.mono - realOff; d > realStepMin+4*(s.unc+offUnc) || -d > realStepMin+4*(s.unc+offUnc) {
		realOff, offUnc = s.real-s.mono, s.unc
	}
	p = params{tscBase: s.tsc, monoBase: base, realBase: uint64(max(int64(base)+realOff, 0)), mult: mult}
	return p, interval, func() {
		tk.cur = p
		tk.level = level
		tk.expect = expect
		tk.realOff, tk.offUnc = realOff, offUnc
		if len(hist) > histLen {
			hist = append(hist[:0:0], hist[len(hist)-histLen:]...)
		}
		tk.hist = hist
	}
}

// ticks converts ns into TSC ticks at rate mult.
func ticks(ns int64, mult uint64) uint64 {
	hi, lo := uint64(ns)>>(64-multShift), uint64(ns)<<multShift
	if hi >= mult {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, mult)
	return q
}

// hostClock reads the host's clocks as the Sentry's clock_gettime(2)
// does, but fast: time.Now reads them through the host's vDSO, yet gives
// CLOCK_MONOTONIC only relative to an origin of its own. monoOff, the
// origin's CLOCK_MONOTONIC, is measured with the system call (which costs
// about a microsecond under a hypervisor) and refined at every update.
type hostClock struct {
	origin  time.Time
	monoOff int64 // host CLOCK_MONOTONIC - time.Since(origin)
	offUnc  int64
}

func newHostClock() *hostClock {
	h := &hostClock{origin: time.Now(), offUnc: math.MaxInt64}
	h.refine(8)
	return h
}

// refine measures monoOff n times and keeps the most precise measurement.
func (h *hostClock) refine(n int) {
	for range n {
		var ts unix.Timespec
		a := time.Since(h.origin)
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return
		}
		b := time.Since(h.origin)
		if unc := int64(b-a)/2 + 1; unc < h.offUnc {
			h.monoOff, h.offUnc = ts.Nano()-int64(a+b)/2, unc
		}
	}
}

// sample reads the TSC between two readings of the host's clocks, a few
// times, and returns the tightest. time.Now reads CLOCK_REALTIME just
// before CLOCK_MONOTONIC, so a reading's difference of the two is the
// true offset minus however long it was held up in between: the largest
// difference seen is the best estimate of the offset.
func (h *hostClock) sample() sample {
	best := sample{unc: math.MaxInt64}
	off := int64(math.MinInt64)
	for range 5 {
		t0 := time.Now()
		tsc := rdtsc()
		t1 := time.Now()
		m0, m1 := h.monoOff+int64(t0.Sub(h.origin)), h.monoOff+int64(t1.Sub(h.origin))
		off = max(off, t0.UnixNano()-m0, t1.UnixNano()-m1)
		if unc := (m1-m0)/2 + 1; unc < best.unc {
			best = sample{tsc: tsc, mono: (m0 + m1) / 2, unc: unc}
		}
	}
	best.real = best.mono + off
	return best
}
