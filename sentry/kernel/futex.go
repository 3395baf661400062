package kernel

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

// futexKey names a futex word: private futexes by (address space,
// address), shared ones by the memory file page they live in, so that
// processes mapping the same shared memory meet.
type futexKey struct {
	mm   *mm.MemoryManager
	addr uintptr
	off  int64
}

type futexWaiter struct {
	key    futexKey
	bitset uint32
	ch     chan struct{}
	woken  bool
}

// futexManager holds every waiting task, by key.
type futexManager struct {
	mu      sync.Mutex
	waiters map[futexKey][]*futexWaiter
}

func (f *futexManager) init() { f.waiters = make(map[futexKey][]*futexWaiter) }

func (t *Task) futexKey(addr uintptr, private bool) (futexKey, error) {
	if addr%4 != 0 {
		return futexKey{}, unix.EINVAL
	}
	if !private {
		shared, off, err := t.mm.FutexKey(addr)
		if err != nil {
			return futexKey{}, err
		}
		if shared {
			return futexKey{off: off}, nil
		}
	}
	return futexKey{mm: t.mm, addr: addr}, nil
}

func (t *Task) loadUint32(addr uintptr) (uint32, error) {
	var b [4]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// FutexWait implements FUTEX_WAIT(_BITSET): sleep while *addr == val.
// A zero deadline waits forever.
func (t *Task) FutexWait(addr uintptr, private bool, val, bitset uint32, deadline time.Time) error {
	if bitset == 0 {
		return unix.EINVAL
	}
	key, err := t.futexKey(addr, private)
	if err != nil {
		return err
	}
	f := &t.k.futexes
	w := &futexWaiter{key: key, bitset: bitset, ch: make(chan struct{})}
	// The value check and the enqueue happen under f.mu, and wakers take
	// f.mu, so a wake between them cannot be lost.
	f.mu.Lock()
	cur, err := t.loadUint32(addr)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if cur != val {
		f.mu.Unlock()
		return unix.EAGAIN
	}
	f.waiters[key] = append(f.waiters[key], w)
	f.mu.Unlock()

	if deadline.IsZero() {
		err = t.Block(w.ch)
	} else {
		err = t.BlockUntil(w.ch, deadline)
	}
	if err == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.woken {
		return nil // the wake won the race with the timeout/signal
	}
	f.removeLocked(w)
	return err
}

func (f *futexManager) removeLocked(w *futexWaiter) {
	l := f.waiters[w.key]
	for i, o := range l {
		if o == w {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(f.waiters, w.key)
	} else {
		f.waiters[w.key] = l
	}
}

// wakeLocked wakes up to n waiters on key whose bitset matches.
func (f *futexManager) wakeLocked(key futexKey, n int, bitset uint32) int {
	woken := 0
	l := f.waiters[key]
	out := l[:0]
	for _, w := range l {
		if woken < n && w.bitset&bitset != 0 {
			w.woken = true
			close(w.ch)
			woken++
			continue
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		delete(f.waiters, key)
	} else {
		f.waiters[key] = out
	}
	return woken
}

// wake is FUTEX_WAKE(_BITSET).
func (f *futexManager) wake(t *Task, addr uintptr, private bool, n int, bitset uint32) (int, error) {
	if bitset == 0 {
		return 0, unix.EINVAL
	}
	key, err := t.futexKey(addr, private)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakeLocked(key, n, bitset), nil
}

// FutexWake implements FUTEX_WAKE and FUTEX_WAKE_BITSET.
func (t *Task) FutexWake(addr uintptr, private bool, n int, bitset uint32) (int, error) {
	return t.k.futexes.wake(t, addr, private, n, bitset)
}

// FutexRequeue implements FUTEX_REQUEUE and (with check) FUTEX_CMP_REQUEUE:
// wake n waiters on addr and move up to n2 of the rest to addr2.
func (t *Task) FutexRequeue(addr, addr2 uintptr, private bool, n, n2 int, check bool, val uint32) (int, error) {
	k1, err := t.futexKey(addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := t.futexKey(addr2, private)
	if err != nil {
		return 0, err
	}
	f := &t.k.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	if check {
		cur, err := t.loadUint32(addr)
		if err != nil {
			return 0, err
		}
		if cur != val {
			return 0, unix.EAGAIN
		}
	}
	done := f.wakeLocked(k1, n, ^uint32(0))
	if k1 == k2 {
		// Requeueing onto the same futex leaves the waiters where they
		// are; Linux still counts them.
		return done + min(len(f.waiters[k1]), max(n2, 0)), nil
	}
	moved := 0
	l := f.waiters[k1]
	for len(l) > 0 && moved < n2 {
		w := l[0]
		l = l[1:]
		w.key = k2
		f.waiters[k2] = append(f.waiters[k2], w)
		moved++
	}
	if len(l) == 0 {
		delete(f.waiters, k1)
	} else {
		f.waiters[k1] = l
	}
	return done + moved, nil
}

// FutexWakeOp implements FUTEX_WAKE_OP: atomically update *addr2 with op,
// wake n waiters on addr, and n2 on addr2 if the old *addr2 passes the
// comparison encoded in op.
func (t *Task) FutexWakeOp(addr, addr2 uintptr, private bool, n, n2 int, op uint32) (int, error) {
	k1, err := t.futexKey(addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := t.futexKey(addr2, private)
	if err != nil {
		return 0, err
	}
	f := &t.k.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := t.loadUint32(addr2)
	if err != nil {
		return 0, err
	}
	opType, cmp := (op>>28)&7, (op>>24)&15
	// The 12-bit arguments are signed.
	oparg, cmparg := uint32(int32(op<<8)>>20), uint32(int32(op<<20)>>20)
	if op&(8<<28) != 0 { // FUTEX_OP_OPARG_SHIFT
		oparg = 1 << (oparg & 31)
	}
	nv := old
	switch opType {
	case 0:
		nv = oparg
	case 1:
		nv = old + oparg
	case 2:
		nv = old | oparg
	case 3:
		nv = old &^ oparg
	case 4:
		nv = old ^ oparg
	default:
		return 0, unix.ENOSYS
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], nv)
	if err := t.CopyOut(addr2, b[:]); err != nil {
		return 0, err
	}
	woken := f.wakeLocked(k1, n, ^uint32(0))
	var ok bool
	switch cmp {
	case 0:
		ok = old == cmparg
	case 1:
		ok = old != cmparg
	case 2:
		ok = int32(old) < int32(cmparg)
	case 3:
		ok = int32(old) <= int32(cmparg)
	case 4:
		ok = int32(old) > int32(cmparg)
	case 5:
		ok = int32(old) >= int32(cmparg)
	default:
		return 0, unix.ENOSYS
	}
	if ok {
		woken += f.wakeLocked(k2, n2, ^uint32(0))
	}
	return woken, nil
}

// SetClearTID implements set_tid_address.
func (t *Task) SetClearTID(addr uintptr) { t.clearTID = addr }

// SetRobustList implements set_robust_list.
func (t *Task) SetRobustList(addr uintptr) { t.robustList = addr }

// RobustList returns the robust list head (get_robust_list).
func (t *Task) RobustList() uintptr { return t.robustList }
