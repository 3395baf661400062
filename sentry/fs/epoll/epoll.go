// Package epoll implements epoll(7) instances.
//
// An EventPoll keeps an interest set of watches keyed by (fd number, open
// file description), as Linux does, and a ready list. Each watch registers
// a waiter.Entry on its file; the entry's callback puts the watch on the
// ready list and wakes epoll_wait. epoll_wait takes the ready list, asks
// each file for its current readiness and reports the watches that are
// still ready: level-triggered watches go back on the ready list (they are
// reported until the condition clears), edge-triggered ones wait for the
// next notification, one-shot ones are disabled until EPOLL_CTL_MOD.
//
// Locking: ep.ctlMu serializes the changes to the interest set (epoll_ctl,
// file release, close), so that registering and unregistering waiter
// entries on files happens in order. ep.mu protects the interest set, the
// ready list and the watch fields it documents; it is never held while
// calling a file's Readiness or EventRegister, so files may notify while
// holding their own locks. Lock order: loopMu, ctlMu, mu.
package epoll

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// epoll_event.events flag bits (include/uapi/linux/eventpoll.h).
const (
	EPOLLIN        = 0x1
	EPOLLPRI       = 0x2
	EPOLLOUT       = 0x4
	EPOLLERR       = 0x8
	EPOLLHUP       = 0x10
	EPOLLRDNORM    = 0x40
	EPOLLRDBAND    = 0x80
	EPOLLWRNORM    = 0x100
	EPOLLWRBAND    = 0x200
	EPOLLMSG       = 0x400
	EPOLLRDHUP     = 0x2000
	EPOLLEXCLUSIVE = 1 << 28
	EPOLLWAKEUP    = 1 << 29
	EPOLLONESHOT   = 1 << 30
	EPOLLET        = 1 << 31

	// privateBits are the flag bits that are not events.
	privateBits = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET
	// exclusiveOK are the bits allowed with EPOLLEXCLUSIVE.
	exclusiveOK = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |
		EPOLLEXCLUSIVE | EPOLLRDNORM | EPOLLWRNORM | EPOLLRDBAND | EPOLLWRBAND | EPOLLMSG | EPOLLPRI
)

// epoll_ctl operations.
const (
	CtlAdd = 1
	CtlDel = 2
	CtlMod = 3
)

// EventSize is sizeof(struct epoll_event) on amd64, where it is packed.
const EventSize = 12

// MaxEvents is the largest maxevents epoll_wait accepts (EP_MAX_EVENTS).
const MaxEvents = (1<<31 - 1) / EventSize

// maxNests is how deep epoll instances may watch each other (EP_MAX_NESTS).
const maxNests = 4

// Event is a struct epoll_event.
type Event struct {
	Events uint32
	Data   uint64
}

// Marshal writes e in the amd64 (packed, 12 bytes) layout into b.
func (e Event) Marshal(b []byte) {
	binary.LittleEndian.PutUint32(b[0:4], e.Events)
	binary.LittleEndian.PutUint64(b[4:12], e.Data)
}

// UnmarshalEvent reads an amd64 struct epoll_event from b.
func UnmarshalEvent(b []byte) Event {
	return Event{Events: binary.LittleEndian.Uint32(b[0:4]), Data: binary.LittleEndian.Uint64(b[4:12])}
}

// MarshalEvents encodes evs for copying out to epoll_wait's buffer.
func MarshalEvents(evs []Event) []byte {
	b := make([]byte, len(evs)*EventSize)
	for i, e := range evs {
		e.Marshal(b[i*EventSize:])
	}
	return b
}

// key identifies a watch: the fd number it was added by and the open file
// description (as Linux's epitem is keyed by (file, fd)).
type key struct {
	fd   int32
	file any
}

// watch is one entry of the interest set (Linux's epitem).
type watch struct {
	ep     *EventPoll
	key    key
	target waiter.Waitable

	// Protected by ep.mu.
	events   uint32 // as given to epoll_ctl, with EPOLLERR|EPOLLHUP added
	data     uint64
	entry    *waiter.Entry
	disabled bool // a one-shot watch that fired
	removed  bool
	inReady  bool
	// Ready list links.
	prev, next *watch
}

// mask returns the events w asks its file for.
func (w *watch) mask() waiter.EventMask {
	return waiter.EventMask(w.events &^ privateBits)
}

