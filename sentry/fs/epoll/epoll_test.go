package epoll

import (
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/eventfd"
	"github.com/veil-sandbox/veil/sentry/fs/pipe"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// newCtx returns a root context whose Interrupt channel, when closed,
// simulates a signal.
func newCtx() *vfstest.Context { return &vfstest.Context{PID: 1, Interrupt: make(chan struct{})} }

func wait(t *testing.T, ep *EventPoll, timeout time.Duration) []Event {
	t.Helper()
	out := make([]Event, 16)
	n, err := ep.Wait(newCtx(), out, timeout)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return out[:n]
}

func TestLevelTriggered(t *testing.T) {
	ctx := newCtx()
	ep := New()
	r, w := pipe.NewAnonymous()
	if err := ep.Add(3, r, r, EPOLLIN, 0xdeadbeefcafe); err != nil {
		t.Fatal(err)
	}
	if err := ep.Add(3, r, r, EPOLLIN, 0); err != unix.EEXIST {
		t.Fatalf("second add: %v", err)
	}
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("events on empty pipe: %+v", evs)
	}
	w.Write(ctx, []byte("ab"), -1, false)
	for i := 0; i < 3; i++ {
		evs := wait(t, ep, 0)
		if len(evs) != 1 || evs[0].Events != EPOLLIN || evs[0].Data != 0xdeadbeefcafe {
			t.Fatalf("wait %d: %+v", i, evs)
		}
	}
	r.Read(ctx, make([]byte, 10), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("events after draining: %+v", evs)
	}
	// Already readable at ADD time.
	w.Write(ctx, []byte("c"), -1, false)
	ep2 := New()
	ep2.Add(3, r, r, EPOLLIN|EPOLLOUT, 1)
	if evs := wait(t, ep2, 0); len(evs) != 1 || evs[0].Events != EPOLLIN {
		t.Fatalf("readable before add: %+v", evs)
	}
}

