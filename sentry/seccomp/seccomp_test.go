package seccomp

import (
	"errors"
	"math/rand"
	"testing"

	"golang.org/x/sys/unix"
)

func stmt(code uint16, k uint32) Instruction { return Instruction{Code: code, K: k} }

func jmp(code uint16, k uint32, jt, jf uint8) Instruction {
	return Instruction{Code: code, Jt: jt, Jf: jf, K: k}
}

func ret(k uint32) Instruction { return stmt(opRetK, k) }

func TestValidate(t *testing.T) {
	rets := func(n int) []Instruction {
		p := make([]Instruction, n)
		for i := range p {
			p[i] = ret(ActionAllow)
		}
		return p
	}
	for _, c := range []struct {
		name string
		prog []Instruction
		ok   bool
	}{
		{"empty", nil, false},
		{"one return", rets(1), true},
		{"BPF_MAXINSNS", rets(4096), true},
		{"too long", rets(4097), false},
		{"return A", []Instruction{stmt(opRetA, 0)}, true},
		{"last is not a return", []Instruction{ret(0), stmt(opLdImm, 1)}, false},
		{"halfword load", []Instruction{stmt(unix.BPF_LD|unix.BPF_H|unix.BPF_ABS, 0), ret(0)}, false},
		{"byte load", []Instruction{stmt(unix.BPF_LD|unix.BPF_B|unix.BPF_ABS, 0), ret(0)}, false},
		{"indirect load", []Instruction{stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_IND, 0), ret(0)}, false},
		{"msh", []Instruction{stmt(unix.BPF_LDX|unix.BPF_B|unix.BPF_MSH, 0), ret(0)}, false},
		{"mod", []Instruction{stmt(unix.BPF_ALU|unix.BPF_MOD|unix.BPF_K, 3), ret(0)}, false},
		{"return X", []Instruction{stmt(unix.BPF_RET|unix.BPF_X, 0)}, false},
		{"unknown opcode", []Instruction{stmt(0xffff, 0), ret(0)}, false},
		{"load args[5] high word", []Instruction{stmt(opLdAbsW, 60), ret(0)}, true},
		{"load past seccomp_data", []Instruction{stmt(opLdAbsW, 64), ret(0)}, false},
		{"unaligned load", []Instruction{stmt(opLdAbsW, 2), ret(0)}, false},
		{"huge load offset", []Instruction{stmt(opLdAbsW, 0xfffff000), ret(0)}, false},
		{"length", []Instruction{stmt(opLdLenW, 0), stmt(opLdxLen, 0), ret(0)}, true},
		{"division by zero", []Instruction{stmt(opDivK, 0), ret(0)}, false},
		{"division by X", []Instruction{stmt(opDivX, 0), ret(0)}, true},
		{"shift by 31", []Instruction{stmt(opLshK, 31), stmt(opRshK, 31), ret(0)}, true},
		{"shift by 32", []Instruction{stmt(opLshK, 32), ret(0)}, false},
		{"right shift by 32", []Instruction{stmt(opRshK, 32), ret(0)}, false},
		{"scratch word 15", []Instruction{stmt(opSt, 15), stmt(opLdMem, 15), ret(0)}, true},
		{"scratch word 16", []Instruction{stmt(opSt, 16), ret(0)}, false},
		{"read before write", []Instruction{stmt(opLdMem, 0), ret(0)}, false},
		{"X read before write", []Instruction{stmt(opLdxMem, 3), ret(0)}, false},
		{"written on one path only", []Instruction{
			jmp(opJeqK, 0, 0, 1), stmt(opSt, 2), stmt(opLdMem, 2), ret(0)}, false},
		{"written on both paths", []Instruction{
			jmp(opJeqK, 0, 0, 2), stmt(opSt, 2), stmt(opJa, 1), stmt(opStx, 2), stmt(opLdMem, 2), ret(0)}, true},
		{"written before a jump", []Instruction{
			stmt(opSt, 1), jmp(opJeqK, 0, 1, 0), ret(1), stmt(opLdMem, 1), ret(0)}, true},
		{"ja to last", []Instruction{stmt(opJa, 1), ret(1), ret(0)}, true},
		{"ja past the end", []Instruction{stmt(opJa, 2), ret(1), ret(0)}, false},
		{"ja wraps", []Instruction{stmt(opJa, 0xffffffff), ret(0)}, false},
		{"jt past the end", []Instruction{jmp(opJeqK, 0, 1, 0), ret(0)}, false},
		{"jf past the end", []Instruction{jmp(opJgtX, 0, 0, 1), ret(0)}, false},
		{"jset", []Instruction{jmp(opJsetK, 4, 0, 1), ret(1), ret(0)}, true},
		{"tax txa neg", []Instruction{stmt(opTax, 0), stmt(opTxa, 0), stmt(opNeg, 0), ret(0)}, true},
	} {
		err := Validate(c.prog)
		if c.ok && err != nil {
			t.Errorf("%s: %v, want valid", c.name, err)
		}
		if !c.ok {
			var ie *InvalidError
			if !errors.As(err, &ie) || !errors.Is(err, unix.EINVAL) {
				t.Errorf("%s: %v, want an *InvalidError wrapping EINVAL", c.name, err)
			}
		}
	}
}