// EventPoll is an epoll instance; it is also the FileImpl of its fd.
type EventPoll struct {
	vfs.NoIoctl

	ctlMu sync.Mutex

	mu       sync.Mutex
	interest map[key]*watch
	// ready list: a circular doubly linked list through readyHead.
	readyHead watch
	released  bool

	// queue is notified (EventIn) when a watch becomes ready: it wakes
	// epoll_wait and whoever polls this epoll instance.
	queue waiter.Queue
}

var _ vfs.FileImpl = (*EventPoll)(nil)

// New returns an empty epoll instance.
func New() *EventPoll {
	ep := &EventPoll{interest: make(map[key]*watch)}
	ep.readyHead.next = &ep.readyHead
	ep.readyHead.prev = &ep.readyHead
	return ep
}

func (ep *EventPoll) pushReadyLocked(w *watch) {
	if w.inReady {
		return
	}
	w.inReady = true
	w.prev = ep.readyHead.prev
	w.next = &ep.readyHead
	w.prev.next = w
	ep.readyHead.prev = w
}

func (ep *EventPoll) pushFrontReadyLocked(w *watch) {
	if w.inReady {
		return
	}
	w.inReady = true
	w.next = ep.readyHead.next
	w.prev = &ep.readyHead
	w.next.prev = w
	ep.readyHead.next = w
}

func (ep *EventPoll) removeReadyLocked(w *watch) {
	if !w.inReady {
		return
	}
	w.prev.next = w.next
	w.next.prev = w.prev
	w.prev, w.next = nil, nil
	w.inReady = false
}

// takeReadyLocked empties the ready list and returns its watches in order.
func (ep *EventPoll) takeReadyLocked() []*watch {
	var out []*watch
	for w := ep.readyHead.next; w != &ep.readyHead; {
		next := w.next
		w.prev, w.next, w.inReady = nil, nil, false
		out = append(out, w)
		w = next
	}
	ep.readyHead.next = &ep.readyHead
	ep.readyHead.prev = &ep.readyHead
	return out
}

// readySnapshotLocked returns the watches on the ready list without
// removing them.
func (ep *EventPoll) readySnapshotLocked() []*watch {
	var out []*watch
	for w := ep.readyHead.next; w != &ep.readyHead; w = w.next {
		out = append(out, w)
	}
	return out
}

// newEntry makes the waiter entry of w for mask.
func (w *watch) newEntry(mask waiter.EventMask) *waiter.Entry {
	return &waiter.Entry{Mask: mask, Notify: func(waiter.EventMask) { w.ep.wake(w) }}
}

// wake is the callback of every watch's entry: the file may have become
// ready.
func (ep *EventPoll) wake(w *watch) {
	ep.mu.Lock()
	if w.removed || w.disabled || w.inReady {
		ep.mu.Unlock()
		return
	}
	ep.pushReadyLocked(w)
	ep.mu.Unlock()
	ep.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
}

// Add implements EPOLL_CTL_ADD: watch target (the FileImpl of the open
// file description file, reached through fd) for events, reporting data.
// The caller has checked that target supports polling (EPERM otherwise)
// and is not ep itself (EINVAL).
func (ep *EventPoll) Add(fd int32, file any, target waiter.Waitable, events uint32, data uint64) error {
	if events&EPOLLEXCLUSIVE != 0 {
		if events&^exclusiveOK != 0 {
			return unix.EINVAL
		}
		if _, ok := target.(*EventPoll); ok {
			return unix.EINVAL
		}
	}
	events |= EPOLLERR | EPOLLHUP
	events &^= EPOLLWAKEUP
	if inner, ok := target.(*EventPoll); ok {
		loopMu.Lock()
		defer loopMu.Unlock()
		if inner == ep || inner.reaches(ep, 1) || ep.depthAbove()+1+inner.depthBelow() > maxNests {
			return unix.ELOOP
		}
	}
	ep.ctlMu.Lock()
	defer ep.ctlMu.Unlock()
	k := key{fd, file}
	w := &watch{ep: ep, key: k, target: target, events: events, data: data}
	ep.mu.Lock()
	if ep.released {
		ep.mu.Unlock()
		return unix.EBADF
	}
	if _, ok := ep.interest[k]; ok {
		ep.mu.Unlock()
		return unix.EEXIST
	}
	ep.interest[k] = w
	e := w.newEntry(w.mask())
	w.entry = e
	ep.mu.Unlock()
	register(w)
	target.EventRegister(e)
	// Catch readiness that predates the registration.
	if target.Readiness(w.mask()) != 0 {
		ep.wake(w)
	}
	return nil
}

