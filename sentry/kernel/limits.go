package kernel

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Limit is one resource limit (struct rlimit).
type Limit struct{ Cur, Max uint64 }

// Infinity is RLIM_INFINITY.
const Infinity = ^uint64(0)

// Limits is a process's resource limits.
type Limits struct {
	mu sync.Mutex
	l  [unix.RLIMIT_RTTIME + 1]Limit
}

// NewLimits returns the default resource limits of a first process.
func NewLimits() *Limits { return defaultLimits() }

func defaultLimits() *Limits {
	l := &Limits{}
	for i := range l.l {
		l.l[i] = Limit{Infinity, Infinity}
	}
	l.l[unix.RLIMIT_STACK] = Limit{8 << 20, Infinity}
	l.l[unix.RLIMIT_NOFILE] = Limit{1024, 1 << 20}
	l.l[unix.RLIMIT_CORE] = Limit{0, Infinity}
	l.l[unix.RLIMIT_NPROC] = Limit{1 << 16, 1 << 16}
	l.l[unix.RLIMIT_SIGPENDING] = Limit{1 << 16, 1 << 16}
	l.l[unix.RLIMIT_MSGQUEUE] = Limit{819200, 819200}
	l.l[unix.RLIMIT_MEMLOCK] = Limit{8 << 20, 8 << 20}
	l.l[unix.RLIMIT_NICE] = Limit{0, 0}
	l.l[unix.RLIMIT_RTPRIO] = Limit{0, 0}
	return l
}

func (l *Limits) copy() *Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Limits{l: l.l}
}

// Get returns resource r's limit.
func (l *Limits) Get(r int) (Limit, error) {
	if r < 0 || r >= len(l.l) {
		return Limit{}, unix.EINVAL
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l[r], nil
}

// Set replaces resource r's limit (raising the hard limit needs
// privilege, which the sandbox's root has).
func (l *Limits) Set(r int, v Limit, privileged bool) (Limit, error) {
	if r < 0 || r >= len(l.l) {
		return Limit{}, unix.EINVAL
	}
	if v.Cur > v.Max {
		return Limit{}, unix.EINVAL
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.l[r]
	if v.Max > old.Max && !privileged {
		return Limit{}, unix.EPERM
	}
	l.l[r] = v
	return old, nil
}
