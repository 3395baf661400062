package stubpool

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type fakeStub struct {
	id       int
	released *sync.Map
}

func (s *fakeStub) Release() { s.released.Store(s.id, true) }

// waitIdle waits until the pool is full and its goroutine idle.
func waitIdle(t *testing.T, pl *Pool[*fakeStub]) []*fakeStub {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		idle, stubs := pl.Idle()
		if idle {
			return stubs
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool not idle (%d ready)", len(stubs))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolRefillsAndCloses(t *testing.T) {
	var released sync.Map
	var mu sync.Mutex
	next := 1
	var pl Pool[*fakeStub]
	if _, ok := pl.Take(); ok {
		t.Fatal("an unseeded pool handed out a stub")
	}
	pl.Seed(&fakeStub{id: 0, released: &released}, func() (*fakeStub, error) {
		mu.Lock()
		defer mu.Unlock()
		next++
		return &fakeStub{id: next - 1, released: &released}, nil
	})
	// The seed is handed out without starting anything.
	s, ok := pl.Take()
	if !ok || s.id != 0 {
		t.Fatalf("first Take: %v %v, want the seed", s, ok)
	}
	if idle, stubs := pl.Idle(); !idle || len(stubs) != 0 {
		t.Fatalf("after the seed: idle %v, %d ready; the refill must wait for the next Take", idle, len(stubs))
	}
	// The next Take finds none and starts the refill.
	if s, ok := pl.Take(); ok {
		t.Fatalf("second Take handed out %d from an empty pool", s.id)
	}
	if stubs := waitIdle(t, &pl); len(stubs) != Size {
		t.Fatalf("refilled pool holds %d, want %d", len(stubs), Size)
	}
	got, ok := pl.Take()
	if !ok {
		t.Fatal("no stub from a full pool")
	}
	ready := waitIdle(t, &pl)
	pl.Close()
	for _, r := range ready {
		if _, ok := released.Load(r.id); !ok {
			t.Errorf("ready stub %d not released by Close", r.id)
		}
	}
	if _, ok := released.Load(got.id); ok {
		t.Errorf("stub %d, handed out, was released by Close", got.id)
	}
	if _, ok := pl.Take(); ok {
		t.Error("a closed pool handed out a stub")
	}
	pl.Close() // twice is harmless
}

func TestPoolStartFailureLeavesItEmpty(t *testing.T) {
	var released sync.Map
	var pl Pool[*fakeStub]
	var starts int
	var mu sync.Mutex
	pl.Seed(&fakeStub{released: &released}, func() (*fakeStub, error) {
		mu.Lock()
		starts++
		mu.Unlock()
		return nil, errors.New("no stub")
	})
	pl.Take() // the seed
	for i := 0; i < 3; i++ {
		if _, ok := pl.Take(); ok {
			t.Fatal("a stub from a pool that cannot start any")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if starts == 0 {
		t.Error("the pool never tried to start a stub")
	}
	mu.Unlock()
	done := make(chan struct{})
	go func() { pl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs after failed starts")
	}
}
