package mm

import "golang.org/x/sys/unix"

// A debugger's access to application memory (ptrace(2) PTRACE_PEEK* and
// PTRACE_POKE*, Linux's FOLL_FORCE): it may read mappings the
// application cannot read, as long as they could be made readable
// (VM_MAYREAD), and write private mappings the application cannot write,
// through a private copy of the page (so a breakpoint in a program's text
// never reaches the file or another process). Shared mappings without
// write permission stay unwritable, as since Linux 4.x.

// CopyInForce is CopyIn with a debugger's rights.
func (m *MemoryManager) CopyInForce(addr uintptr, dst []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ioAccess(addr, len(dst), false, true, func(mem []byte, done int) { copy(dst[done:], mem) })
}

// CopyOutForce is CopyOut with a debugger's rights.
func (m *MemoryManager) CopyOutForce(addr uintptr, src []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ioAccess(addr, len(src), true, true, func(mem []byte, done int) { copy(mem, src[done:]) })
}

// forceAllowed reports whether a forced access may reach v.
func forceAllowed(v *vma, write bool) bool {
	maxProt := v.maxProt
	if maxProt == 0 {
		maxProt = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
	}
	if write {
		return !v.shared
	}
	return maxProt&unix.PROT_READ != 0
}
