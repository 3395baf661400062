package systrap

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// The fast path: system calls without a trap.
//
// A system call trapped by seccomp costs a kernel entry, a signal frame
// with the whole xsave area, a return into the handler and rt_sigreturn:
// about 4-5 µs here, most of the round trip. For the hottest call sites the
// Sentry rewrites the instructions instead (sentry/kernel/syscallpatch.go),
// when they are one of the patterns a trampoline can run exactly:
//
//	b8 imm32        mov eax, imm32        (glibc's wrappers)
//	4c 8b 4c 24 08  mov r9, [rsp+8]       (glibc's syscall())
//	0f 05           syscall
//
// These 7 bytes become `jmp qword [cell]` (ff 24 25 + the cell's address),
// an indirect jump through the first quadword of the site's cell in the
// patch table, a 64 KiB region of the application's address space at
// patchTableAddr that the Sentry maps for the purpose. Only the two
// instruction boundaries of the site matter: its start (the jump, which
// does what the pair did) and the syscall instruction, which a jump from
// elsewhere could reach. The table lives at 0x06xxxx so that the patch's
// sixth byte, at the old syscall instruction, is 0x06, an invalid opcode
// in 64-bit mode: such a jump raises SIGILL there, which the Sentry turns
// back into the system call. The Sentry only patches while no other thread
// shares the address space, so nothing ever runs a half-written site.
//
// A cell (cellSize bytes) runs the site's first instruction, saves the
// arithmetic flags (lahf; seto) into the top of r11 beside the system call
// number, loads rcx with the address of its data and jumps to the stub's
// fast entry. rcx and r11 are what a syscall instruction clobbers anyway;
// nothing touches the application's stack (whose red zone may be live).
//
// The fast entry finds its slot through GS base: every application thread
// whose application GS base is 0 (all of them, in practice: 64-bit Linux
// programs use FS) has GS base = its slot, and reads of GS base through
// the Sentry say 0 (see readFrame/writeFrame). It checks that GS base
// really is this thread's slot (aligned, in the slot region, the slot's
// self pointer); if not (the application loaded GS itself) it goes back to
// the cell's fallback, which restores everything and makes a real syscall,
// trapped as usual. Otherwise it saves the registers in the slot, on the
// slot's private stack pushes rflags for the non-arithmetic flags, and
// publishes stateFastTrapped like the handler publishes a frame. To resume,
// it restores everything from the slot and jumps through gs:[ctxFastRIP].
//
// The FP state is not saved: it stays in the thread's registers. When the
// Sentry needs it (signal delivery, clone, exec), or must change what a
// fast resume cannot (GS base, segments), it asks the waiting thread to
// convert (stateConvert): the thread executes an int3, the handler gives
// the usual signal frame (with the live FP state), and the Sentry resumes
// that frame with the registers it saved from the fast trap.
//
// An interrupt signal that lands in a cell or in stub code is dropped by
// the handler, whose frame would hold the fast path's registers rather
// than the application's. Before the fast path reports a trap that is
// harmless: Switch sees the interrupt flag at its next call. After (the
// Sentry sent it while the thread waited, or while it was being resumed),
// the handler notes the drop, and the resume reports
// stateFastInterrupted instead of resuming. The last few instructions of
// the resume cannot: an interrupt lost there is sent again by the Sentry
// when its wait times out (waitTimeout).

const (
	// patchTableAddr is where the patch table lives in every address
	// space: below 16 MiB, with 0x06 as its third byte (see above).
	patchTableAddr = 0x60000
	patchTableSize = 0x10000
	// cellSize is the size of a trampoline.
	cellSize = 128
)

// Offsets in a cell.
const (
	cellRet      = 64 // the site's return address (site+7): rcx points here
	cellFallback = 72 // the fallback's address: [rcx+8]
	cellEntry    = 80 // the stub's fast entry: the cell jumps through it
	cellFallCode = 96
)

