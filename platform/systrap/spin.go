package systrap

import (
	"time"
)

// Adaptive spinning and CPU binding.
//
// Between a trap and the Sentry's answer, and between the answer and the
// next trap, one side waits for the other. A futex wake-up of a sleeping
// thread costs a context switch, and in a VM a cross-CPU wake-up costs an
// inter-processor interrupt, which is far dearer (measured here: ~6 µs for
// a same-CPU futex round trip, ~70 µs across CPUs, ~1.5 µs for two
// processes spinning on one cache line from two CPUs). So a context works
// in one of two modes:
//
//   - spinning: both sides spin for a bounded time before sleeping (the
//     Sentry while the application runs until its next trap, the stub's
//     handler while the Sentry handles the trap), and the application
//     thread may run on any CPU. It pays only when the two run on
//     different CPUs at once: a spinning thread takes a CPU the other side
//     (or other threads) may need.
//   - sleeping: neither side spins, and the application thread is bound to
//     the CPU of the Sentry thread that waits for it (as the ptrace
//     platform binds its stub threads), so that each hand-off is a cheap
//     same-CPU wake-up.
//
// A context spins only when there is a CPU to spare (more than one CPU,
// no more contexts inside Switch than CPUs, fewer Sentry threads spinning
// than CPUs - 1), once it has shown a streak of short round trips, and
// while its recent waits were short; each side spins for a few times its
// recent wait. When spins keep missing (the other side was
// not running), the context sleeps for a while (sleepFor) and then tries
// spinning again.

const (
	// sentrySpinMax and stubSpinMax bound the spins.
	sentrySpinMax = 30 * time.Microsecond
	stubSpinMax   = 20 * time.Microsecond
	// spinSlack is added to the expected wait: enough to ride out a Go
	// preemption signal or a short scheduling hiccup on the other side,
	// which a sleep would turn into a wake-up many times dearer.
	spinSlack = 8 * time.Microsecond
	// maxMisses spins in a row that end asleep switch to sleeping.
	maxMisses = 8
	// sleepFor is how long a context stays sleeping before trying again.
	sleepFor = 5 * time.Millisecond
	// spinStreak round trips in a row with short waits on both sides
	// earn a new context the right to spin (see spinRound).
	spinStreak = 16
)

// spinState is a context's recent wait lengths (exponentially weighted
// moving averages, weight 1/8) and mode.
type spinState struct {
	run, handle      time.Duration
	resumeAt, trapAt time.Time // zero until the first resume, trap
	streak           int       // round trips in a row with short waits...
	proven           bool      // ... reached spinStreak once

	misses     int       // spins in a row that ended asleep
	asleep     bool      // in sleeping mode...
	sleepUntil time.Time // ... until then
	spun       bool      // the Sentry spins for the current trap
}

// sleeping says whether the context is in sleeping mode now. Leaving it
// forgets the waits measured while asleep, which say nothing about how
// long a spin would have lasted.
func (s *spinState) sleeping(p *Platform, now time.Time) bool {
	if !p.spinOK() {
		return true
	}
	if s.asleep {
		if now.Before(s.sleepUntil) {
			return true
		}
		s.asleep = false
		s.run, s.handle, s.misses = 0, 0, 0
	}
	return false
}

// miss records a spin (of either side) that ended asleep.
func (s *spinState) miss(now time.Time) {
	s.misses++
	if s.misses >= maxMisses {
		s.misses = 0
		s.asleep = true
		s.sleepUntil = now.Add(sleepFor)
	}
}

// resumed records that the application thread was let go; stubSlept says
// whether the handler had gone to sleep waiting for it.
func (s *spinState) resumed(now time.Time, stubSpun, stubSlept bool) {
	if !s.trapAt.IsZero() {
		h := now.Sub(s.trapAt)
		s.handle += (h - s.handle) / 8
		if h > stubSpinMax {
			s.streak = 0
		}
	}
	if stubSpun {
		if stubSlept {
			s.miss(now)
		} else {
			s.misses = 0
		}
	}
	s.resumeAt = now
}

