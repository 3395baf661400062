package systrap

import (
	"encoding/binary"
	"fmt"
)

// A tiny x86-64 encoder for the stub code (stub.go). The stub is generated
// by Go code at start-up, as the ptrace platform's is, so the build needs
// no assembler; naming each instruction keeps the generated code readable
// where raw bytes would not be. Only the forms the stub uses are here,
// and every memory operand is [base + disp32], which sidesteps the
// special encodings of mod=00 (rbp/r13 mean rip-relative or disp-only).

// reg is a general-purpose register number as the ISA encodes it.
type reg uint8

const (
	rax reg = iota
	rcx
	rdx
	rbx
	rsp
	rbp
	rsi
	rdi
	r8
	r9
	r10
	r11
	r12
	r13
	r14
	r15
)

// cond is the low nibble of a Jcc opcode.
type cond uint8

const (
	condE  cond = 0x4 // equal / zero
	condNE cond = 0x5
	condA  cond = 0x7 // unsigned above
	condS  cond = 0x8 // sign
	condNS cond = 0x9
	condB  cond = 0x2 // unsigned below
	condAE cond = 0x3
)

// asm accumulates code at a fixed load address with forward and backward
// labels for rel32 jumps.
type asm struct {
	base   uintptr // address of code[0]
	code   []byte
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at    int // offset of the rel32 field
	label string
}

func newAsm(base uintptr) *asm { return &asm{base: base, labels: map[string]int{}} }

// pc is the address of the next instruction.
func (a *asm) pc() uintptr { return a.base + uintptr(len(a.code)) }

func (a *asm) emit(b ...byte) { a.code = append(a.code, b...) }

func (a *asm) imm32(v uint32) {
	a.code = binary.LittleEndian.AppendUint32(a.code, v)
}

func (a *asm) imm64(v uint64) {
	a.code = binary.LittleEndian.AppendUint64(a.code, v)
}

// label defines name at the current position.
func (a *asm) label(name string) {
	if _, dup := a.labels[name]; dup {
		panic("systrap asm: duplicate label " + name)
	}
	a.labels[name] = len(a.code)
}

// addr returns the address of a defined label.
func (a *asm) addr(name string) uintptr {
	off, ok := a.labels[name]
	if !ok {
		panic("systrap asm: undefined label " + name)
	}
	return a.base + uintptr(off)
}

// finish resolves jumps and returns the code.
func (a *asm) finish() []byte {
	for _, f := range a.fixups {
		to, ok := a.labels[f.label]
		if !ok {
			panic("systrap asm: undefined label " + f.label)
		}
		binary.LittleEndian.PutUint32(a.code[f.at:], uint32(int32(to-(f.at+4))))
	}
	a.fixups = nil
	return a.code
}

func (a *asm) rel32(label string) {
	a.fixups = append(a.fixups, fixup{len(a.code), label})
	a.imm32(0)
}

// rex emits a REX prefix if any of its bits are needed (or force, for
// byte registers; unused here).
func (a *asm) rex(w bool, r, b reg) {
	p := byte(0x40)
	if w {
		p |= 8
	}
	if r >= 8 {
		p |= 4
	}
	if b >= 8 {
		p |= 1
	}
	if p != 0x40 {
		a.emit(p)
	}
}

// modrmReg emits ModRM for a register-direct operand.
func (a *asm) modrmReg(r, rm reg) { a.emit(0xc0 | byte(r&7)<<3 | byte(rm&7)) }

// modrmMem emits ModRM (+SIB) + disp32 for [base+disp].
func (a *asm) modrmMem(r, base reg, disp int32) {
	a.emit(0x80 | byte(r&7)<<3 | byte(base&7))
	if base&7 == 4 { // rsp, r12: SIB with no index
		a.emit(0x24)
	}
	a.imm32(uint32(disp))
}

// movImm64 is mov r64, imm64.
func (a *asm) movImm64(r reg, v uint64) {
	a.rex(true, 0, r)
	a.emit(0xb8 + byte(r&7))
	a.imm64(v)
}

// movImm32 is mov r32, imm32 (zero-extended into r64).
func (a *asm) movImm32(r reg, v uint32) {
	a.rex(false, 0, r)
	a.emit(0xb8 + byte(r&7))
	a.imm32(v)
}