// buildFastPath generates the stub's fast entry (rcx = cell data, r11 =
// packed number and flags, flags clobbered), its resume, and the
// conversion trap.
func (s *stub) buildFastPath(a *asm) {
	st := &s.stubSites
	st.fastEntry = a.pc()
	a.rdgsbase(rax)
	a.test32(rax, slotSize-1)
	a.jcc(condNE, "fastBad")
	a.cmpRipRel(rax, "slotBaseAddr")
	a.jcc(condB, "fastBad")
	a.cmpRipRel(rax, "slotEndAddr")
	a.jcc(condAE, "fastBad")
	a.cmpMemR64(rax, ctxSelf, rax)
	a.jcc(condNE, "fastBad")

	fast := func(r reg) int32 { return ctxFastRegs + 8*int32(r) }
	a.store64(rax, fast(rsp), rsp)
	a.lea(rsp, rax, ctxFastStack)
	a.pushfq()
	a.popMem(rax, ctxFastRFLAGS)
	a.store64(rax, ctxFastPacked, r11)
	a.load64(r11, rcx, 0)
	a.store64(rax, ctxFastRIP, r11)
	for _, r := range []reg{rbx, rdx, rsi, rdi, rbp, r8, r9, r10, r12, r13, r14, r15} {
		a.store64(rax, fast(r), r)
	}
	a.rdfsbase(r11)
	a.store64(rax, ctxFastFS, r11)
	a.movRR(rbx, rax)
	a.storeImm32(rbx, ctxDropped, 0)
	a.movImm32(rax, stateFastTrapped)
	a.label("fastPublish")
	a.call("publishWait")
	a.cmp32(rax, stateConvert)
	a.jcc(condE, "convert")
	// An interrupt dropped since the trap was published: report it
	// rather than resume (the Sentry sent it after it last looked).
	a.load32(rax, rbx, ctxDropped)
	a.test32(rax, ^uint32(0))
	a.jcc(condE, "fastResume")
	a.storeImm32(rbx, ctxDropped, 0)
	a.movImm32(rax, stateFastInterrupted)
	a.jmp("fastPublish")
	a.label("fastResume")

	// Resume. A new FS base is loaded here; the Sentry converts for
	// anything else a fast resume cannot do.
	a.load32(rax, rbx, ctxSetBase)
	a.test32(rax, 1)
	a.jcc(condE, "fastFS")
	a.load64(rcx, rbx, ctxNewFS)
	a.wrfsbase(rcx)
	a.label("fastFS")
	a.storeImm32(rbx, ctxSetBase, 0)
	for _, r := range []reg{rax, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15} {
		a.load64(r, rbx, fast(r))
	}
	a.pushMem(rbx, ctxFastRFLAGS)
	a.popfq()
	a.load64(rsp, rbx, fast(rsp))
	a.load64(rbx, rbx, fast(rbx))
	a.jmpGS(ctxFastRIP)

	a.label("fastBad")
	a.jmpMem(rcx, cellFallback-cellRet)

	a.label("convert")
	a.int3() // into the handler, with the live FP state in the frame
	st.convertTrap = a.pc()
	a.jmp("exit")
}

// siteInsn reports whether code (the 7 bytes of a site) is a pattern the
// fast path can run: a relocatable 5-byte instruction, then syscall.
func siteInsn(code []byte) bool {
	if len(code) != 7 || code[5] != 0x0f || code[6] != 0x05 {
		return false
	}
	switch {
	case code[0] == 0xb8: // mov eax, imm32
		return true
	case string(code[:5]) == "\x4c\x8b\x4c\x24\x08": // mov r9, [rsp+8]
		return true
	}
	return false
}

// PatchTable implements platform.SyscallPatcher.
func (p *Platform) PatchTable() (addr, size, cell uintptr) {
	if !p.stub.fsgsbase || p.noPatch {
		return 0, 0, 0
	}
	return patchTableAddr, patchTableSize, cellSize
}

