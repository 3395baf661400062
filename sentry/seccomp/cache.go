package seccomp

// constResult runs p for system call nr of arch with the instruction
// pointer and arguments unknown. It returns the result and true if the
// program reaches a return without looking at them (a jump on an unknown
// value, a return of one, or a division by an unknown X gives up). Jumps
// go forward, so this ends within len(p) steps.
func constResult(p []Instruction, nr int32, arch uint32) (uint32, bool) {
	type val struct {
		v     uint32
		known bool
	}
	a, x := val{0, true}, val{0, true}
	var mem [16]val
	for pc := 0; pc < len(p); pc++ {
		in := p[pc]
		switch in.Code {
		case opLdAbsW:
			switch in.K {
			case 0:
				a = val{uint32(nr), true}
			case 4:
				a = val{arch, true}
			default:
				a = val{}
			}
		case opLdLenW:
			a = val{SizeofData, true}
		case opLdImm:
			a = val{in.K, true}
		case opLdMem:
			a = mem[in.K]
		case opLdxLen:
			x = val{SizeofData, true}
		case opLdxImm:
			x = val{in.K, true}
		case opLdxMem:
			x = mem[in.K]
		case opSt:
			mem[in.K] = a
		case opStx:
			mem[in.K] = x
		case opTax:
			x = a
		case opTxa:
			a = x
		case opRetK:
			return in.K, true
		case opRetA:
			return a.v, a.known
		case opJa:
			pc += int(in.K)
		case opJeqK, opJgtK, opJgeK, opJsetK:
			if !a.known {
				return 0, false
			}
			pc += jump(in, a.v, in.K)
		case opJeqX, opJgtX, opJgeX, opJsetX:
			if !a.known || !x.known {
				return 0, false
			}
			pc += jump(in, a.v, x.v)
		case opDivX:
			if !x.known {
				return 0, false
			}
			if x.v == 0 {
				return 0, true
			}
			a = val{a.v / x.v, a.known}
		default:
			usesX := in.Code&0x08 != 0 // BPF_X
			a = val{alu(in.Code, a.v, in.K, x.v), a.known && (x.known || !usesX)}
		}
	}
	return 0, false
}

// jump returns the offset a conditional jump takes comparing a with b.
func jump(in Instruction, a, b uint32) int {
	var cond bool
	switch in.Code &^ 0x08 { // the K form of the jump
	case opJeqK:
		cond = a == b
	case opJgtK:
		cond = a > b
	case opJgeK:
		cond = a >= b
	case opJsetK:
		cond = a&b != 0
	}
	return branch(cond, &in)
}
