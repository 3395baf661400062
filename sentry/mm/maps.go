package mm

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Mapping describes one VMA as /proc/PID/maps and smaps show it, with
// what the Sentry knows of its resident pages.
type Mapping struct {
	Start, End uintptr
	// Prot is the current protection, MaxProt what mprotect may grant
	// (smaps's mr/mw/me flags).
	Prot, MaxProt int
	Shared        bool
	// Offset is the file offset of Start (0 for anonymous memory).
	Offset int64
	// Dev and Ino identify the mapped file (st_dev and st_ino), zero for
	// anonymous memory.
	Dev, Ino uint64
	// Name is the path of the mapped file, or [heap], [stack], [vdso],
	// [vvar], [anon:NAME], "/dev/zero (deleted)"; empty for unnamed
	// anonymous memory.
	Name string
	// Stack is the main thread's stack or a MAP_GROWSDOWN mapping.
	Stack bool
	// File says the mapping shows a file's pages (Linux's vm_file):
	// MAP_SHARED anonymous memory counts, as it is a shmem file.
	File bool

	Usage
}

// Usage is how much of a range of memory is resident, in bytes, split as
// smaps splits it. A page is shared when more than one address space
// maps it (after fork, or a file's page cache); Pss divides each page by
// the number of its users. Anonymous pages (private memory, and copies
// made by writes to private file mappings) are dirty, as are pages of
// in-memory files (tmpfs, shared anonymous memory); other file pages are
// clean (the Sentry does not track writes to them).
type Usage struct {
	Rss                        uint64
	Pss, PssDirty              uint64
	PssAnon, PssFile           uint64
	PssShmem                   uint64
	SharedClean, SharedDirty   uint64
	PrivateClean, PrivateDirty uint64
	Anonymous                  uint64
	// Shmem is the resident pages of in-memory files (RssShmem).
	Shmem uint64
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.Rss += o.Rss
	u.Pss += o.Pss
	u.PssDirty += o.PssDirty
	u.PssAnon += o.PssAnon
	u.PssFile += o.PssFile
	u.PssShmem += o.PssShmem
	u.SharedClean += o.SharedClean
	u.SharedDirty += o.SharedDirty
	u.PrivateClean += o.PrivateClean
	u.PrivateDirty += o.PrivateDirty
	u.Anonymous += o.Anonymous
	u.Shmem += o.Shmem
}

// page counts one resident page used by users address spaces.
func (u *Usage) page(users int, dirty, anon, shmem bool) {
	users = max(users, 1)
	pss := uint64(pageSize / users)
	u.Rss += pageSize
	u.Pss += pss
	switch {
	case anon:
		u.Anonymous += pageSize
		u.PssAnon += pss
	case shmem:
		u.Shmem += pageSize
		u.PssShmem += pss
	default:
		u.PssFile += pss
	}
	if dirty {
		u.PssDirty += pss
	}
	switch {
	case users > 1 && dirty:
		u.SharedDirty += pageSize
	case users > 1:
		u.SharedClean += pageSize
	case dirty:
		u.PrivateDirty += pageSize
	default:
		u.PrivateClean += pageSize
	}
}

// MapsLine renders the mapping as a line of /proc/PID/maps (without the
// newline): the name starts at column 74, and an unnamed mapping's line
// ends with a space, as Linux prints them.
func (mp *Mapping) MapsLine() string {
	perm := []byte("---p")
	if mp.Prot&unix.PROT_READ != 0 {
		perm[0] = 'r'
	}
	if mp.Prot&unix.PROT_WRITE != 0 {
		perm[1] = 'w'
	}
	if mp.Prot&unix.PROT_EXEC != 0 {
		perm[2] = 'x'
	}
	if mp.Shared {
		perm[3] = 's'
	}
	line := fmt.Sprintf("%08x-%08x %s %08x %02x:%02x %d ", mp.Start, mp.End, perm, mp.Offset,
		unix.Major(mp.Dev), unix.Minor(mp.Dev), mp.Ino)
	if mp.Name != "" {
		line = fmt.Sprintf("%-73s%s", line, mp.Name)
	}
	return line
}

// Mappings returns the address space's VMAs in address order, with the
// residency of each.
func (m *MemoryManager) Mappings() []Mapping {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Mapping, 0, len(m.vmas))
	for _, v := range m.vmas {
		mp := Mapping{
			Start: v.start, End: v.end, Prot: v.prot, MaxProt: v.maxProt, Shared: v.shared,
			Dev: v.dev, Ino: v.ino, Name: v.name, Stack: v.name == "[stack]", File: v.mappable != nil,
		}
		if v.mappable != nil {
			mp.Offset = v.off
			m.mappedUsageLocked(v, &mp.Usage)
		}
		out = append(out, mp)
	}
	// Private pages (anonymous memory, written pages of private file
	// mappings), shared with forked address spaces until written: one
	// pass over them, each found in its vma, rather than a pass per vma.
	for a, p := range m.ptes {
		i := sort.Search(len(m.vmas), func(i int) bool { return m.vmas[i].end > a })
		if i < len(m.vmas) && m.vmas[i].start <= a && !m.vmas[i].shared {
			out[i].Usage.page(int(m.mf.RefCount(p.off)), true, true, false)
		}
	}
	return out
}