func TestDecodeProgram(t *testing.T) {
	b := []byte{0x20, 0, 1, 2, 4, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f}
	p := DecodeProgram(b)
	want := []Instruction{{Code: opLdAbsW, Jt: 1, Jf: 2, K: 4}, ret(ActionAllow)}
	if len(p) != 2 || p[0] != want[0] || p[1] != want[1] {
		t.Errorf("DecodeProgram = %+v, want %+v", p, want)
	}
}

func mustFilter(t *testing.T, p ...Instruction) *Filter {
	t.Helper()
	f, err := NewFilter(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRunLoads(t *testing.T) {
	d := &Data{Nr: 39, Arch: unix.AUDIT_ARCH_X86_64, InstructionPointer: 0x1122334455667788,
		Args: [6]uint64{0x0102030405060708, 2, 3, 4, 5, 0xa0b0c0d0e0f01020}}
	for off, want := range map[uint32]uint32{
		0: 39, 4: unix.AUDIT_ARCH_X86_64, 8: 0x55667788, 12: 0x11223344,
		16: 0x05060708, 20: 0x01020304, 24: 2, 28: 0, 56: 0xe0f01020, 60: 0xa0b0c0d0,
	} {
		f := mustFilter(t, stmt(opLdAbsW, off), stmt(opRetA, 0))
		if got := f.Run(d); got != want {
			t.Errorf("load at %d = %#x, want %#x", off, got, want)
		}
	}
}

func TestRunArithmetic(t *testing.T) {
	d := &Data{}
	for _, c := range []struct {
		name string
		prog []Instruction
		want uint32
	}{
		{"A and X start at 0", []Instruction{stmt(opTxa, 0), stmt(opAddK, 5), stmt(opRetA, 0)}, 5},
		{"length", []Instruction{stmt(opLdLenW, 0), stmt(opRetA, 0)}, 64},
		{"X length", []Instruction{stmt(opLdxLen, 0), stmt(opTxa, 0), stmt(opRetA, 0)}, 64},
		{"wrapping add", []Instruction{stmt(opLdImm, 0xffffffff), stmt(opAddK, 2), stmt(opRetA, 0)}, 1},
		{"sub", []Instruction{stmt(opLdImm, 1), stmt(opSubK, 2), stmt(opRetA, 0)}, 0xffffffff},
		{"mul X", []Instruction{stmt(opLdImm, 6), stmt(opLdxImm, 7), stmt(opMulX, 0), stmt(opRetA, 0)}, 42},
		{"div", []Instruction{stmt(opLdImm, 43), stmt(opDivK, 7), stmt(opRetA, 0)}, 6},
		{"div X", []Instruction{stmt(opLdImm, 43), stmt(opLdxImm, 6), stmt(opDivX, 0), stmt(opRetA, 0)}, 7},
		{"div by X zero ends with 0", []Instruction{stmt(opLdImm, 43), stmt(opDivX, 0), ret(ActionAllow)}, 0},
		{"and or xor", []Instruction{stmt(opLdImm, 0xf0), stmt(opAndK, 0x3c), stmt(opOrK, 1), stmt(opXorK, 0xff), stmt(opRetA, 0)}, 0xce},
		{"shifts", []Instruction{stmt(opLdImm, 1), stmt(opLshK, 31), stmt(opRshK, 4), stmt(opRetA, 0)}, 0x08000000},
		{"shift by X uses 5 bits", []Instruction{stmt(opLdImm, 1), stmt(opLdxImm, 33), stmt(opLshX, 0), stmt(opRetA, 0)}, 2},
		{"right shift by X", []Instruction{stmt(opLdImm, 0x80), stmt(opLdxImm, 36), stmt(opRshX, 0), stmt(opRetA, 0)}, 8},
		{"neg", []Instruction{stmt(opLdImm, 1), stmt(opNeg, 0), stmt(opRetA, 0)}, 0xffffffff},
		{"scratch memory", []Instruction{stmt(opLdImm, 9), stmt(opSt, 3), stmt(opLdImm, 0), stmt(opLdxMem, 3), stmt(opTxa, 0), stmt(opRetA, 0)}, 9},
		{"ja", []Instruction{stmt(opJa, 1), ret(1), ret(2)}, 2},
		{"jeq taken", []Instruction{jmp(opJeqK, 0, 1, 0), ret(1), ret(2)}, 2},
		{"jgt unsigned", []Instruction{stmt(opLdImm, 0x80000000), jmp(opJgtK, 1, 0, 1), ret(1), ret(2)}, 1},
		{"jge equal", []Instruction{stmt(opLdImm, 5), stmt(opLdxImm, 5), jmp(opJgeX, 0, 0, 1), ret(1), ret(2)}, 1},
		{"jset not", []Instruction{stmt(opLdImm, 4), jmp(opJsetK, 3, 0, 1), ret(1), ret(2)}, 2},
	} {
		if got := mustFilter(t, c.prog...).Run(d); got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, got, c.want)
		}
	}
}

