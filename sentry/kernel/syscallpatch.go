package kernel

import (
	"github.com/veil-sandbox/veil/platform"
	"golang.org/x/sys/unix"
)

// System call site patching: on a platform that can run the system calls
// of a rewritten site without a trap (platform.SyscallPatcher: systrap),
// the Sentry rewrites the sites the platform reports as hot. No other
// thread may be decoding a site while it changes: when the task is not
// alone in its address space (threads, a vfork child), the platform keeps
// the others out of application code meanwhile.

// maybePatchSite patches the site of the system call t just trapped at,
// if its platform reported it hot. It runs before the call is handled, so
// that the address space is the one the site belongs to (execve replaces
// it); the call itself is handled as usual either way.
func (t *Task) maybePatchSite() {
	h, ok := t.ctx.(platform.HotSyscallSites)
	if !ok {
		return
	}
	site, ok := h.HotSyscallSite()
	if !ok {
		return
	}
	p, ok := t.k.Platform.(platform.SyscallPatcher)
	if !ok {
		return
	}
	var code [7]byte
	if _, err := t.mm.CopyIn(site, code[:]); err != nil {
		return
	}
	if t.mm.Users() == 1 {
		t.mm.PatchSyscallSite(site, code[:], p)
		return
	}
	p.Stopped(t.mm.AddressSpace(), func() { t.mm.PatchSyscallSite(site, code[:], p) })
}

// patchedSyscall says whether a SIGILL trap is a jump to where the syscall
// instruction of a patched site was; then t's registers are made those of
// that system call's trap (rip after the instruction, as a syscall
// instruction leaves it).
func (t *Task) patchedSyscall(trap platform.Trap) bool {
	if trap.Signo != int(unix.SIGILL) || !t.mm.PatchedSyscall(uintptr(t.regs.Rip)) {
		return false
	}
	t.regs.Orig_rax = t.regs.Rax
	t.regs.Rip += 2
	return true
}

// unpatchForStep undoes the patches of t's address space, and stops any
// more, before t is single-stepped: a stepped patched site would run the
// trampoline and the platform's code one instruction at a time, in
// front of the tracer. The original instructions run instead, each its
// own step, as on Linux.
func (t *Task) unpatchForStep() {
	if !t.mm.SyscallPatching() {
		return
	}
	p, ok := t.k.Platform.(platform.SyscallPatcher)
	if !ok || t.mm.Users() == 1 || !t.mm.SyscallSitesPatched() {
		t.mm.UnpatchSyscallSites()
		return
	}
	p.Stopped(t.mm.AddressSpace(), t.mm.UnpatchSyscallSites)
}
