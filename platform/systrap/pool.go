package systrap

import (
	"sync"

	"golang.org/x/sys/unix"
)

// The stub pool.
//
// Starting a stub (a fork of the zygote, then a few injected system calls
// for its spare thread pair, each a ptrace round trip, and the threads'
// own set-up) takes a millisecond or more on a slow host, and an
// application fork+execve needs two of them. The platform therefore keeps
// poolSize stubs ready, fully set up, and NewAddressSpace hands one out; a
// background goroutine starts a replacement right away (once the pool is
// in use, see startPool). A pooled stub is an ordinary addressSpace: its
// control goroutine already runs (locked to the OS thread that seized the
// stub, its tracer), so handing it over needs nothing but a pointer.
//
// Pooled stubs are traced children of the Sentry like any other stub:
// they die with it (PTRACE_O_EXITKILL, and the Sentry is their pid
// namespace's init), and Close releases them earlier.

// poolSize is the number of stubs kept ready: one for fork and one for the
// execve that usually follows.
const poolSize = 2

// stubPool holds ready stubs. The refill goroutine keeps it full until
// Close.
type stubPool struct {
	mu     sync.Mutex
	stubs  []*addressSpace
	closed bool
	busy   bool // the refill goroutine is starting a stub
	// started is set once the refill goroutine runs (see startPool).
	started bool

	wake chan struct{} // cap 1: tells the refill goroutine to look again
	done chan struct{} // closed when the refill goroutine has stopped
}

// startPool sets up the pool, seeded with stub as. The refill goroutine
// starts only once the seed is gone and another stub is wanted: a sandbox
// that never needs a second address space (no fork, no execve) never
// pays for one.
func (p *Platform) startPool(as *addressSpace) {
	pl := &p.pool
	pl.wake = make(chan struct{}, 1)
	pl.done = make(chan struct{})
	pl.stubs = append(pl.stubs, as)
}

// poke wakes the refill goroutine.
func (pl *stubPool) poke() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// take returns a pooled stub, or nil if there is none ready.
func (p *Platform) take() *addressSpace {
	pl := &p.pool
	pl.mu.Lock()
	if pl.wake == nil || pl.closed {
		pl.mu.Unlock()
		return nil
	}
	var as *addressSpace
	if n := len(pl.stubs); n > 0 {
		as = pl.stubs[0]
		pl.stubs = append(pl.stubs[:0], pl.stubs[1:]...)
	} else if !pl.started {
		pl.started = true
		go p.refill()
	}
	started := pl.started
	pl.mu.Unlock()
	if started {
		pl.poke()
	}
	return as
}

// refill is the pool's goroutine: it starts stubs while the pool is not
// full. A failure to start one is left for the next NewAddressSpace, which
// then starts its stub itself and reports the error.
func (p *Platform) refill() {
	pl := &p.pool
	defer close(pl.done)
	for range pl.wake {
		for {
			pl.mu.Lock()
			if pl.closed {
				pl.mu.Unlock()
				return
			}
			if len(pl.stubs) >= poolSize {
				pl.mu.Unlock()
				break
			}
			pl.busy = true
			pl.mu.Unlock()

			as, err := p.newAddressSpace()
			if err == nil {
				as.preinstall()
			}

			pl.mu.Lock()
			pl.busy = false
			if err != nil {
				pl.mu.Unlock()
				break
			}
			if pl.closed {
				pl.mu.Unlock()
				as.Release()
				return
			}
			pl.stubs = append(pl.stubs, as)
			pl.mu.Unlock()
		}
	}
}

// Close releases the platform's ready stubs and stops starting new ones.
// Address spaces already handed out are not affected, and NewAddressSpace
// keeps working (it then starts each stub on demand). Once Close and the
// Release of every address space have returned, no stub process is left.
func (p *Platform) Close() {
	pl := &p.pool
	pl.mu.Lock()
	if pl.closed || pl.wake == nil {
		pl.closed = true
		pl.mu.Unlock()
		return
	}
	pl.closed = true
	stubs := pl.stubs
	pl.stubs = nil
	started := pl.started
	pl.mu.Unlock()
	if started {
		pl.poke()
		<-pl.done
	}
	for _, as := range stubs {
		as.Release()
	}
}

// poolIdle reports whether the pool is full and the refill goroutine
// idle, and returns the pids of the pooled stubs. For tests.
func (p *Platform) poolIdle() (bool, []int) {
	pl := &p.pool
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var pids []int
	for _, as := range pl.stubs {
		pids = append(pids, as.pid)
	}
	return pl.closed || !pl.started || (!pl.busy && len(pl.stubs) >= poolSize), pids
}

// preinstall installs the hot file (in practice the memory file, which
// every address space maps) in the zygote, so that later stubs inherit it,
// and in a pooled stub forked before that, so that the first MapFile into
// it needs no fd passing. Only if the host fd still names the same file:
// a stub never receives a file MapFile was not asked to map. Failures are
// left for MapFile to retry and report.
func (as *addressSpace) preinstall() {
	h := as.p.hot.Load()
	if h == nil {
		return
	}
	as.p.zygote.install(h)
	as.do(func() {
		var st unix.Stat_t
		if unix.Fstat(h.fd, &st) != nil || st.Dev != h.dev || st.Ino != h.ino {
			return
		}
		// A file inherited from the zygote that is no longer the hot
		// one is not worth keeping alive in a stub that may wait long
		// in the pool.
		as.fdMu.Lock()
		for hostFD, f := range as.fds {
			if hostFD != h.fd || f.dev != h.dev || f.ino != h.ino {
				as.p.syscall(as.controlThread(), unix.SYS_CLOSE, uintptr(f.fd))
				delete(as.fds, hostFD)
			}
		}
		as.fdMu.Unlock()
		as.stubFD(as.controlThread(), h.fd)
	})
}
