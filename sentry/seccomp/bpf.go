// Package seccomp is the Sentry's seccomp(2) filter engine: classic BPF
// programs checked as Linux checks them (bpf_check_classic and
// seccomp_check_filter) and run on struct seccomp_data, and the order of
// precedence of their return values.
//
// The application's filters never reach the host kernel: the Sentry runs
// them itself on every system call the application makes, before the call
// is dispatched (see sentry/kernel's seccomp.go). This package knows no
// system call numbers; it only evaluates programs.
package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Instruction is struct sock_filter: one classic BPF instruction.
type Instruction struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// SizeofInstruction is sizeof(struct sock_filter).
const SizeofInstruction = 8

// MaxInstructions is BPF_MAXINSNS, the longest program seccomp accepts.
const MaxInstructions = unix.BPF_MAXINSNS

// DecodeProgram decodes len(b)/8 instructions in their memory layout
// (code u16, jt u8, jf u8, k u32, little endian).
func DecodeProgram(b []byte) []Instruction {
	p := make([]Instruction, len(b)/SizeofInstruction)
	for i := range p {
		w := b[i*SizeofInstruction:]
		p[i] = Instruction{
			Code: binary.LittleEndian.Uint16(w[0:]),
			Jt:   w[2],
			Jf:   w[3],
			K:    binary.LittleEndian.Uint32(w[4:]),
		}
	}
	return p
}

// The opcodes seccomp allows (kernel/seccomp.c seccomp_check_filter, a
// subset of those net/core/filter.c bpf_check_classic allows).
const (
	opLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opLdLenW = unix.BPF_LD | unix.BPF_W | unix.BPF_LEN
	opLdImm  = unix.BPF_LD | unix.BPF_IMM
	opLdMem  = unix.BPF_LD | unix.BPF_MEM
	opLdxLen = unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN
	opLdxImm = unix.BPF_LDX | unix.BPF_IMM
	opLdxMem = unix.BPF_LDX | unix.BPF_MEM
	opSt     = unix.BPF_ST
	opStx    = unix.BPF_STX
	opTax    = unix.BPF_MISC | unix.BPF_TAX
	opTxa    = unix.BPF_MISC | unix.BPF_TXA
	opRetK   = unix.BPF_RET | unix.BPF_K
	opRetA   = unix.BPF_RET | unix.BPF_A
	opJa     = unix.BPF_JMP | unix.BPF_JA
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJeqX   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJgtX   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opJgeX   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_X
	opJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	opJsetX  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_X
	opAddK   = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K
	opAddX   = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X
	opSubK   = unix.BPF_ALU | unix.BPF_SUB | unix.BPF_K
	opSubX   = unix.BPF_ALU | unix.BPF_SUB | unix.BPF_X
	opMulK   = unix.BPF_ALU | unix.BPF_MUL | unix.BPF_K
	opMulX   = unix.BPF_ALU | unix.BPF_MUL | unix.BPF_X
	opDivK   = unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K
	opDivX   = unix.BPF_ALU | unix.BPF_DIV | unix.BPF_X
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opAndX   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_X
	opOrK    = unix.BPF_ALU | unix.BPF_OR | unix.BPF_K
	opOrX    = unix.BPF_ALU | unix.BPF_OR | unix.BPF_X
	opXorK   = unix.BPF_ALU | unix.BPF_XOR | unix.BPF_K
	opXorX   = unix.BPF_ALU | unix.BPF_XOR | unix.BPF_X
	opLshK   = unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K
	opLshX   = unix.BPF_ALU | unix.BPF_LSH | unix.BPF_X
	opRshK   = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
	opRshX   = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_X
	opNeg    = unix.BPF_ALU | unix.BPF_NEG
)

// InvalidError says why a program was refused. It unwraps to EINVAL, the
// error seccomp(2) gives for every malformed program.
type InvalidError struct {
	PC     int // the offending instruction, or -1 for the whole program
	Reason string
}

func (e *InvalidError) Error() string {
	if e.PC < 0 {
		return "seccomp: invalid filter: " + e.Reason
	}
	return fmt.Sprintf("seccomp: invalid filter: instruction %d: %s", e.PC, e.Reason)
}

