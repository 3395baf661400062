package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestLimitDefaults(t *testing.T) {
	l := defaultLimits()
	for r, want := range map[int]Limit{
		unix.RLIMIT_STACK:  {8 << 20, Infinity},
		unix.RLIMIT_NOFILE: {1024, 1 << 20},
		unix.RLIMIT_CORE:   {0, Infinity},
		unix.RLIMIT_AS:     {Infinity, Infinity},
		unix.RLIMIT_CPU:    {Infinity, Infinity},
	} {
		got, err := l.Get(r)
		if err != nil || got != want {
			t.Errorf("Get(%d) = %+v, %v; want %+v", r, got, err, want)
		}
	}
	for _, r := range []int{-1, unix.RLIMIT_RTTIME + 1, 1000} {
		if _, err := l.Get(r); !isErrno(err, unix.EINVAL) {
			t.Errorf("Get(%d): %v, want EINVAL", r, err)
		}
		if _, err := l.Set(r, Limit{1, 1}, true); !isErrno(err, unix.EINVAL) {
			t.Errorf("Set(%d): %v, want EINVAL", r, err)
		}
	}
}

func TestLimitSetRules(t *testing.T) {
	l := defaultLimits()
	r := unix.RLIMIT_NOFILE
	get := func() Limit {
		v, err := l.Get(r)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// cur above max is invalid, privileged or not.
	for _, priv := range []bool{false, true} {
		if _, err := l.Set(r, Limit{Cur: 2048, Max: 1024}, priv); !isErrno(err, unix.EINVAL) {
			t.Fatalf("cur > max (privileged %v): %v, want EINVAL", priv, err)
		}
	}
	if get() != (Limit{1024, 1 << 20}) {
		t.Fatal("failed Set changed the limit")
	}
	// Lowering is always allowed, and returns the old value.
	old, err := l.Set(r, Limit{Cur: 256, Max: 4096}, false)
	if err != nil || old != (Limit{1024, 1 << 20}) {
		t.Fatalf("lowering = %+v, %v", old, err)
	}
	// Raising the soft limit up to the hard one is allowed.
	if _, err := l.Set(r, Limit{Cur: 4096, Max: 4096}, false); err != nil {
		t.Fatalf("raising cur to max: %v", err)
	}
	// Raising the hard limit needs privilege.
	if _, err := l.Set(r, Limit{Cur: 4096, Max: 8192}, false); !isErrno(err, unix.EPERM) {
		t.Fatalf("unprivileged raise of max: %v, want EPERM", err)
	}
	if get() != (Limit{4096, 4096}) {
		t.Fatalf("refused raise changed the limit to %+v", get())
	}
	if _, err := l.Set(r, Limit{Cur: 4096, Max: 8192}, true); err != nil {
		t.Fatalf("privileged raise of max: %v", err)
	}
	if get() != (Limit{4096, 8192}) {
		t.Fatalf("limit %+v after privileged raise", get())
	}
	// Infinity is the largest value.
	if _, err := l.Set(r, Limit{Cur: Infinity, Max: 8192}, true); !isErrno(err, unix.EINVAL) {
		t.Fatalf("cur infinite, max finite: %v, want EINVAL", err)
	}
}

// Limits are per process: a forked child gets a copy.
func TestLimitsInheritedByCopy(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	it.ThreadGroup().Limits().Set(unix.RLIMIT_NOFILE, Limit{100, 200}, false)
	c := h.fork(it)
	if got, _ := c.ThreadGroup().Limits().Get(unix.RLIMIT_NOFILE); got != (Limit{100, 200}) {
		t.Fatalf("child's limit %+v, want the parent's", got)
	}
	c.ThreadGroup().Limits().Set(unix.RLIMIT_NOFILE, Limit{50, 50}, false)
	if got, _ := it.ThreadGroup().Limits().Get(unix.RLIMIT_NOFILE); got != (Limit{100, 200}) {
		t.Fatalf("child's setrlimit changed the parent's limit to %+v", got)
	}
	// Threads share their process's limits.
	th := h.newThread(c)
	if th.ThreadGroup().Limits() != c.ThreadGroup().Limits() {
		t.Fatal("thread has its own limits")
	}
}
