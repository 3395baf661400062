// Package waiter is the readiness notification mechanism shared by files,
// poll/select/epoll and blocking reads: a Queue of Entries that are told
// which events became ready.
package waiter

import "sync"

// EventMask is a set of poll events (POLLIN, POLLOUT, ...; same bits as
// Linux's EPOLLIN etc.).
type EventMask uint32

// Event bits, identical to Linux's poll/epoll values.
const (
	EventIn     EventMask = 0x1
	EventPri    EventMask = 0x2
	EventOut    EventMask = 0x4
	EventErr    EventMask = 0x8
	EventHUp    EventMask = 0x10
	EventRdNorm EventMask = 0x40
	EventWrNorm EventMask = 0x100
	EventRdHUp  EventMask = 0x2000
)

// Entry is one waiter registered on a Queue. When an event in Mask becomes
// ready, Notify is called (from the notifier's goroutine, so it must not
// block).
type Entry struct {
	Mask   EventMask
	Notify func(ready EventMask)
}

// NewChannelEntry returns an entry that does a non-blocking send on a
// 1-buffered channel, and that channel: the usual way a task blocks until
// something is ready.
func NewChannelEntry(mask EventMask) (*Entry, chan struct{}) {
	ch := make(chan struct{}, 1)
	return &Entry{Mask: mask, Notify: func(EventMask) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}}, ch
}

// Queue is a set of waiters. The zero value is ready to use.
type Queue struct {
	mu      sync.Mutex
	entries map[*Entry]struct{}
}

// EventRegister adds e to the queue.
func (q *Queue) EventRegister(e *Entry) {
	q.mu.Lock()
	if q.entries == nil {
		q.entries = make(map[*Entry]struct{})
	}
	q.entries[e] = struct{}{}
	q.mu.Unlock()
}

// EventUnregister removes e from the queue.
func (q *Queue) EventUnregister(e *Entry) {
	q.mu.Lock()
	delete(q.entries, e)
	q.mu.Unlock()
}

// Notify tells every waiter interested in any of mask's events.
func (q *Queue) Notify(mask EventMask) {
	q.mu.Lock()
	var ready []*Entry
	for e := range q.entries {
		if e.Mask&mask != 0 {
			ready = append(ready, e)
		}
	}
	q.mu.Unlock()
	for _, e := range ready {
		e.Notify(e.Mask & mask)
	}
}

// Waitable is implemented by everything that can be polled.
type Waitable interface {
	// Readiness returns which of the events in mask are ready now.
	Readiness(mask EventMask) EventMask
	EventRegister(e *Entry)
	EventUnregister(e *Entry)
}
