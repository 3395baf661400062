package mm

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// MapsText renders the address space as /proc/<pid>/maps does.
func (m *MemoryManager) MapsText() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, v := range m.vmas {
		perm := []byte("---p")
		if v.prot&unix.PROT_READ != 0 {
			perm[0] = 'r'
		}
		if v.prot&unix.PROT_WRITE != 0 {
			perm[1] = 'w'
		}
		if v.prot&unix.PROT_EXEC != 0 {
			perm[2] = 'x'
		}
		if v.shared {
			perm[3] = 's'
		}
		off := int64(0)
		if v.mappable != nil {
			off = v.off
		}
		line := fmt.Sprintf("%08x-%08x %s %08x 00:00 0", v.start, v.end, perm, off)
		if v.name != "" {
			line = fmt.Sprintf("%-72s %s", line, v.name)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// ResidentBytes approximates the resident set: private pages plus mapped
// file pages are not counted separately.
func (m *MemoryManager) ResidentBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.ptes)) * pageSize
}

// MaxResidentBytes is the peak of ResidentBytes (getrusage's ru_maxrss,
// VmHWM).
func (m *MemoryManager) MaxResidentBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noteRSSLocked()
	return int64(m.hiwater) * pageSize
}

// noteRSSLocked records the resident set in the high-water mark. Pages
// only go away in a few places, which call it first (like Linux's
// update_hiwater_rss), so the mark is exact without a check per fault.
func (m *MemoryManager) noteRSSLocked() {
	m.hiwater = max(m.hiwater, len(m.ptes))
}

// VirtualBytes is the total size of all mappings.
func (m *MemoryManager) VirtualBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, v := range m.vmas {
		n += int64(v.end - v.start)
	}
	return n
}
