package ktime

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestSettingAdvance(t *testing.T) {
	for _, tc := range []struct {
		s        Setting
		now      time.Duration
		want     Setting
		n        uint64
		value    time.Duration
		interval time.Duration
	}{
		{Setting{}, 5, Setting{}, 0, 0, 0},
		{Relative(0, 10, 0), 5, Setting{true, 10, 0}, 0, 5, 0},
		{Relative(0, 10, 0), 10, Setting{}, 1, 0, 0},
		{Relative(0, 10, 3), 10, Setting{true, 13, 3}, 1, 3, 3},
		{Relative(0, 10, 3), 20, Setting{true, 22, 3}, 4, 2, 3},
		{Absolute(100, 0), 50, Setting{true, 100, 0}, 0, 50, 0},
		{Absolute(0, 7), 50, Setting{}, 0, 0, 7},
	} {
		got, n := tc.s.Advance(tc.now)
		if got != tc.want || n != tc.n {
			t.Errorf("%+v.Advance(%d) = %+v, %d; want %+v, %d", tc.s, tc.now, got, n, tc.want, tc.n)
		}
		v, i := got.Remaining(tc.now)
		if v != tc.value || (got.Enabled && i != tc.interval) {
			t.Errorf("%+v.Remaining(%d) = %d, %d; want %d, %d", got, tc.now, v, i, tc.value, tc.interval)
		}
	}
	// An armed timer that is due but not served never reads 0 left.
	if v, _ := (Setting{Enabled: true, Next: 5}).Remaining(9); v != 1 {
		t.Errorf("due timer reads %d left, want 1", v)
	}
}

func TestTimerFiresAndRearms(t *testing.T) {
	var fired atomic.Uint64
	tm := NewTimer(Monotonic, func(n uint64) { fired.Add(n) })
	defer tm.Stop()
	tm.Set(Relative(Monotonic.Now(), time.Millisecond, time.Millisecond), nil)
	time.Sleep(30 * time.Millisecond)
	if n := fired.Load(); n < 10 {
		t.Fatalf("periodic 1ms timer fired %d times in 30ms", n)
	}
	swapped := false
	old, now := tm.Set(Relative(Monotonic.Now(), time.Hour, 0), func() { swapped = true })
	if !swapped || !old.Enabled || old.Period != time.Millisecond {
		t.Fatalf("old setting %+v, swap ran: %v", old, swapped)
	}
	before := fired.Load()
	time.Sleep(10 * time.Millisecond)
	if fired.Load() != before {
		t.Error("the replaced setting fired after Set returned")
	}
	if s, n2 := tm.Get(); !s.Enabled || s.Next-n2 <= 59*time.Minute || n2 < now {
		t.Errorf("Get = %+v at %v", s, n2)
	}
	// A setting already due fires before Set returns.
	tm.Set(Absolute(1, 0), nil)
	if fired.Load() != before+1 {
		t.Errorf("due setting: fired %d, want %d", fired.Load(), before+1)
	}
	tm.Stop()
	if s, _ := tm.Get(); s.Enabled {
		t.Error("armed after Stop")
	}
}

func TestHostClockOf(t *testing.T) {
	for id, want := range map[int32]HostClock{0: Realtime, 1: Monotonic, 7: Monotonic, 11: Realtime} {
		if c, ok := HostClockOf(id); !ok || c != want {
			t.Errorf("HostClockOf(%d) = %v, %v", id, c, ok)
		}
	}
	if _, ok := HostClockOf(2); ok {
		t.Error("CLOCK_PROCESS_CPUTIME_ID is not a host clock")
	}
}