// Modify implements EPOLL_CTL_MOD: replace the events and data of the
// watch of (fd, file), re-arming a fired one-shot watch.
func (ep *EventPoll) Modify(fd int32, file any, events uint32, data uint64) error {
	if events&EPOLLEXCLUSIVE != 0 {
		return unix.EINVAL
	}
	events |= EPOLLERR | EPOLLHUP
	events &^= EPOLLWAKEUP
	ep.ctlMu.Lock()
	defer ep.ctlMu.Unlock()
	ep.mu.Lock()
	w, ok := ep.interest[key{fd, file}]
	if !ok {
		ep.mu.Unlock()
		return unix.ENOENT
	}
	if w.events&EPOLLEXCLUSIVE != 0 {
		ep.mu.Unlock()
		return unix.EINVAL
	}
	old := w.entry
	w.events = events
	w.data = data
	w.disabled = false
	e := w.newEntry(w.mask())
	w.entry = e
	target := w.target
	ep.mu.Unlock()
	target.EventUnregister(old)
	target.EventRegister(e)
	if target.Readiness(w.mask()) != 0 {
		ep.wake(w)
	}
	return nil
}

// Delete implements EPOLL_CTL_DEL.
func (ep *EventPoll) Delete(fd int32, file any) error {
	ep.ctlMu.Lock()
	defer ep.ctlMu.Unlock()
	ep.mu.Lock()
	w, ok := ep.interest[key{fd, file}]
	if !ok {
		ep.mu.Unlock()
		return unix.ENOENT
	}
	ep.removeLocked(w)
	e := w.entry
	ep.mu.Unlock()
	w.target.EventUnregister(e)
	unregister(w)
	return nil
}

// removeLocked takes w out of ep (the caller unregisters its entry).
func (ep *EventPoll) removeLocked(w *watch) {
	w.removed = true
	ep.removeReadyLocked(w)
	if ep.interest[w.key] == w {
		delete(ep.interest, w.key)
	}
}

// collect fills out with ready events and returns how many.
func (ep *EventPoll) collect(out []Event) int {
	ep.mu.Lock()
	batch := ep.takeReadyLocked()
	ep.mu.Unlock()
	if len(batch) == 0 {
		return 0
	}
	n := 0
	// rest are the watches not looked at (out is full): they go back to
	// the front of the ready list. requeue are the level-triggered
	// watches reported: they go to the back, so that with a small
	// maxevents every ready watch gets its turn.
	var rest, requeue []*watch
	for i, w := range batch {
		if n == len(out) {
			rest = batch[i:]
			break
		}
		ep.mu.Lock()
		skip := w.removed || w.disabled
		mask := w.mask()
		ep.mu.Unlock()
		if skip {
			continue
		}
		r := w.target.Readiness(mask)
		if r == 0 {
			continue
		}
		ep.mu.Lock()
		if w.removed || w.disabled {
			ep.mu.Unlock()
			continue
		}
		out[n] = Event{Events: uint32(r & w.mask()), Data: w.data}
		if out[n].Events == 0 {
			// Modified in between to events that are not ready.
			ep.mu.Unlock()
			continue
		}
		n++
		switch {
		case w.events&EPOLLONESHOT != 0:
			w.disabled = true
		case w.events&EPOLLET == 0:
			requeue = append(requeue, w)
		}
		ep.mu.Unlock()
	}
	if len(rest) > 0 || len(requeue) > 0 {
		ep.mu.Lock()
		for i := len(rest) - 1; i >= 0; i-- {
			if w := rest[i]; !w.removed && !w.disabled {
				ep.pushFrontReadyLocked(w)
			}
		}
		for _, w := range requeue {
			if !w.removed && !w.disabled {
				ep.pushReadyLocked(w)
			}
		}
		ep.mu.Unlock()
	}
	return n
}

// Wait implements epoll_wait: it fills out with ready events, waiting up
// to timeout (forever if negative) for one. It returns 0 on timeout and
// the error of ctx.BlockTimeout (syserr.ErrInterrupted) on a signal.
func (ep *EventPoll) Wait(ctx vfs.Context, out []Event, timeout time.Duration) (int, error) {
	if len(out) == 0 {
		return 0, unix.EINVAL
	}
	if n := ep.collect(out); n > 0 || timeout == 0 {
		ep.wakeOthers(n)
		return n, nil
	}
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	ep.queue.EventRegister(e)
	defer ep.queue.EventUnregister(e)
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if n := ep.collect(out); n > 0 {
			ep.wakeOthers(n)
			return n, nil
		}
		d := time.Duration(-1)
		if timeout > 0 {
			if d = time.Until(deadline); d <= 0 {
				return 0, nil
			}
		}
		switch err := ctx.BlockTimeout(ch, d); err {
		case nil:
		case unix.ETIMEDOUT:
			n := ep.collect(out)
			ep.wakeOthers(n)
			return n, nil
		default:
			return 0, err
		}
	}
}