// movRR is mov dst, src (64-bit).
func (a *asm) movRR(dst, src reg) {
	a.rex(true, src, dst)
	a.emit(0x89)
	a.modrmReg(src, dst)
}

// load64 is mov dst, [base+disp].
func (a *asm) load64(dst, base reg, disp int32) {
	a.rex(true, dst, base)
	a.emit(0x8b)
	a.modrmMem(dst, base, disp)
}

// load32 is mov dst32, [base+disp].
func (a *asm) load32(dst, base reg, disp int32) {
	a.rex(false, dst, base)
	a.emit(0x8b)
	a.modrmMem(dst, base, disp)
}

// store64 is mov [base+disp], src.
func (a *asm) store64(base reg, disp int32, src reg) {
	a.rex(true, src, base)
	a.emit(0x89)
	a.modrmMem(src, base, disp)
}

// store32 is mov [base+disp], src32.
func (a *asm) store32(base reg, disp int32, src reg) {
	a.rex(false, src, base)
	a.emit(0x89)
	a.modrmMem(src, base, disp)
}

// storeImm32 is mov dword [base+disp], imm32.
func (a *asm) storeImm32(base reg, disp int32, v uint32) {
	a.rex(false, 0, base)
	a.emit(0xc7)
	a.modrmMem(0, base, disp)
	a.imm32(v)
}

// storeImm64 is mov qword [base+disp], imm32 (sign-extended).
func (a *asm) storeImm64(base reg, disp int32, v int32) {
	a.rex(true, 0, base)
	a.emit(0xc7)
	a.modrmMem(0, base, disp)
	a.imm32(uint32(v))
}

// lea is lea dst, [base+disp].
func (a *asm) lea(dst, base reg, disp int32) {
	a.rex(true, dst, base)
	a.emit(0x8d)
	a.modrmMem(dst, base, disp)
}

// xchg32 is xchg [base+disp], r32 (implicitly locked).
func (a *asm) xchg32(base reg, disp int32, r reg) {
	a.rex(false, r, base)
	a.emit(0x87)
	a.modrmMem(r, base, disp)
}

// cmpxchg32 is lock cmpxchg [base+disp], r32 (compares with eax).
func (a *asm) cmpxchg32(base reg, disp int32, r reg) {
	a.emit(0xf0)
	a.rex(false, r, base)
	a.emit(0x0f, 0xb1)
	a.modrmMem(r, base, disp)
}

// alu64Imm emits op r64, imm32 (sign-extended) for the /digit ALU group
// 0x81: 0 add, 1 or, 4 and, 5 sub, 7 cmp.
func (a *asm) alu64Imm(digit byte, r reg, v int32) {
	a.rex(true, 0, r)
	a.emit(0x81)
	a.modrmReg(reg(digit), r)
	a.imm32(uint32(v))
}

// alu32Imm is alu64Imm on the 32-bit register.
func (a *asm) alu32Imm(digit byte, r reg, v uint32) {
	a.rex(false, 0, r)
	a.emit(0x81)
	a.modrmReg(reg(digit), r)
	a.imm32(v)
}

func (a *asm) add64(r reg, v int32)  { a.alu64Imm(0, r, v) }
func (a *asm) and64(r reg, v int32)  { a.alu64Imm(4, r, v) }
func (a *asm) or32(r reg, v uint32)  { a.alu32Imm(1, r, v) }
func (a *asm) and32(r reg, v uint32) { a.alu32Imm(4, r, v) }
func (a *asm) cmp32(r reg, v uint32) { a.alu32Imm(7, r, v) }
func (a *asm) cmp64(r reg, v int32)  { a.alu64Imm(7, r, v) }

// cmpMem32 is cmp dword [base+disp], imm32.
func (a *asm) cmpMem32(base reg, disp int32, v uint32) {
	a.rex(false, 0, base)
	a.emit(0x81)
	a.modrmMem(7, base, disp)
	a.imm32(v)
}

// cmpRipRel is cmp r64, [rip+label] (label: 8 bytes of data).
func (a *asm) cmpRipRel(r reg, label string) {
	a.rex(true, r, 0)
	a.emit(0x3b, 0x05|byte(r&7)<<3)
	a.rel32(label)
}

