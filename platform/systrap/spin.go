package systrap

import (
	"time"
)

// Adaptive spinning.
//
// A futex wake-up of a sleeping thread costs a context switch, and in a VM
// a cross-CPU wake-up costs an inter-processor interrupt, which is several
// times dearer. When both sides can run at once on different CPUs, it is
// far cheaper for the waiting side to spin for a short while: the Sentry
// while the application runs until its next trap, the stub's handler
// while the Sentry handles the trap. But a spinning thread takes a CPU
// the other side (or other application threads) may need, so each side
// spins only when its wait has recently been short, only for a few times
// its recent length, and never more than a bound; the Sentry also keeps
// spinners below the number of CPUs.
//
// The Sentry measures both waits: how long the application ran (resume to
// trap) and how long the Sentry itself took (trap to resume); the stub's
// spin budget is written into the slot at each resume.

const (
	// sentrySpinMax and stubSpinMax bound the spins.
	sentrySpinMax = 30 * time.Microsecond
	stubSpinMax   = 20 * time.Microsecond
	// spinSlack is added to the expected wait.
	spinSlack = 2 * time.Microsecond
)

// spinState is a context's recent wait lengths (exponentially weighted
// moving averages, weight 1/8).
type spinState struct {
	run, handle      time.Duration
	resumeAt, trapAt time.Time
	started          bool
}

// resumed records that the application thread was let go.
func (s *spinState) resumed() {
	now := time.Now()
	if s.started {
		s.handle += (now.Sub(s.trapAt) - s.handle) / 8
	}
	s.resumeAt = now
}

// trapped records a trap; spun says whether the Sentry saw it without
// sleeping.
func (s *spinState) trapped(spun bool) {
	now := time.Now()
	s.run += (now.Sub(s.resumeAt) - s.run) / 8
	s.trapAt = now
	s.started = true
}

// sentryIters is how many PAUSE iterations the Sentry spins for the next
// trap.
func (s *spinState) sentryIters(p *Platform) int {
	if !p.spinOK() || s.run > sentrySpinMax {
		return 0
	}
	if p.spinners.Load() >= int32(p.ncpu-1) {
		return 0
	}
	return p.iters(min(2*s.run+spinSlack, sentrySpinMax))
}

// stubIters is how many iterations the handler spins for the Sentry's
// answer to the next trap.
func (s *spinState) stubIters(p *Platform) uint32 {
	if !p.spinOK() || s.handle > stubSpinMax {
		return 0
	}
	return uint32(min(p.iters(min(2*s.handle+spinSlack, stubSpinMax)), maxStubSpin))
}

// iters converts a duration into PAUSE loop iterations.
func (p *Platform) iters(d time.Duration) int {
	return int(int64(d) * int64(p.itersPerMs) / int64(time.Millisecond))
}

// spinOK says whether spinning can pay at all: there must be another CPU
// for the other side, and not more contexts running than CPUs.
func (p *Platform) spinOK() bool {
	return p.ncpu > 1 && !p.noSpin && int(p.active.Load()) <= p.ncpu
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