// wakeOthers wakes the other waiters if level-triggered watches are still
// on the ready list after a wait reported n events, as Linux does.
func (ep *EventPoll) wakeOthers(n int) {
	if n == 0 {
		return
	}
	ep.mu.Lock()
	nonEmpty := ep.readyHead.next != &ep.readyHead
	ep.mu.Unlock()
	if nonEmpty {
		ep.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
	}
}

// Readiness implements waiter.Waitable: an epoll instance is readable when
// one of its watches is ready.
func (ep *EventPoll) Readiness(mask waiter.EventMask) waiter.EventMask {
	if mask&(waiter.EventIn|waiter.EventRdNorm) == 0 {
		return 0
	}
	ep.mu.Lock()
	cands := ep.readySnapshotLocked()
	masks := make([]waiter.EventMask, len(cands))
	for i, w := range cands {
		if w.disabled || w.removed {
			continue
		}
		masks[i] = w.mask()
	}
	ep.mu.Unlock()
	for i, w := range cands {
		if masks[i] != 0 && w.target.Readiness(masks[i]) != 0 {
			return mask & (waiter.EventIn | waiter.EventRdNorm)
		}
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (ep *EventPoll) EventRegister(e *waiter.Entry) { ep.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (ep *EventPoll) EventUnregister(e *waiter.Entry) { ep.queue.EventUnregister(e) }

// Read implements vfs.FileImpl.Read: epoll fds are not readable.
func (ep *EventPoll) Read(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Write implements vfs.FileImpl.Write.
func (ep *EventPoll) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Release implements vfs.FileImpl.Release: the interest set goes away.
func (ep *EventPoll) Release() {
	ep.ctlMu.Lock()
	defer ep.ctlMu.Unlock()
	ep.mu.Lock()
	if ep.released {
		ep.mu.Unlock()
		return
	}
	ep.released = true
	ws := make([]*watch, 0, len(ep.interest))
	for _, w := range ep.interest {
		ws = append(ws, w)
	}
	entries := make([]*waiter.Entry, len(ws))
	for i, w := range ws {
		entries[i] = w.entry
		ep.removeLocked(w)
	}
	ep.mu.Unlock()
	for i, w := range ws {
		w.target.EventUnregister(entries[i])
		unregister(w)
	}
	// Anyone polling the instance or registered on it may stay; the
	// file is gone from every table, so nobody can wait on it anew.
	// Watches other instances have on ep are dropped by FileReleased.
}

// Len returns the number of watches (for /proc/<pid>/fdinfo and tests).
func (ep *EventPoll) Len() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return len(ep.interest)
}

// loopMu serializes the loop and depth checks of adding an epoll instance
// to another (Linux's epmutex).
var loopMu sync.Mutex

// children returns the epoll instances ep watches.
func (ep *EventPoll) children() []*EventPoll {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []*EventPoll
	for _, w := range ep.interest {
		if c, ok := w.target.(*EventPoll); ok {
			out = append(out, c)
		}
	}
	return out
}

// reaches reports whether ep watches target, directly or through nested
// instances (or the nesting is too deep to tell).
func (ep *EventPoll) reaches(target *EventPoll, depth int) bool {
	if depth > maxNests {
		return true
	}
	for _, c := range ep.children() {
		if c == target || c.reaches(target, depth+1) {
			return true
		}
	}
	return false
}

// depthBelow returns the length of the longest chain of epoll instances
// ep watches (0 if it watches none).
func (ep *EventPoll) depthBelow() int {
	return ep.depthBelowN(0)
}

func (ep *EventPoll) depthBelowN(n int) int {
	if n > maxNests {
		return n
	}
	d := 0
	for _, c := range ep.children() {
		d = max(d, 1+c.depthBelowN(n+1))
	}
	return d
}

// depthAbove returns the length of the longest chain of epoll instances
// watching ep.
func (ep *EventPoll) depthAbove() int {
	return depthAboveN(ep, 0)
}

func depthAboveN(ep *EventPoll, n int) int {
	if n > maxNests {
		return n
	}
	d := 0
	for _, p := range parentsOf(ep) {
		d = max(d, 1+depthAboveN(p, n+1))
	}
	return d
}
