// Package ktime holds what the Sentry's timers share: the clocks the
// sandbox reads from the host (CLOCK_REALTIME, CLOCK_MONOTONIC,
// CLOCK_BOOTTIME), the arithmetic of a timer's setting (next expiry and
// period on its clock, overruns), and a timer on a host clock that calls a
// function at each expiry. POSIX timers (timer_create(2)), timerfd
// (timerfd_create(2)) and the interval timers use it; timers on CPU-time
// clocks are driven by the kernel's CPU timer tick instead (a CPU clock
// cannot be waited for).
package ktime

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Setting is the arming of a timer: when it next expires, as a reading of
// its clock, and its period (0 for a one-shot timer).
type Setting struct {
	Enabled bool
	Next    time.Duration
	Period  time.Duration
}

// Relative arms a timer to expire value after now (disarmed if value is
// 0), then every period.
func Relative(now, value, period time.Duration) Setting {
	if value == 0 {
		return Setting{}
	}
	return Setting{Enabled: true, Next: now + value, Period: period}
}

// Absolute arms a timer to expire when its clock reads value (disarmed if
// value is 0), then every period.
func Absolute(value, period time.Duration) Setting {
	if value == 0 {
		return Setting{}
	}
	return Setting{Enabled: true, Next: value, Period: period}
}

// Advance returns the setting once the clock reads now, and how many times
// the timer expired up to now (0 if it is not due). A one-shot timer that
// expired is disarmed; a periodic one moves to its first expiry after now.
func (s Setting) Advance(now time.Duration) (Setting, uint64) {
	if !s.Enabled || now < s.Next {
		return s, 0
	}
	if s.Period <= 0 {
		return Setting{}, 1
	}
	n := uint64((now-s.Next)/s.Period) + 1
	s.Next += time.Duration(n) * s.Period
	return s, n
}

// Remaining returns what timer_gettime(2) and getitimer(2) report at now:
// the time until the next expiry (0 if disarmed; never 0 for an armed
// timer, which may be due but not yet served) and the period.
func (s Setting) Remaining(now time.Duration) (value, period time.Duration) {
	if !s.Enabled {
		return 0, s.Period
	}
	value = s.Next - now
	if value <= 0 {
		value = 1
	}
	return value, s.Period
}

// Clock is a clock timers can be set on.
type Clock interface {
	// Now reads the clock.
	Now() time.Duration
}

// HostClock is one of the host's clocks the sandbox shares.
type HostClock int32

// The host clocks.
const (
	Realtime  = HostClock(unix.CLOCK_REALTIME)
	Monotonic = HostClock(unix.CLOCK_MONOTONIC)
)

// HostClockOf returns the host clock behind clock id as the sandbox reads
// it (syscalls' clock_gettime and the vDSO): CLOCK_BOOTTIME is
// CLOCK_MONOTONIC and CLOCK_TAI is CLOCK_REALTIME there, so timers on them
// must use the same readings. ok is false for other clocks.
func HostClockOf(id int32) (c HostClock, ok bool) {
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_TAI, unix.CLOCK_REALTIME_ALARM:
		return Realtime, true
	case unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_BOOTTIME_ALARM:
		return Monotonic, true
	}
	return 0, false
}

// Now implements Clock.
func (c HostClock) Now() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(int32(c), &ts)
	return time.Duration(ts.Nano())
}

// Timer is a timer on a host clock. At each expiry it calls fire with the
// number of expirations since the previous call (more than 1 when the
// Sentry was late), with the timer's lock held: fire must not call back
// into the Timer, and a Set that returned is never followed by a call for
// the setting it replaced.
type Timer struct {
	clock HostClock
	fire  func(n uint64)

	mu sync.Mutex
	s  Setting
	t  *time.Timer
	// gen identifies the arming the pending time.Timer belongs to.
	gen uint64
}

// NewTimer returns a disarmed timer on clock c.
func NewTimer(c HostClock, fire func(n uint64)) *Timer {
	return &Timer{clock: c, fire: fire}
}

// Clock returns the timer's clock.
func (t *Timer) Clock() HostClock { return t.clock }

// Get returns the current setting and the clock reading it is relative to.
func (t *Timer) Get() (Setting, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	s, _ := t.s.Advance(now) // expirations due but not yet served
	return s, now
}

// Set replaces the setting and returns the previous one with the clock
// reading both are relative to. Expirations of the old setting that are
// due but were not yet served are dropped, as when Linux re-arms a timer.
// If s is already due, fire runs before Set returns. If swap is not nil
// it runs under the timer's lock between the two settings (e.g. to reset
// what the owner keeps of the old one).
func (t *Timer) Set(s Setting, swap func()) (Setting, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	old, _ := t.s.Advance(now)
	if swap != nil {
		swap()
	}
	t.s = s
	t.armLocked(now)
	return old, now
}

// Stop disarms the timer for good (its owner is going away).
func (t *Timer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s = Setting{}
	t.armLocked(0)
}

// armLocked schedules the next check of the setting.
func (t *Timer) armLocked(now time.Duration) {
	t.gen++
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	if !t.s.Enabled {
		return
	}
	if t.s.Next <= now {
		t.expireLocked(now)
		return
	}
	gen := t.gen
	t.t = time.AfterFunc(t.s.Next-now, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.gen != gen {
			return // re-armed meanwhile
		}
		t.t = nil
		t.expireLocked(t.clock.Now())
	})
}

// expireLocked serves the expirations due at now and schedules the next.
func (t *Timer) expireLocked(now time.Duration) {
	s, n := t.s.Advance(now)
	t.s = s
	if n > 0 {
		t.fire(n)
	}
	if t.s.Enabled {
		// Go timers run on the monotonic clock; a realtime expiry that
		// came early (the clock was slewed) is simply checked again.
		t.armLocked(now)
	}
}