// cmpMemR64 is cmp [base+disp], r64.
func (a *asm) cmpMemR64(base reg, disp int32, r reg) {
	a.rex(true, r, base)
	a.emit(0x39)
	a.modrmMem(r, base, disp)
}

// jmpMem is jmp qword [base+disp].
func (a *asm) jmpMem(base reg, disp int32) {
	a.rex(false, 0, base)
	a.emit(0xff)
	a.modrmMem(4, base, disp)
}

// jmpGS is jmp qword gs:[disp32] (absolute offset in the GS segment).
func (a *asm) jmpGS(disp int32) {
	a.emit(0x65, 0xff, 0x24, 0x25)
	a.imm32(uint32(disp))
}

// pushMem is push qword [base+disp]; popMem is pop qword [base+disp].
func (a *asm) pushMem(base reg, disp int32) {
	a.rex(false, 0, base)
	a.emit(0xff)
	a.modrmMem(6, base, disp)
}

func (a *asm) popMem(base reg, disp int32) {
	a.rex(false, 0, base)
	a.emit(0x8f)
	a.modrmMem(0, base, disp)
}

func (a *asm) pushfq() { a.emit(0x9c) }
func (a *asm) popfq()  { a.emit(0x9d) }

// call is a rel32 call of label; ret returns.
func (a *asm) call(label string) {
	a.emit(0xe8)
	a.rel32(label)
}

func (a *asm) ret() { a.emit(0xc3) }

// quad emits 8 bytes of data.
func (a *asm) quad(v uint64) { a.imm64(v) }

// align pads with int3 to a multiple of n.
func (a *asm) align(n int) {
	for len(a.code)%n != 0 {
		a.emit(0xcc)
	}
}

// test32 is test r32, imm32.
func (a *asm) test32(r reg, v uint32) {
	a.rex(false, 0, r)
	a.emit(0xf7)
	a.modrmReg(0, r)
	a.imm32(v)
}

// testRR is test r64, r64.
func (a *asm) testRR(x, y reg) {
	a.rex(true, y, x)
	a.emit(0x85)
	a.modrmReg(y, x)
}

// xor32 is xor r32, r32 (zeroes the whole register).
func (a *asm) xor32(r reg) {
	a.rex(false, r, r)
	a.emit(0x31)
	a.modrmReg(r, r)
}

// dec32 is dec r32.
func (a *asm) dec32(r reg) {
	a.rex(false, 0, r)
	a.emit(0xff)
	a.modrmReg(1, r)
}

// jcc is a conditional rel32 jump to label.
func (a *asm) jcc(c cond, label string) {
	a.emit(0x0f, 0x80|byte(c))
	a.rel32(label)
}

// jmp is an unconditional rel32 jump to label.
func (a *asm) jmp(label string) {
	a.emit(0xe9)
	a.rel32(label)
}

// rdbase / wrbase are rdfsbase, rdgsbase, wrfsbase, wrgsbase r64
// (digit 0, 1, 2, 3); they need CR4.FSGSBASE (HWCAP2_FSGSBASE).
func (a *asm) fsgsbase(digit byte, r reg) {
	a.emit(0xf3)
	a.rex(true, 0, r)
	a.emit(0x0f, 0xae)
	a.modrmReg(reg(digit), r)
}

func (a *asm) rdfsbase(r reg) { a.fsgsbase(0, r) }
func (a *asm) rdgsbase(r reg) { a.fsgsbase(1, r) }
func (a *asm) wrfsbase(r reg) { a.fsgsbase(2, r) }
func (a *asm) wrgsbase(r reg) { a.fsgsbase(3, r) }

func (a *asm) syscall() { a.emit(0x0f, 0x05) }
func (a *asm) int3()    { a.emit(0xcc) }
func (a *asm) pause()   { a.emit(0xf3, 0x90) }

// syscallAt emits a syscall instruction and returns the address after it,
// which is what seccomp reports as the instruction pointer.
func (a *asm) syscallAt() uintptr {
	a.syscall()
	return a.pc()
}

func (a *asm) String() string { return fmt.Sprintf("%d bytes at %#x", len(a.code), a.base) }