// trapped records a trap; found says whether the Sentry's spin saw it.
// A report before any resume is a new thread's bootstrap: it says
// nothing about how long the application runs (counted from the zero
// time, it made the average years long, and neither side spun for the
// next few hundred traps of every new process), so it is not counted.
func (s *spinState) trapped(p *Platform, now time.Time, found bool) {
	if s.resumeAt.IsZero() {
		return
	}
	r := now.Sub(s.resumeAt)
	s.run += (r - s.run) / 8
	if r > sentrySpinMax {
		s.streak = 0
	} else if s.streak++; s.streak >= spinStreak && !s.proven {
		s.proven = true
		p.calibrate()
	}
	s.trapAt = now
	if s.spun {
		if found {
			s.misses = 0
		} else {
			s.miss(now)
		}
	}
}

// spinRound says whether both sides spin in the next round trip: the
// Sentry for the trap, the handler for the answer. A new context first
// has to show spinStreak short round trips in a row: spinning takes a
// second CPU, which a short-lived process (a fork+exec, mostly page
// faults too long to spin on) needs more for the Sentry's other threads.
// Then it is both sides or neither.
// A side that sleeps while the other runs on another CPU needs a
// cross-CPU wake-up, the dearest hand-off there is; when neither spins,
// the application thread is bound to the Sentry thread's CPU and both
// hand-offs are same-CPU wake-ups. (Letting the handler spin alone, when
// the application ran too long between traps for the Sentry to, made
// every trap of a new process a cross-CPU wake-up of ~40 µs here; and
// that latency, counted as running time, kept the Sentry from spinning
// for the rest of the process's short life.)
func (s *spinState) spinRound(p *Platform, now time.Time) bool {
	return !s.sleeping(p, now) && s.proven && s.run <= sentrySpinMax && s.handle <= stubSpinMax
}

// reserveSpinner takes one of the ncpu-1 places of Sentry threads that
// may spin at once (a CPU stays for the application threads), or says
// there is none; waitTrap gives it back.
func (p *Platform) reserveSpinner() bool {
	for {
		n := p.spinners.Load()
		if n >= int32(p.ncpu-1) {
			return false
		}
		if p.spinners.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sentryIters is how many PAUSE iterations the Sentry spins for the trap
// of a spinning round.
func (s *spinState) sentryIters(p *Platform) int {
	s.spun = true
	return p.iters(min(2*s.run+spinSlack, sentrySpinMax))
}

// stubIters is how many iterations the handler spins for the Sentry's
// answer in a spinning round.
func (s *spinState) stubIters(p *Platform) uint32 {
	return uint32(min(p.iters(min(2*s.handle+spinSlack, stubSpinMax)), maxStubSpin))
}

// iters converts a duration into PAUSE loop iterations.
func (p *Platform) iters(d time.Duration) int {
	return max(1, int(int64(d)*p.itersPerMs.Load()/int64(time.Millisecond)))
}

// spinOK says whether spinning can pay at all: there must be another CPU
// for the other side, and not more contexts running than CPUs.
func (p *Platform) spinOK() bool {
	return p.ncpu > 1 && !p.noSpin && int(p.active.Load()) <= p.ncpu && p.itersPerMs.Load() > 0
}

// calibrate starts the spin calibration, once, when the first context
// has earned its spinning (trapped): ~1 ms of PAUSEs that a sandbox whose processes
// never trap in quick succession (most of start-up, /bin/true) does not
// pay, on CPUs that are busiest then. Nothing spins until it is done.
func (p *Platform) calibrate() {
	p.calibration.Do(func() {
		if p.ncpu > 1 {
			go func() { p.itersPerMs.Store(int64(calibrateSpin())) }()
		}
	})
}

// calibrateSpin measures how many PAUSE loop iterations make a
// millisecond here.
func calibrateSpin() int {
	const n = 20000
	best := time.Duration(1 << 62)
	for try := 0; try < 3; try++ {
		start := time.Now()
		for i := 0; i < n; i++ {
			cpuRelax()
		}
		best = min(best, time.Since(start))
	}
	if best <= 0 {
		best = time.Microsecond
	}
	return int(int64(n) * int64(time.Millisecond) / int64(best))
}