func TestEdgeTriggered(t *testing.T) {
	ctx := newCtx()
	ep := New()
	r, w := pipe.NewAnonymous()
	ep.Add(4, r, r, EPOLLIN|EPOLLET, 7)
	w.Write(ctx, []byte("a"), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 1 || evs[0].Data != 7 {
		t.Fatalf("first ET wait: %+v", evs)
	}
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("ET reported twice: %+v", evs)
	}
	w.Write(ctx, []byte("b"), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 1 {
		t.Fatalf("ET after new data: %+v", evs)
	}
}

func TestOneShot(t *testing.T) {
	ctx := newCtx()
	ep := New()
	r, w := pipe.NewAnonymous()
	ep.Add(4, r, r, EPOLLIN|EPOLLONESHOT, 1)
	w.Write(ctx, []byte("a"), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 1 {
		t.Fatalf("oneshot: %+v", evs)
	}
	w.Write(ctx, []byte("b"), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("oneshot fired twice: %+v", evs)
	}
	if err := ep.Modify(4, r, EPOLLIN|EPOLLONESHOT, 2); err != nil {
		t.Fatal(err)
	}
	if evs := wait(t, ep, 0); len(evs) != 1 || evs[0].Data != 2 {
		t.Fatalf("rearmed oneshot: %+v", evs)
	}
}

func TestBlockingWait(t *testing.T) {
	ctx := newCtx()
	ep := New()
	r, w := pipe.NewAnonymous()
	ep.Add(4, r, r, EPOLLIN, 1)
	got := make(chan []Event)
	go func() { got <- wait(t, ep, -1) }()
	select {
	case evs := <-got:
		t.Fatalf("wait returned early: %+v", evs)
	case <-time.After(50 * time.Millisecond):
	}
	w.Write(ctx, []byte("x"), -1, false)
	select {
	case evs := <-got:
		if len(evs) != 1 {
			t.Fatalf("%+v", evs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait not woken by write")
	}
	// Timeout.
	r.Read(ctx, make([]byte, 1), -1, false)
	start := time.Now()
	if evs := wait(t, ep, 30*time.Millisecond); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	if time.Since(start) < 25*time.Millisecond {
		t.Fatal("timeout too short")
	}
	// Interrupt.
	ictx := newCtx()
	errc := make(chan error)
	go func() {
		_, err := ep.Wait(ictx, make([]Event, 1), -1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(ictx.Interrupt)
	if err := <-errc; err != syserr.ErrInterrupted {
		t.Fatalf("interrupted wait: %v", err)
	}
}

func TestHupErr(t *testing.T) {
	ep := New()
	r, w := pipe.NewAnonymous()
	ep.Add(3, r, r, EPOLLIN, 1)
	ep.Add(4, w, w, EPOLLOUT, 2)
	evs := wait(t, ep, 0)
	if len(evs) != 1 || evs[0].Data != 2 || evs[0].Events != EPOLLOUT {
		t.Fatalf("%+v", evs)
	}
	r2, w2 := pipe.NewAnonymous()
	ep.Add(5, r2, r2, EPOLLIN, 3)
	w2.Release()
	evs = wait(t, ep, 0)
	found := false
	for _, e := range evs {
		if e.Data == 3 && e.Events == EPOLLHUP {
			found = true
		}
	}
	if !found {
		t.Fatalf("no EPOLLHUP: %+v", evs)
	}
}

func TestDeleteModify(t *testing.T) {
	ctx := newCtx()
	ep := New()
	r, w := pipe.NewAnonymous()
	if err := ep.Delete(3, r); err != unix.ENOENT {
		t.Fatalf("delete missing: %v", err)
	}
	if err := ep.Modify(3, r, EPOLLIN, 0); err != unix.ENOENT {
		t.Fatalf("modify missing: %v", err)
	}
	ep.Add(3, r, r, EPOLLIN, 1)
	// Same file through another fd is a separate watch.
	if err := ep.Add(9, r, r, EPOLLIN, 9); err != nil {
		t.Fatal(err)
	}
	w.Write(ctx, []byte("x"), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 2 {
		t.Fatalf("%+v", evs)
	}
	ep.Delete(9, r)
	if evs := wait(t, ep, 0); len(evs) != 1 || evs[0].Data != 1 {
		t.Fatalf("%+v", evs)
	}
	// Modify to EPOLLOUT on a read end: nothing ready.
	ep.Modify(3, r, EPOLLOUT, 1)
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	if err := ep.Modify(3, r, EPOLLIN|EPOLLEXCLUSIVE, 1); err != unix.EINVAL {
		t.Fatalf("modify with EPOLLEXCLUSIVE: %v", err)
	}
	ep.Delete(3, r)
	if ep.Len() != 0 {
		t.Fatal("watches left")
	}
}

func TestMaxEvents(t *testing.T) {
	ctx := newCtx()
	ep := New()
	var files []*pipe.File
	for i := 0; i < 5; i++ {
		r, w := pipe.NewAnonymous()
		w.Write(ctx, []byte("x"), -1, false)
		ep.Add(int32(i), r, r, EPOLLIN, uint64(i))
		files = append(files, r)
	}
	out := make([]Event, 2)
	seen := map[uint64]int{}
	for i := 0; i < 5; i++ {
		n, _ := ep.Wait(ctx, out, 0)
		if n != 2 {
			t.Fatalf("wait returned %d", n)
		}
		for _, e := range out[:n] {
			seen[e.Data]++
		}
	}
	// Level-triggered watches rotate: every one is reported.
	if len(seen) != 5 {
		t.Fatalf("not all watches reported: %v", seen)
	}
}

func TestFileReleased(t *testing.T) {
	ctx := newCtx()
	ep := New()
	r, w := pipe.NewAnonymous()
	ep.Add(3, r, r, EPOLLIN, 1)
	if !Watched(r) {
		t.Fatal("not registered")
	}
	FileReleased(r)
	if ep.Len() != 0 || Watched(r) {
		t.Fatal("watch survived file release")
	}
	w.Write(ctx, []byte("x"), -1, false)
	if evs := wait(t, ep, 0); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	ep.Add(3, r, r, EPOLLIN, 1)
	ep.Release()
	if Watched(r) {
		t.Fatal("registry keeps watches of a released epoll")
	}
}

func TestNested(t *testing.T) {
	ctx := newCtx()
	outer, inner := New(), New()
	ev := eventfd.New(0, false)
	inner.Add(5, ev, ev, EPOLLIN, 5)
	if err := outer.Add(4, inner, inner, EPOLLIN, 4); err != nil {
		t.Fatal(err)
	}
	if evs := wait(t, outer, 0); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	got := make(chan []Event)
	go func() { got <- wait(t, outer, -1) }()
	time.Sleep(20 * time.Millisecond)
	ev.Write(ctx, []byte{1, 0, 0, 0, 0, 0, 0, 0}, -1, false)
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0].Data != 4 {
			t.Fatalf("%+v", evs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nested wait not woken")
	}
	// Loops are refused.
	if err := inner.Add(6, outer, outer, EPOLLIN, 0); err != unix.ELOOP {
		t.Fatalf("loop: %v", err)
	}
	if err := inner.Add(6, inner, inner, EPOLLIN, 0); err != unix.ELOOP {
		t.Fatalf("self: %v", err)
	}
	// Depth limit.
	chain := []*EventPoll{New()}
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		n := New()
		err = n.Add(1, chain[len(chain)-1], chain[len(chain)-1], EPOLLIN, 0)
		chain = append(chain, n)
	}
	if err != unix.ELOOP {
		t.Fatalf("deep nesting: %v", err)
	}
}

func TestMarshal(t *testing.T) {
	b := MarshalEvents([]Event{{Events: 0x11223344, Data: 0x0102030405060708}})
	want := []byte{0x44, 0x33, 0x22, 0x11, 8, 7, 6, 5, 4, 3, 2, 1}
	if string(b) != string(want) {
		t.Fatalf("% x", b)
	}
	if e := UnmarshalEvent(b); e.Events != 0x11223344 || e.Data != 0x0102030405060708 {
		t.Fatalf("%+v", e)
	}
}

// TestConcurrent hammers one instance with waits, control operations and
// notifications at once (run with -race; it must neither deadlock nor
// lose the final event).
func TestConcurrent(t *testing.T) {
	ctx := newCtx()
	ep := New()
	const n = 8
	var rs, ws []*pipe.File
	for i := 0; i < n; i++ {
		r, w := pipe.NewAnonymous()
		rs, ws = append(rs, r), append(ws, w)
		ep.Add(int32(i), r, r, EPOLLIN, uint64(i))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	var workers int
	spawn := func(fn func(i int)) {
		workers++
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fn(i)
			}
		}()
	}
	spawn(func(i int) { ws[i%n].Write(ctx, []byte("x"), -1, true) })
	spawn(func(i int) { rs[i%n].Read(ctx, make([]byte, 16), -1, true) })
	spawn(func(i int) {
		fd := int32(i % n)
		switch i % 3 {
		case 0:
			ep.Delete(fd, rs[fd])
		case 1:
			ep.Add(fd, rs[fd], rs[fd], EPOLLIN|EPOLLET, uint64(fd))
		case 2:
			ep.Modify(fd, rs[fd], EPOLLIN|EPOLLONESHOT, uint64(fd))
		}
	})
	for j := 0; j < 2; j++ {
		spawn(func(int) { ep.Wait(ctx, make([]Event, 3), time.Millisecond) })
	}
	spawn(func(int) { ep.Readiness(^waiter.EventMask(0)) })
	time.Sleep(300 * time.Millisecond)
	close(stop)
	for i := 0; i < workers; i++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("deadlock")
		}
	}
	// Still works afterwards.
	r, w := pipe.NewAnonymous()
	ep.Add(100, r, r, EPOLLIN, 100)
	w.Write(ctx, []byte("y"), -1, false)
	found := false
	for _, e := range wait(t, ep, time.Second) {
		found = found || e.Data == 100
	}
	if !found {
		t.Fatal("event lost after the storm")
	}
}
