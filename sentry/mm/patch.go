package mm

import (
	"bytes"

	"github.com/veil-sandbox/veil/platform"
	"golang.org/x/sys/unix"
)

// System call site patching, for platforms that run a rewritten site's
// system calls without a trap (platform.SyscallPatcher).
//
// The platform's trampolines live in a table it places at a fixed address;
// the first patch of an address space maps it there as a private
// read+execute mapping (it shows in /proc/PID/maps as
// "[syscall-trampolines]"), if nothing else is there. Sites are rewritten
// like a debugger writes code: through copy-on-write of a private
// mapping, never into a shared one (that would change the file), and
// whatever the mapping's protection. The address space records each
// patch: it is forked with it, and if the application unmaps, moves or
// reprotects the table, every patch still in place is undone first, so
// that no rewritten site jumps into something else.

// sitePatch is one rewritten site.
type sitePatch struct {
	addr     uintptr
	old, new []byte
}

// patchTable is an address space's trampoline table.
type patchTable struct {
	start, end uintptr
	cell, next uintptr // trampoline size, next free one
	patches    []sitePatch
}

const patchTableName = "[syscall-trampolines]"

// PatchSyscallSite rewrites the system call site at addr, whose current
// bytes are code, into a jump to a trampoline of p, and reports whether it
// did. It refuses when p does not run that pattern, when the table cannot
// be placed or is full, or when the site is not in a private mapping.
// The caller must make sure that no other thread runs in the address
// space (a thread decoding the site while it is written could run a mix
// of old and new bytes).
func (m *MemoryManager) PatchSyscallSite(addr uintptr, code []byte, p platform.SyscallPatcher) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.noPatch {
		return false
	}
	if v := m.find(addr); v == nil || v.shared || v.end < addr+uintptr(len(code)) {
		return false
	}
	for _, sp := range m.patchTab.patchesOrNil() {
		if addr < sp.addr+uintptr(len(sp.new)) && sp.addr < addr+uintptr(len(code)) {
			return false // overlaps a patched site
		}
	}
	// The bytes may have changed since the caller read them.
	cur := make([]byte, len(code))
	if _, err := m.ioForce(addr, cur, false); err != nil || !bytes.Equal(cur, code) {
		return false
	}
	t := m.patchTab
	if t == nil {
		start, size, cell := p.PatchTable()
		if size == 0 || cell == 0 || m.overlaps(start, start+size) || start+size > m.maxAddr {
			return false
		}
		m.insert(&vma{start: start, end: start + size, prot: unix.PROT_READ | unix.PROT_EXEC,
			maxProt: unix.PROT_READ | unix.PROT_EXEC, name: patchTableName})
		t = &patchTable{start: start, end: start + size, cell: cell, next: start}
		m.patchTab = t
	}
	if t.next+t.cell > t.end {
		return false
	}
	cell, patch, ok := p.PatchSite(addr, code, t.next)
	if !ok || len(patch) != len(code) || uintptr(len(cell)) > t.cell {
		return false
	}
	if _, err := m.ioForce(t.next, cell, true); err != nil {
		return false
	}
	if _, err := m.ioForce(addr, patch, true); err != nil {
		return false
	}
	t.next += t.cell
	t.patches = append(t.patches, sitePatch{addr: addr, old: cur, new: append([]byte(nil), patch...)})
	return true
}

func (t *patchTable) patchesOrNil() []sitePatch {
	if t == nil {
		return nil
	}
	return t.patches
}

// PatchedSyscall reports whether rip is where the syscall instruction of a
// patched site was (its sixth byte), with the patch still in place: a jump
// there raises SIGILL, and the Sentry runs the system call the original
// instruction made.
func (m *MemoryManager) PatchedSyscall(rip uintptr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sp := range m.patchTab.patchesOrNil() {
		if rip != sp.addr+5 {
			continue
		}
		cur := make([]byte, len(sp.new))
		_, err := m.ioForce(sp.addr, cur, false)
		return err == nil && bytes.Equal(cur, sp.new)
	}
	return false
}

// UnpatchSyscallSites undoes every patch still in place and refuses new
// ones from now on: for a task that a tracer single-steps, which must see
// the original instructions run one by one (a patched site would step into
// the trampoline and the platform's code). The table stays mapped, unused.
// As for patching, no other thread may be running in the address space.
func (m *MemoryManager) UnpatchSyscallSites() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noPatch = true
	t := m.patchTab
	if t == nil {
		return
	}
	for _, sp := range t.patches {
		cur := make([]byte, len(sp.new))
		if _, err := m.ioForce(sp.addr, cur, false); err == nil && bytes.Equal(cur, sp.new) {
			m.ioForce(sp.addr, sp.old, true)
		}
	}
	t.patches = nil
}

// SyscallPatching reports whether sites may still be patched here (not
// after UnpatchSyscallSites).
func (m *MemoryManager) SyscallPatching() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.noPatch
}

// SyscallSitesPatched reports whether any site is patched here.
func (m *MemoryManager) SyscallSitesPatched() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.patchTab != nil && len(m.patchTab.patches) > 0
}

// PatchedSites returns how many sites are patched (for tests).
func (m *MemoryManager) PatchedSites() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.patchTab.patchesOrNil())
}

// patchesAffected is called before [start, end) is unmapped or
// reprotected: if that touches the table, every patch still in place is
// undone and the table forgotten; patches inside the range go with it.
func (m *MemoryManager) patchesAffected(start, end uintptr) {
	t := m.patchTab
	if t == nil {
		return
	}
	if start < t.end && t.start < end {
		for _, sp := range t.patches {
			cur := make([]byte, len(sp.new))
			if _, err := m.ioForce(sp.addr, cur, false); err == nil && bytes.Equal(cur, sp.new) {
				m.ioForce(sp.addr, sp.old, true)
			}
		}
		m.patchTab = nil
		return
	}
	out := t.patches[:0]
	for _, sp := range t.patches {
		if sp.addr >= end || sp.addr+uintptr(len(sp.new)) <= start {
			out = append(out, sp)
		}
	}
	t.patches = out
}

// ioForce is io without the protection check, as ptrace's accesses to a
// tracee's memory: a write resolves copy-on-write. Writes to shared
// mappings are refused, since they would change what backs them.
func (m *MemoryManager) ioForce(addr uintptr, b []byte, write bool) (int, error) {
	for a := pageRoundDown(addr); a < addr+uintptr(len(b)); a += pageSize {
		v := m.find(a)
		if v == nil || (write && v.shared) {
			return 0, unix.EFAULT
		}
	}
	done := 0
	for done < len(b) {
		cur := addr + uintptr(done)
		v := m.find(cur)
		page := pageRoundDown(cur)
		po := int64(cur - page)
		chunk := min(int64(len(b)-done), pageSize-po)
		off, err := m.ioPage(v, page, write)
		if err != nil {
			return done, unix.EFAULT
		}
		switch {
		case off < 0: // an untouched anonymous page reads as zeros
			clear(b[done : done+int(chunk)])
		case write:
			copy(m.mf.Slice(off+po, chunk), b[done:])
		default:
			copy(b[done:], m.mf.Slice(off+po, chunk))
		}
		done += int(chunk)
	}
	return done, nil
}

// forkPatches copies the patch record for a child address space, which
// has the same pages.
func (t *patchTable) fork() *patchTable {
	if t == nil {
		return nil
	}
	c := *t
	c.patches = append([]sitePatch(nil), t.patches...)
	return &c
}
