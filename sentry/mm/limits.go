package mm

import "golang.org/x/sys/unix"

// Resource limits on address spaces (setrlimit(2)): RLIMIT_AS bounds all
// mappings, RLIMIT_DATA the private writable ones that are not stacks,
// RLIMIT_MEMLOCK the locked ones. Linux checks them against the calling
// process's limits (mm/mmap.c may_expand_vm, mlock_future_ok), so the
// callers pass them in.

// Limits are the limits of the calling process, in bytes (^uint64(0) for
// none).
type Limits struct {
	AS, Data, MemLock uint64
	// CanLock is CAP_IPC_LOCK: no RLIMIT_MEMLOCK.
	CanLock bool
}

// NoLimits is what the Sentry's own mappings (loader, vDSO) use.
var NoLimits = &Limits{AS: ^uint64(0), Data: ^uint64(0), MemLock: ^uint64(0), CanLock: true}

// isData reports whether v counts against RLIMIT_DATA (Linux's
// is_data_mapping: writable, private, not a stack).
func (v *vma) isData() bool {
	return v.prot&unix.PROT_WRITE != 0 && !v.shared && !v.stack
}

// usage sums the bytes of all vmas, of the data ones and of the locked
// ones in [start, end) (all of them if end is 0).
func (m *MemoryManager) usageLocked(start, end uintptr) (total, data, locked uintptr) {
	for _, v := range m.vmas {
		s, e := v.start, v.end
		if end != 0 {
			s, e = max(s, start), min(e, end)
			if s >= e {
				continue
			}
		}
		n := e - s
		total += n
		if v.isData() {
			data += n
		}
		if v.locked {
			locked += n
		}
	}
	return
}

// mayMapLocked checks that the address space may gain a mapping of length
// bytes at [addr, addr+length) (replacing what is there), data or not, and
// locked or not: ENOMEM beyond RLIMIT_AS or RLIMIT_DATA, EAGAIN beyond
// RLIMIT_MEMLOCK.
func (m *MemoryManager) mayMapLocked(l *Limits, addr, length uintptr, data, locked bool) error {
	if l == nil {
		return nil
	}
	total, dataVM, lockedVM := m.usageLocked(0, 0)
	var oTotal, oData, oLocked uintptr
	if addr != 0 {
		oTotal, oData, oLocked = m.usageLocked(addr, addr+length)
	}
	if locked && !l.CanLock && uint64(lockedVM-oLocked+length) > l.MemLock {
		return unix.EAGAIN
	}
	if uint64(total-oTotal+length) > l.AS {
		return unix.ENOMEM
	}
	if data && uint64(dataVM-oData+length) > l.Data {
		return unix.ENOMEM
	}
	return nil
}

// mayGrowLocked checks that v may grow by n bytes (mremap, brk).
func (m *MemoryManager) mayGrowLocked(l *Limits, v *vma, n uintptr) error {
	if l == nil {
		return nil
	}
	total, data, locked := m.usageLocked(0, 0)
	if v.locked && !l.CanLock && uint64(locked+n) > l.MemLock {
		return unix.EAGAIN
	}
	if uint64(total+n) > l.AS {
		return unix.ENOMEM
	}
	if v.isData() && uint64(data+n) > l.Data {
		return unix.ENOMEM
	}
	return nil
}

// ReserveStack keeps a new address space's mmap area below a stack of size
// bytes under StackTop (and the gap Linux's mmap_base leaves), for the
// loader before it maps anything.
func (m *MemoryManager) ReserveStack(size uintptr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mmapTop = min(m.mmapTop, m.StackTop()-max(stackGap, size+stackGap/4))
}

// StackStart returns the start of the stack mapping holding addr
// (mprotect's PROT_GROWSDOWN), if it is one.
func (m *MemoryManager) StackStart(addr uintptr) (uintptr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.find(addr)
	if v == nil || !v.stack {
		return 0, false
	}
	return v.start, true
}

// LockedBytes is the size of the locked mappings (VmLck).
func (m *MemoryManager) LockedBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, locked := m.usageLocked(0, 0)
	return int64(locked)
}
