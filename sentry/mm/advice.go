package mm

import (
	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

// madvise(2), mincore(2), mlock(2) and friends.

// madvise advice values (include/uapi/asm-generic/mman-common.h).
const (
	MadvNormal         = 0
	MadvRandom         = 1
	MadvSequential     = 2
	MadvWillneed       = 3
	MadvDontneed       = 4
	MadvFree           = 8
	MadvRemove         = 9
	MadvDontfork       = 10
	MadvDofork         = 11
	MadvMergeable      = 12
	MadvUnmergeable    = 13
	MadvHugepage       = 14
	MadvNohugepage     = 15
	MadvDontdump       = 16
	MadvDodump         = 17
	MadvWipeonfork     = 18
	MadvKeeponfork     = 19
	MadvCold           = 20
	MadvPageout        = 21
	MadvPopulateRead   = 22
	MadvPopulateWrite  = 23
	MadvDontneedLocked = 24
	MadvCollapse       = 25
	MadvHwpoison       = 100
	MadvSoftOffline    = 101
)

// Madvise implements madvise(2) for [addr, addr+length) (addr
// page-aligned, checked by the caller with the advice):
//
//   - MADV_DONTNEED (and MADV_DONTNEED_LOCKED) drops the range's private
//     pages, so private anonymous memory reads zero again and private file
//     mappings the file; shared mappings are unaffected (their pages are
//     the file's). EINVAL on locked memory for MADV_DONTNEED.
//   - MADV_FREE (private anonymous memory only, else EINVAL) does the same
//     at once: Linux may do it whenever it likes.
//   - MADV_REMOVE (shared mappings only, else EINVAL) punches a hole in the
//     tmpfs or shared anonymous memory behind them; other files:
//     EOPNOTSUPP.
//   - MADV_DONTFORK / MADV_DOFORK, MADV_WIPEONFORK / MADV_KEEPONFORK
//     (private anonymous only, else EINVAL) change what fork(2) copies.
//   - MADV_POPULATE_READ / MADV_POPULATE_WRITE fault the pages in (EINVAL
//     without the access).
//   - The rest are hints with nothing to do here (page-cache, THP, KSM,
//     dump and reclaim policy).
//
// An advice that is not one of these is EINVAL; a range with holes gets
// ENOMEM after the advice was applied to the mapped parts, as in Linux.
func (m *MemoryManager) Madvise(addr, length uintptr, advice int) error {
	switch advice {
	case MadvNormal, MadvRandom, MadvSequential, MadvWillneed, MadvDontneed, MadvFree, MadvRemove,
		MadvDontfork, MadvDofork, MadvMergeable, MadvUnmergeable, MadvHugepage, MadvNohugepage,
		MadvDontdump, MadvDodump, MadvWipeonfork, MadvKeeponfork, MadvCold, MadvPageout,
		MadvPopulateRead, MadvPopulateWrite, MadvDontneedLocked:
	default:
		return unix.EINVAL
	}
	end := addr + pageRoundUp(length)
	if addr%pageSize != 0 || (length != 0 && end == addr) || end < addr {
		return unix.EINVAL
	}
	if end == addr {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// First pass: what Linux refuses for the whole call.
	hole := false
	for a := addr; a < end; {
		v := m.find(a)
		if v == nil {
			hole = true
			a = m.nextStart(a, end)
			continue
		}
		anonPrivate := !v.shared && v.mappable == nil
		switch advice {
		case MadvDontneed, MadvDontneedLocked:
			if advice == MadvDontneed && v.locked {
				return unix.EINVAL
			}
		case MadvFree, MadvWipeonfork, MadvKeeponfork:
			if !anonPrivate || (advice == MadvFree && v.locked) {
				return unix.EINVAL
			}
		case MadvRemove:
			if !v.shared || v.prot&unix.PROT_WRITE == 0 {
				return unix.EINVAL
			}
			if c := cacheOf(v.mappable); c == nil || c.Fill != nil {
				return unix.EOPNOTSUPP // not tmpfs or shared anonymous memory
			}
		case MadvPopulateRead, MadvPopulateWrite:
			// Linux 6.18 answers EINVAL (measured) where the access
			// is not allowed.
			if v.prot == unix.PROT_NONE || (advice == MadvPopulateWrite && v.prot&unix.PROT_WRITE == 0) {
				return unix.EINVAL
			}
		}
		a = min(v.end, end)
	}
	switch advice {
	case MadvDontneed, MadvDontneedLocked, MadvFree:
		// Unmap first: no thread may reach a page once it is freed.
		m.noteHWMLocked()
		m.as.Unmap(addr, end-addr)
		m.forPtes(addr, end, func(a uintptr, p pte) {
			m.mf.DecRef(p.off, pageSize)
			delete(m.ptes, a)
		})
	case MadvRemove:
		for a := addr; a < end; {
			v := m.find(a)
			if v == nil {
				a = m.nextStart(a, end)
				continue
			}
			e := min(v.end, end)
			c := cacheOf(v.mappable)
			off := v.off + int64(a-v.start)
			m.mu.Unlock() // Punch takes every mapper's lock, this one's too
			c.Punch(off, int64(e-a))
			m.mu.Lock()
			a = e
		}
	case MadvDontfork, MadvDofork, MadvWipeonfork, MadvKeeponfork:
		m.setFlagsLocked(addr, end, func(v *vma) {
			switch advice {
			case MadvDontfork:
				v.dontFork = true
			case MadvDofork:
				v.dontFork = false
			case MadvWipeonfork:
				v.wipeOnFork = true
			case MadvKeeponfork:
				v.wipeOnFork = false
			}
		})
	case MadvPopulateRead, MadvPopulateWrite:
		m.populateLocked(addr, end)
	}
	if hole {
		return unix.ENOMEM
	}
	return nil
}

// nextStart returns the start of the first vma at or after a, or end.
func (m *MemoryManager) nextStart(a, end uintptr) uintptr {
	for _, v := range m.vmas {
		if v.start > a {
			return min(v.start, end)
		}
	}
	return end
}

// setFlagsLocked splits the vmas at start and end and applies f to those
// in between, then merges what became alike.
func (m *MemoryManager) setFlagsLocked(start, end uintptr, f func(*vma)) {
	m.split(start)
	m.split(end)
	for _, v := range m.vmas {
		if v.start >= start && v.end <= end {
			f(v)
		}
	}
	m.merge()
}

// mappedLocked reports whether every page of [start, end) is mapped.
func (m *MemoryManager) mappedLocked(start, end uintptr) bool {
	for a := start; a < end; {
		v := m.find(a)
		if v == nil {
			return false
		}
		a = v.end
	}
	return true
}

// Mincore implements mincore(2): one byte per page of [addr, addr+length),
// 1 if the page is resident, which here means the Sentry has given it
// memory: a private page, or the page cache's page of a file or shared
// mapping. ENOMEM if part of the range is not mapped.
func (m *MemoryManager) Mincore(addr, length uintptr) ([]byte, error) {
	end := addr + pageRoundUp(length)
	if addr%pageSize != 0 || end < addr {
		return nil, unix.EINVAL
	}
	if end > m.maxAddr {
		return nil, unix.ENOMEM
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mappedLocked(addr, end) {
		return nil, unix.ENOMEM
	}
	vec := make([]byte, (end-addr)/pageSize)
	for a := addr; a < end; a += pageSize {
		if _, ok := m.ptes[a]; ok {
			vec[(a-addr)/pageSize] = 1
			continue
		}
		v := m.find(a)
		if c := cacheOf(v.mappable); c != nil {
			if _, ok := c.cachedPage(v.off + int64(a-v.start)); ok {
				vec[(a-addr)/pageSize] = 1
			}
		}
	}
	return vec, nil
}

// Mlock implements mlock(2) and mlock2(2) (onFault: MLOCK_ONFAULT) for
// [addr, addr+length), rounded out to pages: every page must be mapped
// (ENOMEM), and the locked total may not pass RLIMIT_MEMLOCK (ENOMEM;
// EPERM if the limit is 0) without CAP_IPC_LOCK. Locked pages get their
// memory now unless onFault. The Sentry never swaps, so locking only has
// these effects.
func (m *MemoryManager) Mlock(addr, length uintptr, onFault bool, l *Limits) error {
	start, end, err := lockRange(addr, length)
	if err != nil || start == end {
		return err
	}
	if !l.CanLock && l.MemLock < pageSize {
		return unix.EPERM // can_do_mlock
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !l.CanLock {
		_, _, locked := m.usageLocked(0, 0)
		_, _, already := m.usageLocked(start, end)
		if uint64(locked-already+(end-start)) > l.MemLock {
			return unix.ENOMEM
		}
	}
	if !m.mappedLocked(start, end) {
		return unix.ENOMEM
	}
	m.setFlagsLocked(start, end, func(v *vma) { v.locked, v.onFault = true, onFault })
	if !onFault {
		m.populateLocked(start, end)
	}
	return nil
}

// Munlock implements munlock(2).
func (m *MemoryManager) Munlock(addr, length uintptr) error {
	start, end, err := lockRange(addr, length)
	if err != nil || start == end {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mappedLocked(start, end) {
		return unix.ENOMEM
	}
	m.setFlagsLocked(start, end, func(v *vma) { v.locked, v.onFault = false, false })
	return nil
}

// lockRange rounds mlock's range out to pages, as Linux does (an unaligned
// address is fine).
func lockRange(addr, length uintptr) (uintptr, uintptr, error) {
	start := pageRoundDown(addr)
	end := pageRoundUp(addr + length)
	if addr+length < addr || end < start {
		return 0, 0, unix.ENOMEM
	}
	return start, end, nil
}

// mlockall(2) flags.
const (
	MclCurrent = 1
	MclFuture  = 2
	MclOnfault = 4
)

// Mlockall implements mlockall(2): MCL_CURRENT locks every mapping (the
// whole address space may not pass RLIMIT_MEMLOCK without CAP_IPC_LOCK:
// ENOMEM), MCL_FUTURE every later one, MCL_ONFAULT without populating.
func (m *MemoryManager) Mlockall(flags int, l *Limits) error {
	if flags == 0 || flags&^(MclCurrent|MclFuture|MclOnfault) != 0 || flags == MclOnfault {
		return unix.EINVAL
	}
	if !l.CanLock && l.MemLock < pageSize {
		return unix.EPERM
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if flags&MclCurrent != 0 && !l.CanLock {
		if total, _, _ := m.usageLocked(0, 0); uint64(total) > l.MemLock {
			return unix.ENOMEM
		}
	}
	onFault := flags&MclOnfault != 0
	m.lockFuture = flags&MclFuture != 0
	m.lockOnFault = m.lockFuture && onFault
	if flags&MclCurrent != 0 {
		for _, v := range m.vmas {
			v.locked, v.onFault = true, onFault
		}
		m.merge()
		if !onFault {
			for _, v := range m.vmas {
				m.populateLocked(v.start, v.end)
			}
		}
	}
	return nil
}

// Munlockall implements munlockall(2).
func (m *MemoryManager) Munlockall() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lockFuture, m.lockOnFault = false, false
	for _, v := range m.vmas {
		v.locked, v.onFault = false, false
	}
	m.merge()
}

// Punch drops the pages of [off, off+length) from the cache and from every
// address space mapping them, leaving a hole that reads as zeros: for
// caches that are their file's only copy (tmpfs, shared anonymous memory;
// MADV_REMOVE, FALLOC_FL_PUNCH_HOLE). Private copies made by writes stay.
func (c *PageCache) Punch(off, length int64) {
	first := roundUp(off) / memfile.PageSize
	end := (off + length) / memfile.PageSize
	if end <= first {
		return
	}
	c.mu.Lock()
	var ms []*MemoryManager
	for m := range c.mappers {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	for _, m := range ms {
		m.invalidateCacheRange(c, first*memfile.PageSize, end*memfile.PageSize)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var dropped int64
	for idx := first; idx < end; idx++ {
		if p, ok := c.pages[idx]; ok {
			c.MF.DecRef(p, memfile.PageSize)
			delete(c.pages, idx)
			dropped++
		}
	}
	if c.Quota != nil && dropped > 0 {
		c.Quota.Uncharge(dropped)
	}
}

// invalidateCacheRange drops the platform mappings of c's pages at file
// offsets [from, to), shared or private (unwritten private pages map the
// cache's pages too).
func (m *MemoryManager) invalidateCacheRange(c *PageCache, from, to int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.vmas {
		if cacheOf(v.mappable) != c {
			continue
		}
		vEnd := v.off + int64(v.end-v.start)
		s, e := max(from, v.off), min(to, vEnd)
		if s >= e {
			continue
		}
		m.invalidate(v.start+uintptr(s-v.off), v.start+uintptr(e-v.off))
	}
}

// msync(2) flags.
const (
	MsAsync      = 1
	MsInvalidate = 2
	MsSync       = 4
)

// Msync implements msync(2)'s checks (mm/msync.c): the flags, alignment,
// holes (ENOMEM, after the mapped parts; MS_ASYNC alone stops at the
// first), MS_INVALIDATE of locked memory (EBUSY). Shared mappings write
// straight into the page cache that read(2) and write(2) use, so there is
// nothing to flush that those would not also see.
func (m *MemoryManager) Msync(addr, length uintptr, flags int) error {
	if flags&^(MsAsync|MsInvalidate|MsSync) != 0 || addr%pageSize != 0 ||
		(flags&MsAsync != 0 && flags&MsSync != 0) {
		return unix.EINVAL
	}
	end := addr + pageRoundUp(length)
	if end < addr {
		return unix.ENOMEM
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	for a := addr; a < end; {
		v := m.find(a)
		if v == nil {
			next := m.nextStart(a, end)
			if next >= end || flags == MsAsync {
				return unix.ENOMEM
			}
			err = unix.ENOMEM
			a = next
			continue
		}
		if flags&MsInvalidate != 0 && v.locked {
			return unix.EBUSY
		}
		a = v.end
	}
	return err
}
