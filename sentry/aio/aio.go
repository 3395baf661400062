// Package aio keeps the Linux AIO contexts of io_setup(2): per address
// space, the completed requests waiting for io_getevents(2) and the
// requests still in flight (IOCB_CMD_POLL), which io_cancel(2) can cancel
// and io_destroy(2) cancels. The syscall layer (syscalls/sys_aio.go)
// carries out the requests; reads, writes and syncs complete before
// io_submit returns, as Linux's buffered AIO does, so only polls stay in
// flight.
package aio

import (
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// MaxEvents is /proc/sys/fs/aio-max-nr: the events all contexts of the
// sandbox may hold together (io_setup gives EAGAIN past it).
const MaxEvents = 65536

// Event is struct io_event.
type Event struct {
	Data uint64 // the iocb's aio_data
	Obj  uint64 // the iocb's address
	Res  int64
	Res2 int64
}

// Context is one AIO context.
type Context struct {
	// ID is the context's aio_context_t: the address of its ring.
	ID uint64
	// RingLen is the length of the ring mapping.
	RingLen uintptr

	mu       sync.Mutex
	capacity int
	used     int // requests submitted and not yet reaped
	done     []Event
	changed  chan struct{} // closed when done grows or the context dies
	cancels  map[uint64]func()
	dead     bool
}

var registry struct {
	sync.Mutex
	total int
	m     map[weak.Pointer[mm.MemoryManager]]map[uint64]*Context
}

// New makes a context for nr events in address space m, with the ring at
// id (EAGAIN past MaxEvents altogether).
func New(m *mm.MemoryManager, id uint64, ringLen uintptr, nr int) (*Context, error) {
	registry.Lock()
	defer registry.Unlock()
	if registry.total+nr > MaxEvents {
		return nil, unix.EAGAIN
	}
	if registry.m == nil {
		registry.m = make(map[weak.Pointer[mm.MemoryManager]]map[uint64]*Context)
	}
	key := weak.Make(m)
	ctxs := registry.m[key]
	if ctxs == nil {
		ctxs = make(map[uint64]*Context)
		registry.m[key] = ctxs
		// An address space that goes (exit, execve) takes its
		// contexts with it, as Linux's exit_aio, once it is garbage.
		runtime.AddCleanup(m, forget, key)
	}
	c := &Context{ID: id, RingLen: ringLen, capacity: nr, changed: make(chan struct{}), cancels: make(map[uint64]func())}
	ctxs[id] = c
	registry.total += nr
	return c, nil
}

// Lookup returns context id of m, or nil.
func Lookup(m *mm.MemoryManager, id uint64) *Context {
	registry.Lock()
	defer registry.Unlock()
	return registry.m[weak.Make(m)][id]
}

// forget drops the contexts of a dead address space.
func forget(key weak.Pointer[mm.MemoryManager]) {
	registry.Lock()
	ctxs := registry.m[key]
	delete(registry.m, key)
	for _, c := range ctxs {
		registry.total -= c.capacity
	}
	registry.Unlock()
	for _, c := range ctxs {
		c.shutdown()
	}
}

// Destroy implements io_destroy(2): the context goes from m, its requests
// in flight are cancelled and their events dropped. EINVAL if m has no
// context id.
func Destroy(m *mm.MemoryManager, id uint64) (*Context, error) {
	registry.Lock()
	key := weak.Make(m)
	c := registry.m[key][id]
	if c == nil {
		registry.Unlock()
		return nil, unix.EINVAL
	}
	delete(registry.m[key], id)
	registry.total -= c.capacity
	registry.Unlock()
	c.shutdown()
	return c, nil
}

func (c *Context) shutdown() {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	cancels := c.cancels
	c.cancels = nil
	close(c.changed)
	c.mu.Unlock()
	for _, fn := range cancels {
		fn()
	}
}

// Capacity returns the number of requests the context holds at once.
func (c *Context) Capacity() int { return c.capacity }

// Reserve takes a slot for a request: false (EAGAIN for io_submit) when
// the context is full or destroyed.
func (c *Context) Reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.used >= c.capacity {
		return false
	}
	c.used++
	return true
}

// Unreserve gives back a slot whose request was not submitted.
func (c *Context) Unreserve() {
	c.mu.Lock()
	c.used--
	c.mu.Unlock()
}

// Complete queues the event of a finished request.
func (c *Context) Complete(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	c.done = append(c.done, ev)
	close(c.changed)
	c.changed = make(chan struct{})
}

// InFlight registers the cancel function of a request still running
// (IOCB_CMD_POLL), under its iocb address obj. Done removes it.
func (c *Context) InFlight(obj uint64, cancel func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	c.cancels[obj] = cancel
	return true
}

// Done unregisters request obj; it reports whether it was registered (so
// that a request completes once, whether it finished or was cancelled).
func (c *Context) Done(obj uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cancels[obj]; !ok {
		return false
	}
	delete(c.cancels, obj)
	return true
}

// Cancel implements io_cancel(2): a request still in flight is cancelled
// and completes with its event (Linux then answers EINPROGRESS); others
// give EINVAL.
func (c *Context) Cancel(obj uint64) error {
	c.mu.Lock()
	fn := c.cancels[obj]
	c.mu.Unlock()
	if fn == nil {
		return unix.EINVAL
	}
	fn()
	return unix.EINPROGRESS
}

// GetEvents implements io_getevents(2): it waits until min events are
// there (or the timeout passes; forever when timeout < 0) and returns at
// most max. A signal (the error of ctx.Block) ends the wait: with the
// events there are, or the error if there are none.
func (c *Context) GetEvents(ctx vfs.Context, min, max int, timeout time.Duration) ([]Event, error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		c.mu.Lock()
		if len(c.done) >= min || c.dead {
			defer c.mu.Unlock()
			return c.takeLocked(max), nil
		}
		ch := c.changed
		c.mu.Unlock()
		var err error
		switch {
		case timeout < 0:
			err = ctx.Block(ch)
		case time.Until(deadline) <= 0:
			err = unix.ETIMEDOUT
		default:
			err = ctx.BlockTimeout(ch, time.Until(deadline))
		}
		if err != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			evs := c.takeLocked(max)
			if len(evs) == 0 && err != unix.ETIMEDOUT {
				return nil, err
			}
			return evs, nil
		}
	}
}

// takeLocked reaps up to max events (c.mu held).
func (c *Context) takeLocked(max int) []Event {
	n := min(len(c.done), max)
	out := append([]Event(nil), c.done[:n]...)
	c.done = append(c.done[:0:0], c.done[n:]...)
	c.used -= n
	return out
}