// mappedUsageLocked counts the resident pages of v's Mappable that v
// shows (those a private mapping has not replaced by its own copy).
func (m *MemoryManager) mappedUsageLocked(v *vma, u *Usage) {
	c := cacheOf(v.mappable)
	if c == nil {
		// Memory the Sentry provides (the vDSO): always there.
		for a := v.start; a < v.end; a += pageSize {
			u.page(2, false, false, false)
		}
		return
	}
	inMemory := c.Fill == nil
	users := c.mapperCount()
	c.forCachedPages(v.off, v.off+int64(v.end-v.start), func(off int64) {
		a := v.start + uintptr(off-v.off)
		if !v.shared {
			if _, ok := m.ptes[a]; ok {
				return
			}
		}
		u.page(users, inMemory, false, inMemory)
	})
}

// MapsText renders the address space as /proc/PID/maps does.
func (m *MemoryManager) MapsText() string {
	var b strings.Builder
	for _, mp := range m.Mappings() {
		b.WriteString(mp.MapsLine())
		b.WriteByte('\n')
	}
	return b.String()
}

// ResidentBytes is the resident set: the pages of every mapping the
// Sentry knows to be in memory (see Usage).
func (m *MemoryManager) ResidentBytes() int64 {
	var u Usage
	for _, mp := range m.Mappings() {
		u.Add(mp.Usage)
	}
	return int64(u.Rss)
}

// MaxResidentBytes is the peak of ResidentBytes (getrusage's ru_maxrss,
// VmHWM).
func (m *MemoryManager) MaxResidentBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noteHWMLocked()
	return int64(m.peakResident)
}

// VirtualBytes is the total size of all mappings.
func (m *MemoryManager) VirtualBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(m.virtualLocked())
}

func (m *MemoryManager) virtualLocked() uintptr {
	var n uintptr
	for _, v := range m.vmas {
		n += v.end - v.start
	}
	return n
}

// notePeakLocked records the size of the address space for VmPeak.
func (m *MemoryManager) notePeakLocked() {
	m.peakVirtual = max(m.peakVirtual, m.virtualLocked())
}

// noteHWMLocked records the private resident set in the high-water mark
// (VmHWM, ru_maxrss). Pages only go away in a few places, which call it
// first (like Linux's update_hiwater_rss), so the mark is exact without a
// check per fault.
func (m *MemoryManager) noteHWMLocked() {
	m.peakResident = max(m.peakResident, uint64(len(m.ptes))*pageSize)
}

// Peaks returns the largest the address space (VmPeak) and its resident
// set (VmHWM) have been, in bytes, given the resident set now (the sum of
// Mappings' Rss). The resident peak is observed when pages are unmapped
// and when Peaks is called, so it can miss a peak of file pages that
// were dropped in between.
func (m *MemoryManager) Peaks(rss uint64) (virtual, resident uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notePeakLocked()
	m.peakResident = max(m.peakResident, rss)
	return uint64(m.peakVirtual), m.peakResident
}

// SetAnonName names the anonymous mappings in [addr, addr+length), as
// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) does: /proc/PID/maps shows them
// as [anon:name], or unnamed again when name is "". The whole range must
// be mapped (ENOMEM) and anonymous (EBADF, Linux's answer for file
// mappings).
func (m *MemoryManager) SetAnonName(addr, length uintptr, name string) error {
	if addr%pageSize != 0 {
		return unix.EINVAL
	}
	end := addr + pageRoundUp(length)
	if end < addr {
		return unix.EINVAL
	}
	if end == addr {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := addr; a < end; {
		v := m.find(a)
		if v == nil {
			return unix.ENOMEM
		}
		if v.mappable != nil && !isAnonShared(v) {
			return unix.EBADF
		}
		a = v.end
	}
	label := ""
	if name != "" {
		label = "[anon:" + name + "]"
	}
	m.split(addr)
	m.split(end)
	for _, v := range m.vmas {
		if v.start >= addr && v.end <= end {
			if v.name == "[heap]" || v.name == "[stack]" {
				continue // as in Linux, these names win over a label
			}
			if isAnonShared(v) {
				// Linux names shared anonymous memory [anon_shmem:NAME].
				v.name = "/dev/zero (deleted)"
				if name != "" {
					v.name = "[anon_shmem:" + name + "]"
				}
				continue
			}
			v.name = label
		}
	}
	m.merge()
	return nil
}

// isAnonShared reports whether v is MAP_SHARED|MAP_ANONYMOUS memory.
func isAnonShared(v *vma) bool {
	_, ok := v.mappable.(*anonMappable)
	return ok
}
