// Package stubpool keeps a platform's next address spaces ready.
//
// Starting a stub process takes a millisecond or more on a slow host (a
// fork, then system calls injected into it, each a ptrace round trip), and
// an application fork+execve needs two. A platform therefore keeps Size
// stubs ready, fully set up, and hands one out per NewAddressSpace; a
// background goroutine starts a replacement right away, once the pool is
// in use (see Seed). Both platforms share this; what a stub is and how it
// starts is theirs.
package stubpool

import "sync"

// Size is the number of stubs kept ready: one for fork and one for the
// execve that usually follows.
const Size = 2

// Stub is what a pool holds: a ready address space of a platform.
type Stub interface {
	Release()
}

// Pool holds ready stubs. Its zero value holds none and hands out none
// until Seed.
type Pool[S Stub] struct {
	mu     sync.Mutex
	stubs  []S
	closed bool
	busy   bool // the refill goroutine is starting a stub
	// started is set once the refill goroutine runs (see Seed).
	started bool
	start   func() (S, error)

	wake chan struct{} // cap 1: tells the refill goroutine to look again
	done chan struct{} // closed when the refill goroutine has stopped
}

// Seed sets up the pool with its first stub; start makes each further one.
// The refill goroutine starts only once the seed is gone and another stub
// is wanted: a sandbox that never needs a second address space (no fork,
// no execve) never pays for one.
func (pl *Pool[S]) Seed(first S, start func() (S, error)) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.start = start
	pl.wake = make(chan struct{}, 1)
	pl.done = make(chan struct{})
	pl.stubs = append(pl.stubs, first)
}

// poke wakes the refill goroutine.
func (pl *Pool[S]) poke() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// Take returns a ready stub, or ok false if there is none.
func (pl *Pool[S]) Take() (s S, ok bool) {
	pl.mu.Lock()
	if pl.wake == nil || pl.closed {
		pl.mu.Unlock()
		return s, false
	}
	if n := len(pl.stubs); n > 0 {
		s, ok = pl.stubs[0], true
		pl.stubs = append(pl.stubs[:0], pl.stubs[1:]...)
	} else if !pl.started {
		pl.started = true
		go pl.refill()
	}
	started := pl.started
	pl.mu.Unlock()
	if started {
		pl.poke()
	}
	return s, ok
}

// refill is the pool's goroutine: it starts stubs while the pool is not
// full. A failure to start one is left for the next NewAddressSpace, which
// then starts its stub itself and reports the error.
func (pl *Pool[S]) refill() {
	defer close(pl.done)
	for range pl.wake {
		for {
			pl.mu.Lock()
			if pl.closed {
				pl.mu.Unlock()
				return
			}
			if len(pl.stubs) >= Size {
				pl.mu.Unlock()
				break
			}
			pl.busy = true
			pl.mu.Unlock()

			s, err := pl.start()

			pl.mu.Lock()
			pl.busy = false
			if err != nil {
				pl.mu.Unlock()
				break
			}
			if pl.closed {
				pl.mu.Unlock()
				s.Release()
				return
			}
			pl.stubs = append(pl.stubs, s)
			pl.mu.Unlock()
		}
	}
}

// Close releases the ready stubs and stops starting new ones. Stubs
// already handed out are not affected; Take then returns none. Once Close
// and the Release of every stub handed out have returned, no stub is left.
func (pl *Pool[S]) Close() {
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
	for _, s := range stubs {
		s.Release()
	}
}

// Idle reports whether the pool is full (or closed, or not yet in use)
// and the refill goroutine idle, and returns the ready stubs. For tests.
func (pl *Pool[S]) Idle() (bool, []S) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.closed || !pl.started || (!pl.busy && len(pl.stubs) >= Size), append([]S(nil), pl.stubs...)
}
