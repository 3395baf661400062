package seccomp

// run interprets a validated program on d with classic BPF semantics as
// Linux implements them: A and X start at 0, arithmetic is on 32 bits,
// shifts by X use its low 5 bits, division by an X of zero ends the program
// with 0 (KILL_THREAD), and jumps only go forward, so the program ends.
func run(p []Instruction, d *Data) uint32 {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(p); pc++ {
		in := &p[pc]
		switch in.Code {
		case opLdAbsW:
			a = d.word(in.K)
		case opLdLenW:
			a = SizeofData
		case opLdImm:
			a = in.K
		case opLdMem:
			a = mem[in.K]
		case opLdxLen:
			x = SizeofData
		case opLdxImm:
			x = in.K
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
			return in.K
		case opRetA:
			return a
		case opJa:
			pc += int(in.K)
		case opJeqK:
			pc += branch(a == in.K, in)
		case opJeqX:
			pc += branch(a == x, in)
		case opJgtK:
			pc += branch(a > in.K, in)
		case opJgtX:
			pc += branch(a > x, in)
		case opJgeK:
			pc += branch(a >= in.K, in)
		case opJgeX:
			pc += branch(a >= x, in)
		case opJsetK:
			pc += branch(a&in.K != 0, in)
		case opJsetX:
			pc += branch(a&x != 0, in)
		case opDivX:
			if x == 0 {
				return 0
			}
			a /= x
		default:
			a = alu(in.Code, a, in.K, x)
		}
	}
	// Unreachable: Validate requires a return as the last instruction.
	return ActionKillThread
}

func branch(cond bool, in *Instruction) int {
	if cond {
		return int(in.Jt)
	}
	return int(in.Jf)
}

// alu computes the arithmetic instructions other than division by X
// (which may end the program).
func alu(code uint16, a, k, x uint32) uint32 {
	switch code {
	case opAddK:
		return a + k
	case opAddX:
		return a + x
	case opSubK:
		return a - k
	case opSubX:
		return a - x
	case opMulK:
		return a * k
	case opMulX:
		return a * x
	case opDivK:
		return a / k // k != 0: Validate refuses a zero divisor
	case opAndK:
		return a & k
	case opAndX:
		return a & x
	case opOrK:
		return a | k
	case opOrX:
		return a | x
	case opXorK:
		return a ^ k
	case opXorX:
		return a ^ x
	case opLshK:
		return a << k
	case opLshX:
		return a << (x & 31)
	case opRshK:
		return a >> k
	case opRshX:
		return a >> (x & 31)
	case opNeg:
		return -a
	}
	panic("seccomp: unvalidated opcode")
}
