package mm

import "golang.org/x/sys/unix"

// MremapOpts are mremap(2)'s flags and new address.
type MremapOpts struct {
	MayMove, Fixed, DontUnmap bool
	NewAddr                   uintptr
	Limits                    *Limits
}

// Mremap implements mremap(2) as Linux 6.x does (mm/mremap.c), checked
// against a native run of the same cases:
//
//   - addr must be in a mapping (EFAULT), whatever the sizes;
//   - a shrink (new < old, neither MREMAP_FIXED nor MREMAP_DONTUNMAP)
//     unmaps [addr+new, addr+old), across mappings; the same size is a
//     no-op;
//   - a growth needs [addr, addr+old) within one mapping (EFAULT), grows in
//     place when addr+old is its end and the pages after it are free, else
//     moves with MREMAP_MAYMOVE (ENOMEM without);
//   - MREMAP_FIXED moves to new_addr (replacing what is there; EINVAL if
//     the ranges overlap), after unmapping the excess of a shrink;
//   - MREMAP_DONTUNMAP (same size, with MREMAP_MAYMOVE) moves the pages
//     and leaves the old range mapped: private anonymous memory there reads
//     zero again, file mappings read the file;
//   - old size 0 duplicates a shared mapping (EINVAL for a private one).
//
// A move takes the private pages along; the old range is unmapped.
func (m *MemoryManager) Mremap(old, oldSize, newSize uintptr, o MremapOpts) (uintptr, error) {
	if old%pageSize != 0 || (o.Fixed && !o.MayMove) ||
		(o.DontUnmap && (!o.MayMove || oldSize != newSize)) {
		return 0, unix.EINVAL
	}
	oldR, newR := pageRoundUp(oldSize), pageRoundUp(newSize)
	if newR == 0 || newR < newSize || newR > m.maxAddr {
		return 0, unix.EINVAL
	}
	if oldR < oldSize {
		return 0, unix.EFAULT // no mapping is that long
	}
	oldSize, newSize = oldR, newR
	newAddr := o.NewAddr
	if o.Fixed || o.DontUnmap {
		if newAddr%pageSize != 0 {
			return 0, unix.EINVAL
		}
	}
	if o.Fixed {
		if newAddr+newSize > m.maxAddr || newAddr+newSize < newAddr ||
			(old+oldSize > newAddr && newAddr+newSize > old) {
			return 0, unix.EINVAL
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.find(old)
	if v == nil {
		return 0, unix.EFAULT
	}
	if oldSize == 0 {
		// Duplicate a shared mapping (the old one stays).
		if !v.shared {
			return 0, unix.EINVAL
		}
		if !o.MayMove {
			return 0, unix.ENOMEM
		}
		return m.placeLocked(v, old, 0, newSize, o, false)
	}
	if !o.Fixed && !o.DontUnmap {
		if newSize <= oldSize {
			if old+oldSize > m.maxAddr || old+oldSize < old {
				return 0, unix.EINVAL
			}
			m.unmapLocked(old+newSize, oldSize-newSize)
			return old, nil
		}
		if oldSize > v.end-old {
			return 0, unix.EFAULT // across mappings
		}
		if err := m.mayGrowLocked(o.Limits, v, newSize-oldSize); err != nil {
			return 0, err
		}
		if old+oldSize == v.end && old+newSize <= m.maxAddr && old+newSize > old &&
			!m.overlaps(old+oldSize, old+newSize) {
			nv := *v
			nv.start, nv.end = v.end, old+newSize
			nv.off = v.off + int64(v.end-v.start)
			m.insert(&nv)
			m.merge()
			if nv.locked && !nv.onFault {
				m.populateLocked(nv.start, nv.end)
			}
			return old, nil
		}
		if !o.MayMove {
			return 0, unix.ENOMEM
		}
		return m.placeLocked(v, old, oldSize, newSize, o, true)
	}
	// MREMAP_FIXED or MREMAP_DONTUNMAP.
	if min(oldSize, newSize) > v.end-old {
		return 0, unix.EFAULT
	}
	if newSize > oldSize {
		if err := m.mayGrowLocked(o.Limits, v, newSize-oldSize); err != nil {
			return 0, err
		}
	}
	if o.DontUnmap {
		// The old range stays mapped: the address space grows.
		if err := m.mayGrowLocked(o.Limits, v, oldSize); err != nil {
			return 0, err
		}
	}
	if o.Fixed {
		m.unmapLocked(newAddr, newSize)
	}
	if oldSize > newSize {
		m.unmapLocked(old+newSize, oldSize-newSize)
		oldSize = newSize
	}
	// Unmapping may have split the vma: look it up again.
	return m.placeLocked(m.find(old), old, oldSize, newSize, o, true)
}

// placeLocked maps a copy of v's [old, old+oldSize) (extended to newSize)
// at o.NewAddr if it is MREMAP_FIXED, else where there is room (the hint
// first), and, if move, moves the private pages there and unmaps the old
// range (except with MREMAP_DONTUNMAP, where it stays, without its pages).
func (m *MemoryManager) placeLocked(v *vma, old, oldSize, newSize uintptr, o MremapOpts, move bool) (uintptr, error) {
	newAddr := o.NewAddr
	if !o.Fixed {
		if newAddr == 0 || newAddr+newSize > m.maxAddr || newAddr+newSize < newAddr ||
			m.overlaps(newAddr, newAddr+newSize) {
			var ok bool
			if newAddr, ok = m.findFree(newSize); !ok {
				return 0, unix.ENOMEM
			}
		}
	}
	nv := *v
	nv.start, nv.end = newAddr, newAddr+newSize
	nv.off = v.off + int64(old-v.start)
	if move {
		moved := min(oldSize, newSize)
		// Nothing may reach the pages at the old place any more.
		m.as.Unmap(old, oldSize)
		for a := old; a < old+moved; a += pageSize {
			if p, ok := m.ptes[a]; ok {
				delete(m.ptes, a)
				p.mappedW = false
				m.ptes[newAddr+(a-old)] = p
			}
		}
		if o.DontUnmap {
			// Linux clears VM_LOCKED on the old range.
			m.split(old)
			m.split(old + oldSize)
			for _, w := range m.vmas {
				if w.start >= old && w.end <= old+oldSize {
					w.locked, w.onFault = false, false
				}
			}
		} else {
			m.unmapLocked(old, oldSize) // the moved pages are no longer in range
		}
	}
	m.insert(&nv)
	m.merge()
	if nv.locked && !nv.onFault {
		m.populateLocked(nv.start, nv.end)
	}
	return newAddr, nil
}
