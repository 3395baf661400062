package systrap

import (
	"testing"
	"time"
)

// spinPlatform is a Platform with just what the spin heuristics read.
func spinPlatform(ncpu int) *Platform {
	p := &Platform{ncpu: ncpu}
	p.calibration.Do(func() {})
	p.itersPerMs.Store(1000)
	p.active.Store(1)
	return p
}

// A new thread's bootstrap report comes before any resume; it must not
// count as a (years-long) run, which kept every new process's Sentry
// from spinning.
func TestSpinBootstrapReportNotCounted(t *testing.T) {
	p := spinPlatform(2)
	var s spinState
	now := time.Now()
	s.trapped(p, now, false)
	if s.run != 0 || !s.trapAt.IsZero() {
		t.Fatalf("bootstrap report counted: run %v, trap at %v", s.run, s.trapAt)
	}
	if s.spinRound(p, now) {
		t.Fatal("a fresh context spins before any short round trip")
	}
	s.resumed(now, false, false)
	s.trapped(p, now.Add(2*time.Microsecond), true)
	if s.run <= 0 || s.run > time.Microsecond {
		t.Fatalf("run after one 2 µs wait = %v, want 250 ns (1/8 of it)", s.run)
	}
}

// Both sides spin or neither: a long wait on either side, another spinner
// taking the spare CPU, or a single CPU makes the round a same-CPU one.
func TestSpinRoundBothOrNeither(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name      string
		ncpu      int
		run, hand time.Duration
		want      bool
	}{
		{"short waits", 2, 2 * time.Microsecond, 2 * time.Microsecond, true},
		{"long run", 2, 2 * sentrySpinMax, 2 * time.Microsecond, false},
		{"long handling", 2, 2 * time.Microsecond, 2 * stubSpinMax, false},
		{"one CPU", 1, 2 * time.Microsecond, 2 * time.Microsecond, false},
	} {
		p := spinPlatform(tc.ncpu)
		s := spinState{run: tc.run, handle: tc.hand, proven: true}
		if got := s.spinRound(p, now); got != tc.want {
			t.Errorf("%s: spinRound = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Only ncpu-1 Sentry threads spin at once.
	p2 := spinPlatform(2)
	if !p2.reserveSpinner() || p2.reserveSpinner() {
		t.Error("2 CPUs: want exactly one spinner place")
	}
	p2.spinners.Add(-1)
	if !p2.reserveSpinner() {
		t.Error("a place given back cannot be taken again")
	}
	if spinPlatform(1).reserveSpinner() {
		t.Error("1 CPU: a spinner place was given")
	}
	// Before the spin calibration is done, nobody spins.
	p := spinPlatform(2)
	p.itersPerMs.Store(0)
	s := spinState{run: time.Microsecond, handle: time.Microsecond, proven: true}
	if s.spinRound(p, now) {
		t.Error("spinRound before calibration = true, want false")
	}
}

// A new context spins only after spinStreak short round trips in a row;
// a long wait starts the count again.
func TestSpinEarnedByStreak(t *testing.T) {
	p := spinPlatform(2)
	var s spinState
	now := time.Now()
	round := func(run, handle time.Duration) {
		s.resumed(now, false, false)
		now = now.Add(run)
		s.trapped(p, now, false)
		now = now.Add(handle)
	}
	for i := 0; i < spinStreak-1; i++ {
		round(time.Microsecond, time.Microsecond)
	}
	round(2*sentrySpinMax, time.Microsecond)
	for i := 0; i < spinStreak-1; i++ {
		round(time.Microsecond, time.Microsecond)
		if s.spinRound(p, now) {
			t.Fatalf("spins after %d short round trips", i+1)
		}
	}
	round(time.Microsecond, time.Microsecond)
	if !s.spinRound(p, now) {
		t.Fatalf("no spinning after %d short round trips", spinStreak)
	}
}

// The calibration starts once a context has earned its spinning, and
// nobody spins before it is done.
func TestSpinCalibratedOnFirstProvenContext(t *testing.T) {
	p := &Platform{ncpu: 2}
	p.active.Store(1)
	s := spinState{run: time.Microsecond, handle: time.Microsecond}
	now := time.Now()
	if s.spinRound(p, now); p.itersPerMs.Load() != 0 {
		t.Fatal("calibrated before any context earned spinning")
	}
	for range spinStreak { // earn it
		s.resumed(now, false, false)
		now = now.Add(time.Microsecond)
		s.trapped(p, now, false)
	}
	if s.spinRound(p, now) && p.itersPerMs.Load() == 0 {
		t.Error("spinRound = true before the calibration is done")
	}
	for end := time.Now().Add(5 * time.Second); p.itersPerMs.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no calibration 5 s after a context earned spinning")
		}
	}
	if !s.spinRound(p, now) {
		t.Error("spinRound = false once calibrated")
	}
}