// PatchSite implements platform.SyscallPatcher: the cell for the site at
// addr holding code, to be written at cellAddr, and the bytes that
// replace the site.
func (p *Platform) PatchSite(addr uintptr, code []byte, cellAddr uintptr) (cell, patch []byte, ok bool) {
	if !p.stub.fsgsbase || p.noPatch || !siteInsn(code) ||
		cellAddr < patchTableAddr || cellAddr+cellSize > patchTableAddr+patchTableSize || cellAddr%cellSize != 0 {
		return nil, nil, false
	}
	le := binary.LittleEndian
	c := make([]byte, cellSize)
	for i := range c {
		c[i] = 0xcc
	}
	le.PutUint64(c[0:], uint64(cellAddr+8))
	b := c[8:8]
	b = append(b, code[:5]...)                  // the site's first instruction
	b = append(b, 0x49, 0x89, 0xc3)             // mov r11, rax
	b = append(b, 0x9f)                         // lahf
	b = append(b, 0x0f, 0x90, 0xc0)             // seto al
	b = append(b, 0x48, 0xc1, 0xe0, 0x30)       // shl rax, 48
	b = append(b, 0x49, 0xc1, 0xe3, 0x10)       // shl r11, 16
	b = append(b, 0x49, 0xc1, 0xeb, 0x10)       // shr r11, 16
	b = append(b, 0x49, 0x09, 0xc3)             // or r11, rax
	b = append(b, 0x48, 0x8d, 0x0d, 0, 0, 0, 0) // lea rcx, [rip+cellRet]
	le.PutUint32(b[len(b)-4:], uint32(cellRet-(8+len(b))))
	b = append(b, 0xff, 0x25, 0, 0, 0, 0) // jmp [rip+cellEntry]
	le.PutUint32(b[len(b)-4:], uint32(cellEntry-(8+len(b))))
	if 8+len(b) > cellRet {
		panic("systrap: cell code overflow")
	}
	le.PutUint64(c[cellRet:], uint64(addr+7))
	le.PutUint64(c[cellFallback:], uint64(cellAddr+cellFallCode))
	le.PutUint64(c[cellEntry:], uint64(p.stub.fastEntry))
	// The fallback: undo the packing and make a real (trapped) syscall
	// here, then go back to the site.
	f := c[cellFallCode:cellFallCode]
	f = append(f, 0x4c, 0x89, 0xd9)       // mov rcx, r11
	f = append(f, 0x48, 0xc1, 0xe1, 0x10) // shl rcx, 16
	f = append(f, 0x48, 0xc1, 0xf9, 0x10) // sar rcx, 16
	f = append(f, 0x4c, 0x89, 0xd8)       // mov rax, r11
	f = append(f, 0x48, 0xc1, 0xe8, 0x30) // shr rax, 48
	f = append(f, 0x04, 0x7f)             // add al, 0x7f (OF from seto)
	f = append(f, 0x9e)                   // sahf
	f = append(f, 0x48, 0x89, 0xc8)       // mov rax, rcx
	f = append(f, 0x0f, 0x05)             // syscall
	f = append(f, 0xff, 0x25, 0, 0, 0, 0) // jmp [rip+cellRet]
	le.PutUint32(f[len(f)-4:], uint32(int32(cellRet-(cellFallCode+len(f)))))
	if cellFallCode+len(f) > cellSize {
		panic("systrap: cell fallback overflow")
	}
	patch = []byte{0xff, 0x24, 0x25, 0, 0, 0, 0} // jmp qword [cellAddr]
	le.PutUint32(patch[3:], uint32(cellAddr))
	return c, patch, true
}

// The arithmetic flags lahf/sahf and seto carry (SF ZF AF PF CF, and OF).
const (
	lahfFlags = 0xd5
	flagOF    = 0x800
)

