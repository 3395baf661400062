package ociseccomp

import (
	"fmt"

	"github.com/veil-sandbox/veil/sentry/seccomp"
	"golang.org/x/sys/unix"
)

// A tiny classic BPF assembler with labels. Conditional jumps reach at
// most 255 instructions ahead; one whose target is farther is given a
// BPF_JA trampoline right after it, and the layout is redone until every
// jump fits.

// label names a place in the program. next is the instruction after the
// jump.
type label int

const next label = -1

type asmInsn struct {
	in     seccomp.Instruction
	jt, jf label // targets of a conditional jump; jt of a JA
	cond   bool
	ja     bool
	// farT, farF: the target needs a trampoline.
	farT, farF bool
}

type assembler struct {
	insns   []asmInsn
	labelAt []int // instruction index of each label, -1 until placed
}

func (a *assembler) newLabel() label {
	a.labelAt = append(a.labelAt, -1)
	return label(len(a.labelAt) - 1)
}

// place puts l at the next instruction emitted.
func (a *assembler) place(l label) { a.labelAt[l] = len(a.insns) }

func (a *assembler) stmt(code uint16, k uint32) {
	a.insns = append(a.insns, asmInsn{in: seccomp.Instruction{Code: code, K: k}})
}

func (a *assembler) load(off uint32) { a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }

func (a *assembler) ret(k uint32) { a.stmt(unix.BPF_RET|unix.BPF_K, k) }

// jump emits a conditional jump on A compared with k (op is BPF_JEQ,
// BPF_JGT, BPF_JGE or BPF_JSET).
func (a *assembler) jump(op uint16, k uint32, jt, jf label) {
	a.insns = append(a.insns, asmInsn{in: seccomp.Instruction{Code: unix.BPF_JMP | op | unix.BPF_K, K: k},
		jt: jt, jf: jf, cond: true})
}

func (a *assembler) ja(l label) {
	a.insns = append(a.insns, asmInsn{in: seccomp.Instruction{Code: unix.BPF_JMP | unix.BPF_JA}, jt: l, ja: true})
}

// assemble resolves the labels and returns the program.
func (a *assembler) assemble() ([]seccomp.Instruction, error) {
	for l, at := range a.labelAt {
		if at < 0 || at >= len(a.insns) {
			return nil, fmt.Errorf("internal error: label %d not placed before an instruction", l)
		}
	}
	pos := make([]int, len(a.insns)+1)
	for {
		// Lay out with the current trampolines.
		for i, in := range a.insns {
			pos[i+1] = pos[i] + 1
			if in.farT {
				pos[i+1]++
			}
			if in.farF {
				pos[i+1]++
			}
		}
		grew := false
		for i := range a.insns {
			in := &a.insns[i]
			if !in.cond {
				continue
			}
			if !in.farT && a.target(in.jt, i, pos)-(pos[i]+1) > 255 {
				in.farT, grew = true, true
			}
			if !in.farF && a.target(in.jf, i, pos)-(pos[i]+1) > 255 {
				in.farF, grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	out := make([]seccomp.Instruction, 0, pos[len(a.insns)])
	for i, in := range a.insns {
		p := pos[i]
		rel := func(l label, from int) (int, error) {
			off := a.target(l, i, pos) - (from + 1)
			if off < 0 {
				return 0, fmt.Errorf("internal error: backward jump at instruction %d", p)
			}
			return off, nil
		}
		switch {
		case in.ja:
			off, err := rel(in.jt, p)
			if err != nil {
				return nil, err
			}
			in.in.K = uint32(off)
			out = append(out, in.in)
		case in.cond:
			// Trampolines follow the jump: JA to jt first, then JA to jf.
			var tramps []seccomp.Instruction
			t, err := rel(in.jt, p)
			if err != nil {
				return nil, err
			}
			f, err := rel(in.jf, p)
			if err != nil {
				return nil, err
			}
			slot := p + 1
			if in.farT {
				tramps = append(tramps, seccomp.Instruction{Code: unix.BPF_JMP | unix.BPF_JA,
					K: uint32(a.target(in.jt, i, pos) - (slot + 1))})
				t = slot - (p + 1)
				slot++
			}
			if in.farF {
				tramps = append(tramps, seccomp.Instruction{Code: unix.BPF_JMP | unix.BPF_JA,
					K: uint32(a.target(in.jf, i, pos) - (slot + 1))})
				f = slot - (p + 1)
			}
			in.in.Jt, in.in.Jf = uint8(t), uint8(f)
			out = append(out, in.in)
			out = append(out, tramps...)
		default:
			out = append(out, in.in)
		}
	}
	return out, nil
}

// target returns the position of label l for the jump at instruction i.
func (a *assembler) target(l label, i int, pos []int) int {
	if l == next {
		return pos[i+1]
	}
	return pos[a.labelAt[l]]
}