// Unwrap returns EINVAL.
func (e *InvalidError) Unwrap() error { return unix.EINVAL }

func invalid(pc int, format string, args ...any) error {
	return &InvalidError{PC: pc, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks p as Linux does before attaching a seccomp filter:
// 1 to BPF_MAXINSNS instructions (seccomp_prepare_filter), only the
// opcodes seccomp allows, loads of aligned 32-bit words inside struct
// seccomp_data, no division by a zero constant or shift by 32 or more,
// scratch memory indexes below BPF_MEMWORDS and never read before they are
// written on every path, jumps that stay inside the program, and a return
// as the last instruction (bpf_check_classic, check_load_and_stores,
// seccomp_check_filter). Every failure is an *InvalidError.
func Validate(p []Instruction) error {
	n := len(p)
	if n == 0 || n > MaxInstructions {
		return invalid(-1, "%d instructions (must be 1 to %d)", n, MaxInstructions)
	}
	for pc, in := range p {
		if err := checkInstruction(pc, in, n); err != nil {
			return err
		}
	}
	if c := p[n-1].Code; c != opRetK && c != opRetA {
		return invalid(n-1, "the last instruction is not a return")
	}
	return checkMemory(p)
}

// checkInstruction checks one instruction at pc of an n-instruction
// program.
func checkInstruction(pc int, in Instruction, n int) error {
	switch in.Code {
	case opLdAbsW:
		if in.K >= SizeofData || in.K%4 != 0 {
			return invalid(pc, "load at offset %d: not an aligned word of seccomp_data", in.K)
		}
	case opDivK:
		if in.K == 0 {
			return invalid(pc, "division by zero")
		}
	case opLshK, opRshK:
		if in.K >= 32 {
			return invalid(pc, "shift by %d", in.K)
		}
	case opLdMem, opLdxMem, opSt, opStx:
		if in.K >= unix.BPF_MEMWORDS {
			return invalid(pc, "scratch memory index %d", in.K)
		}
	case opJa:
		// Compared as Linux does, so a huge k cannot wrap around.
		if uint64(in.K) >= uint64(n-pc-1) {
			return invalid(pc, "jump past the end")
		}
	case opJeqK, opJeqX, opJgtK, opJgtX, opJgeK, opJgeX, opJsetK, opJsetX:
		if pc+int(in.Jt)+1 >= n || pc+int(in.Jf)+1 >= n {
			return invalid(pc, "jump past the end")
		}
	case opLdLenW, opLdImm, opLdxLen, opLdxImm, opTax, opTxa, opRetK, opRetA,
		opAddK, opAddX, opSubK, opSubX, opMulK, opMulX, opDivX,
		opAndK, opAndX, opOrK, opOrX, opXorK, opXorX, opLshX, opRshX, opNeg:
	default:
		// Packet loads (H, B, IND, MSH), BPF_MOD, BPF_RET|BPF_X, ... are
		// valid classic BPF but not seccomp.
		return invalid(pc, "opcode %#x not allowed in seccomp filters", in.Code)
	}
	return nil
}

// checkMemory refuses a program that may load a scratch memory word no
// store has written on some path to it (check_load_and_stores: jumps go
// forward only, so one pass carries the set of valid words to every
// jump target).
func checkMemory(p []Instruction) error {
	masks := make([]uint16, len(p))
	for i := range masks {
		masks[i] = 0xffff
	}
	var valid uint16
	for pc, in := range p {
		valid &= masks[pc]
		switch in.Code {
		case opSt, opStx:
			valid |= 1 << in.K
		case opLdMem, opLdxMem:
			if valid&(1<<in.K) == 0 {
				return invalid(pc, "scratch memory word %d read before it is written", in.K)
			}
		case opJa:
			masks[pc+1+int(in.K)] &= valid
			valid = 0xffff
		case opJeqK, opJeqX, opJgtK, opJgtX, opJgeK, opJgeX, opJsetK, opJsetX:
			masks[pc+1+int(in.Jt)] &= valid
			masks[pc+1+int(in.Jf)] &= valid
			valid = 0xffff
		}
	}
	return nil
}