// readFast reads a fast trap's registers from the slot into regs. The
// slot is the application's to write: everything read is untrusted, as
// registers always are.
func (c *context) readFast(regs *arch.Registers) {
	f := c.p.slots
	s := c.pr.slot
	var b [ctxFastPacked + 8 - ctxFastRegs]byte
	copy(b[:], f.bytes(s)[ctxFastRegs:ctxFastPacked+8])
	r := func(x reg) uint64 { return le.Uint64(b[8*int(x):]) }
	packed := le.Uint64(b[ctxFastPacked-ctxFastRegs:])
	img := packed >> 48 // ah:al = lahf flags : OF
	nr := uint64(int64(packed<<16) >> 16)
	eflags := le.Uint64(b[ctxFastRFLAGS-ctxFastRegs:])&^(lahfFlags|flagOF) | (img>>8)&lahfFlags
	if img&0xff != 0 {
		eflags |= flagOF
	}
	rip := le.Uint64(b[ctxFastRIP-ctxFastRegs:])
	*regs = arch.Registers{
		R15: r(r15), R14: r(r14), R13: r(r13), R12: r(r12),
		Rbp: r(rbp), Rbx: r(rbx), R11: eflags, R10: r(r10), R9: r(r9), R8: r(r8),
		Rax: nr, Rcx: rip, Rdx: r(rdx), Rsi: r(rsi), Rdi: r(rdi),
		Orig_rax: nr, Rip: rip, Cs: arch.UserCS, Eflags: eflags, Rsp: r(rsp), Ss: arch.UserSS,
		Fs_base: le.Uint64(b[ctxFastFS-ctxFastRegs:]),
	}
	c.trapFS = regs.Fs_base
	c.fastRegs = *regs
}

// fastResumable says whether regs can be resumed by the fast path: the
// same segments and GS base, nothing pending for the FP state.
func (c *context) fastResumable(regs *arch.Registers) bool {
	return regs.Cs == arch.UserCS && regs.Ss == arch.UserSS && regs.Gs_base == 0 && c.fpPending == nil
}

// writeFast makes the fast path resume with regs.
func (c *context) writeFast(regs *arch.Registers) {
	f := c.p.slots
	s := c.pr.slot
	var b [ctxFastFS - ctxFastRegs]byte
	w := func(x reg, v uint64) { le.PutUint64(b[8*int(x):], v) }
	w(rax, regs.Rax)
	w(rcx, regs.Rcx)
	w(rdx, regs.Rdx)
	w(rbx, regs.Rbx)
	w(rsp, regs.Rsp)
	w(rbp, regs.Rbp)
	w(rsi, regs.Rsi)
	w(rdi, regs.Rdi)
	w(r8, regs.R8)
	w(r9, regs.R9)
	w(r10, regs.R10)
	w(r11, regs.R11)
	w(r12, regs.R12)
	w(r13, regs.R13)
	w(r14, regs.R14)
	w(r15, regs.R15)
	le.PutUint64(b[ctxFastRIP-ctxFastRegs:], regs.Rip)
	// popfq in user mode only takes the bits user code may change.
	le.PutUint64(b[ctxFastRFLAGS-ctxFastRegs:], regs.Eflags)
	copy(f.bytes(s)[ctxFastRegs:ctxFastFS], b[:])
	var set uint32
	if regs.Fs_base != c.trapFS {
		f.setWord(s, ctxNewFS, regs.Fs_base)
		set = 1
	}
	f.setWord32(s, ctxSetBase, set)
}

// toFrame makes a thread waiting in the fast path trap into the handler,
// so that its state is a signal frame again; c.fastRegs stays the
// application's registers (the frame has the fast path's).
func (c *context) toFrame() error {
	f := c.p.slots
	st := f.state(c.pr.slot)
	f.setWord32(c.pr.slot, ctxSpin, 0)
	old := atomic.SwapUint32(st, stateConvert)
	if old&flagStubSleeps != 0 {
		futexWake(st)
	}
	c.fast = false
	if err := c.waitTrap(); err != nil {
		return err
	}
	var junk arch.Registers
	t, err := c.readFrame(&junk)
	if err != nil {
		return err
	}
	if t.signo != int32(unix.SIGTRAP) || junk.Rip != uint64(c.p.stub.convertTrap) {
		return fmt.Errorf("%w: conversion ended at %#x with signal %d", errBadFrame, junk.Rip, t.signo)
	}
	c.p.conversions.Add(1)
	return nil
}

var _ platform.SyscallPatcher = (*Platform)(nil)
