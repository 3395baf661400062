// Package bpfasm assembles the classic BPF programs of the platforms' stub
// seccomp filters: straight-line code with forward jumps to named labels,
// which is all a seccomp filter can use (classic BPF has no backward
// jumps).
package bpfasm

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// Asm is a program being assembled. The zero value is ready to use.
type Asm struct {
	prog   []unix.SockFilter
	labels map[string]int
	jumps  []jump
}

// jump is a conditional jump at prog[at] to labels jt and jf ("" is the
// next instruction).
type jump struct {
	at     int
	jt, jf string
}

func (a *Asm) emit(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

// Ld loads the 32-bit word at offset off of struct seccomp_data into A.
func (a *Asm) Ld(off uint32) { a.emit(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }

// And is A &= k.
func (a *Asm) And(k uint32) { a.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }

// Ret returns k (a SECCOMP_RET_* action).
func (a *Asm) Ret(k uint32) { a.emit(unix.BPF_RET|unix.BPF_K, k) }

// Jeq jumps to jt if A == k, else to jf.
func (a *Asm) Jeq(k uint32, jt, jf string) { a.jmp(unix.BPF_JEQ, k, jt, jf) }

// Jge jumps to jt if A >= k (unsigned), else to jf.
func (a *Asm) Jge(k uint32, jt, jf string) { a.jmp(unix.BPF_JGE, k, jt, jf) }

// Jgt jumps to jt if A > k (unsigned), else to jf.
func (a *Asm) Jgt(k uint32, jt, jf string) { a.jmp(unix.BPF_JGT, k, jt, jf) }

func (a *Asm) jmp(op uint16, k uint32, jt, jf string) {
	a.jumps = append(a.jumps, jump{len(a.prog), jt, jf})
	a.emit(unix.BPF_JMP|op|unix.BPF_K, k)
}

// Label defines name at the next instruction.
func (a *Asm) Label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	if _, dup := a.labels[name]; dup {
		panic("bpf: duplicate label " + name)
	}
	a.labels[name] = len(a.prog)
}

// Assemble resolves the jumps and returns the program. It panics on an
// undefined label or a jump that does not fit in 8 bits: the programs are
// built from constants at start-up, so either is a bug.
func (a *Asm) Assemble() []unix.SockFilter {
	off := func(at int, l string) uint8 {
		if l == "" {
			return 0
		}
		to, ok := a.labels[l]
		if !ok {
			panic("bpf: undefined label " + l)
		}
		d := to - at - 1
		if d < 0 || d > 255 {
			panic(fmt.Sprintf("bpf: jump out of range to %s (%d)", l, d))
		}
		return uint8(d)
	}
	for _, j := range a.jumps {
		a.prog[j.at].Jt = off(j.at, j.jt)
		a.prog[j.at].Jf = off(j.at, j.jf)
	}
	return slices.Clone(a.prog)
}

// Offsets in struct seccomp_data (little endian).
const (
	DataNr   = 0
	DataArch = 4
	DataIPLo = 8
	DataIPHi = 12
)

// DataArgLo and DataArgHi are the offsets of the low and high words of
// system call argument i.
func DataArgLo(i int) uint32 { return uint32(16 + 8*i) }
func DataArgHi(i int) uint32 { return uint32(20 + 8*i) }
