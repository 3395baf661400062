package mm

import (
	"golang.org/x/sys/unix"
)

// CopyIn copies application memory at addr into dst. It fails with EFAULT
// at the first page that is unmapped or unreadable, returning how much it
// copied.
func (m *MemoryManager) CopyIn(addr uintptr, dst []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.io(addr, len(dst), false, func(mem []byte, done int) { copy(dst[done:], mem) })
}

// CopyOut copies src into application memory at addr, resolving
// copy-on-write as a write by the application would.
func (m *MemoryManager) CopyOut(addr uintptr, src []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.io(addr, len(src), true, func(mem []byte, done int) { copy(mem, src[done:]) })
}

// ZeroOut writes n zero bytes at addr.
func (m *MemoryManager) ZeroOut(addr uintptr, n int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.io(addr, n, true, func(mem []byte, _ int) { clear(mem) })
}

// io walks [addr, addr+n) page by page, calling fn with the Sentry's view
// of each piece and how many bytes were done before it.
func (m *MemoryManager) io(addr uintptr, n int, write bool, fn func(mem []byte, done int)) (int, error) {
	return m.ioAccess(addr, n, write, false, fn)
}

// ioAccess is io; force is a debugger's access (see CopyInForce).
func (m *MemoryManager) ioAccess(addr uintptr, n int, write, force bool, fn func(mem []byte, done int)) (int, error) {
	done := 0
	var v *vma
	for done < n {
		cur := addr + uintptr(done)
		if cur < addr {
			return done, unix.EFAULT
		}
		if v == nil || cur >= v.end || cur < v.start {
			if v = m.find(cur); v == nil {
				return done, unix.EFAULT
			}
			need := unix.PROT_READ
			if write {
				need = unix.PROT_WRITE
			}
			if v.prot&need == 0 && !(force && forceAllowed(v, write)) {
				return done, unix.EFAULT
			}
		}
		page := pageRoundDown(cur)
		po := int64(cur - page)
		chunk := min(int64(n-done), pageSize-po)
		off, err := m.ioPage(v, page, write)
		if err != nil {
			return done, unix.EFAULT
		}
		if off < 0 {
			// An untouched anonymous page reads as zeros.
			fn(zeroPage[:chunk], done)
		} else {
			fn(m.mf.Slice(off+po, chunk), done)
		}
		done += int(chunk)
	}
	return done, nil
}

var zeroPage [pageSize]byte

// ioPage returns the memory file offset backing page of v for a Sentry
// access, or -1 for an untouched anonymous page being read.
func (m *MemoryManager) ioPage(v *vma, page uintptr, write bool) (int64, error) {
	if v.shared {
		return v.mappable.TranslatePage(v.off + int64(page-v.start))
	}
	p, ok := m.ptes[page]
	if !write {
		switch {
		case ok:
			return p.off, nil
		case v.mappable != nil:
			return v.mappable.TranslatePage(v.off + int64(page-v.start))
		default:
			return -1, nil
		}
	}
	if ok && m.mf.RefCount(p.off) == 1 {
		return p.off, nil
	}
	if !ok && v.mappable == nil {
		// Allocate the surrounding window now so later faults map it in
		// one run.
		m.populateAnon(windowOf(v, page))
		if p, ok := m.ptes[page]; ok {
			return p.off, nil
		}
		return 0, unix.ENOMEM
	}
	// Copy-on-write: the platform may map the old page read-only here;
	// drop that mapping so the application sees the copy.
	off, err := m.privatePageForWrite(v, page)
	if err != nil {
		return 0, err
	}
	m.ptes[page] = pte{off: off}
	m.as.Unmap(page, pageSize)
	return off, nil
}

// FutexKey tells how a futex at addr is identified: for MAP_SHARED memory
// by its memory file offset (shared is true), otherwise by address.
func (m *MemoryManager) FutexKey(addr uintptr) (shared bool, off int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.find(addr)
	if v == nil {
		return false, 0, unix.EFAULT
	}
	if !v.shared {
		return false, 0, nil
	}
	page := pageRoundDown(addr)
	off, err = v.mappable.TranslatePage(v.off + int64(page-v.start))
	return true, off + int64(addr-page), err
}