// An arch-checking filter as programs write it: kill foreign ABIs, fail
// getppid (110) with EPERM, trap args[0] == 7 of kill (62).
func archFilter(t *testing.T) *Filter {
	return mustFilter(t,
		stmt(opLdAbsW, 4),
		jmp(opJeqK, unix.AUDIT_ARCH_X86_64, 1, 0),
		ret(ActionKillProcess),
		stmt(opLdAbsW, 0),
		jmp(opJeqK, 110, 0, 1),
		ret(ActionErrno|1),
		jmp(opJeqK, 62, 0, 3),
		stmt(opLdAbsW, 16),
		jmp(opJeqK, 7, 0, 1),
		ret(ActionTrap|7),
		ret(ActionAllow),
	)
}

func TestRunFilter(t *testing.T) {
	f := archFilter(t)
	for _, c := range []struct {
		d    Data
		want uint32
	}{
		{Data{Nr: 110, Arch: unix.AUDIT_ARCH_X86_64}, ActionErrno | 1},
		{Data{Nr: 110, Arch: unix.AUDIT_ARCH_I386}, ActionKillProcess},
		{Data{Nr: 62, Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{7}}, ActionTrap | 7},
		{Data{Nr: 62, Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{8}}, ActionAllow},
		{Data{Nr: 0x4000_0000 + 110, Arch: unix.AUDIT_ARCH_X86_64}, ActionAllow},
		{Data{Nr: -1, Arch: unix.AUDIT_ARCH_X86_64}, ActionAllow},
		{Data{Nr: 1000, Arch: unix.AUDIT_ARCH_X86_64}, ActionAllow},
	} {
		if got := f.Run(&c.d); got != c.want {
			t.Errorf("Run(%+v) = %s, want %s", c.d, ActionString(got), ActionString(c.want))
		}
	}
	// Only kill depends on the arguments.
	for nr := int32(0); nr < cacheSize; nr++ {
		if cached := f.cached[nr/64]&(1<<(nr%64)) != 0; cached != (nr != 62) {
			t.Errorf("syscall %d cached = %v", nr, cached)
		}
	}
}

func TestMoreRestrictive(t *testing.T) {
	order := []uint32{ActionKillProcess, ActionKillThread, ActionTrap | 5, ActionErrno | 1,
		ActionUserNotif, ActionTrace, ActionLog, ActionAllow}
	for i := range order {
		for j := range order {
			if got := MoreRestrictive(order[i], order[j]); got != (i < j) {
				t.Errorf("MoreRestrictive(%s, %s) = %v", ActionString(order[i]), ActionString(order[j]), got)
			}
		}
	}
	if MoreRestrictive(ActionErrno|1, ActionErrno|2) || MoreRestrictive(ActionErrno|2, ActionErrno|1) {
		t.Error("the data of a return value must not matter")
	}
}

// TestCacheMatchesInterpreter runs random valid programs on random
// system calls with and without the per-syscall cache.
func TestCacheMatchesInterpreter(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	loads := []uint32{0, 4, 8, 12, 16, 20, 24, 40, 60}
	consts := []uint32{0, 1, 2, 39, 60, 110, 0xc000003e, 0x40000000, 0xffffffff, ActionAllow, ActionErrno | 1}
	codes := []uint16{opLdAbsW, opLdAbsW, opLdAbsW, opLdImm, opLdxImm, opTax, opTxa, opAddK, opAndX, opOrK,
		opDivX, opRshX, opNeg, opSt, opLdMem, opJeqK, opJeqK, opJgtK, opJgeX, opJsetK, opJa, opRetK, opRetA}
	tested := 0
	for i := 0; i < 3000; i++ {
		n := 2 + r.Intn(20)
		p := make([]Instruction, n)
		for pc := range p {
			in := Instruction{Code: codes[r.Intn(len(codes))], K: consts[r.Intn(len(consts))]}
			switch in.Code {
			case opLdAbsW:
				in.K = loads[r.Intn(len(loads))]
			case opSt, opLdMem:
				in.K = 0
			case opJa:
				in.K = uint32(r.Intn(n - pc))
			case opJeqK, opJgtK, opJgeX, opJsetK:
				in.Jt, in.Jf = uint8(r.Intn(n-pc)), uint8(r.Intn(n-pc))
			}
			p[pc] = in
		}
		p[n-1] = Instruction{Code: opRetA}
		f, err := NewFilter(p)
		if err != nil {
			continue
		}
		tested++
		for j := 0; j < 20; j++ {
			d := Data{Nr: int32(r.Intn(cacheSize)), Arch: unix.AUDIT_ARCH_X86_64,
				InstructionPointer: r.Uint64(), Args: [6]uint64{r.Uint64(), uint64(r.Intn(3)), r.Uint64()}}
			if got, want := f.Run(&d), run(p, &d); got != want {
				t.Fatalf("program %+v on %+v: cached %#x, interpreted %#x", p, d, got, want)
			}
		}
	}
	if tested < 500 {
		t.Fatalf("only %d random programs were valid", tested)
	}
}
