package seccomp

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// A Filter is an allowlist of system calls.
type Filter struct {
	Name  string // for error messages
	Rules []Rule
	// Default is the action for every other system call, and for the
	// calls of Rules whose conditions do not hold.
	Default uint32
}

// A Rule allows one system call, if its arguments satisfy any of the
// conditions in If (or always, if If is empty). Several rules for the
// same call add up: any of their conditions will do.
type Rule struct {
	Nr uintptr
	If []Cond
	// Errno, if not 0, makes the call fail with this error instead of
	// running it.
	Errno unix.Errno
}

// A Cond holds if all of its argument checks do.
type Cond []Arg

// An Arg checks that argument Index (0-5) of the call, ANDed with Mask,
// equals Value.
type Arg struct {
	Index int
	Mask  uint64
	Value uint64
}

// Eq checks that an argument of a 64-bit type (long, pointer, flags of
// type unsigned long) is v.
func Eq(index int, v uint64) Arg { return Arg{index, ^uint64(0), v} }

// Eq32 checks that an argument of a 32-bit type (int, unsigned int) is v.
// The kernel ignores the upper half of such an argument's register, so
// the filter does too.
func Eq32(index int, v uint32) Arg { return Arg{index, 0xffff_ffff, uint64(v)} }

// Only32 checks that a 32-bit argument has no bits set outside allowed.
func Only32(index int, allowed uint32) Arg { return Arg{index, uint64(^allowed), 0} }

// Only checks that a 64-bit argument has no bits set outside allowed.
func Only(index int, allowed uint64) Arg { return Arg{index, ^allowed, 0} }

// OneOf32 returns one condition per value: the 32-bit argument is one of
// vs.
func OneOf32(index int, vs ...uint32) []Cond {
	var cs []Cond
	for _, v := range vs {
		cs = append(cs, Cond{Eq32(index, v)})
	}
	return cs
}

// Offsets in struct seccomp_data (x86-64, little endian).
const (
	dataNr   = 0
	dataArch = 4
	dataArgs = 16 // args[6], u64 each
)

// x32SyscallBit marks the system call numbers of the x32 ABI, which share
// AUDIT_ARCH_X86_64.
const x32SyscallBit = 0x4000_0000

// maxInsns is BPF_MAXINSNS, the kernel's limit on a filter's length.
const maxInsns = 4096

// rule is the merged rules for one system call.
type rule struct {
	nr     uint32
	always bool   // no conditions: allowed whatever the arguments
	conds  []Cond // any of these
	action uint32
}

// merge sorts and merges f's rules, one per system call.
func (f Filter) merge() ([]rule, error) {
	byNr := map[uint32]*rule{}
	for _, r := range f.Rules {
		if r.Nr >= x32SyscallBit {
			return nil, fmt.Errorf("system call number %#x out of range", r.Nr)
		}
		action := uint32(unix.SECCOMP_RET_ALLOW)
		if r.Errno != 0 {
			if r.Errno > unix.SECCOMP_RET_DATA {
				return nil, fmt.Errorf("system call %d: errno %d out of range", r.Nr, r.Errno)
			}
			action = unix.SECCOMP_RET_ERRNO | uint32(r.Errno)
		}
		for _, c := range r.If {
			if len(c) == 0 {
				return nil, fmt.Errorf("system call %d: empty condition (leave If empty to allow any arguments)", r.Nr)
			}
			for _, a := range c {
				if a.Index < 0 || a.Index > 5 {
					return nil, fmt.Errorf("system call %d: argument index %d", r.Nr, a.Index)
				}
				if a.Value&^a.Mask != 0 {
					return nil, fmt.Errorf("system call %d: argument %d can never be %#x under mask %#x", r.Nr, a.Index, a.Value, a.Mask)
				}
			}
		}
		m := byNr[uint32(r.Nr)]
		if m == nil {
			m = &rule{nr: uint32(r.Nr), action: action}
			byNr[uint32(r.Nr)] = m
		} else if m.action != action {
			return nil, fmt.Errorf("system call %d: rules with different actions", r.Nr)
		}
		if len(r.If) == 0 {
			m.always = true
		}
		m.conds = append(m.conds, r.If...)
	}
	var rules []rule
	for _, r := range byNr {
		if r.always {
			r.conds = nil
		}
		rules = append(rules, *r)
	}
	slices.SortFunc(rules, func(a, b rule) int { return int(a.nr) - int(b.nr) })
	return rules, nil
}

// Assemble compiles f to classic BPF:
//
//	if arch != AUDIT_ARCH_X86_64: default
//	if nr & x32SyscallBit: default
//	binary search of nr among the rules:
//		found: if no conditions, or any condition holds: the rule's action
//		else: default
//
// Argument checks compare 32-bit halves: the low half of argument i is at
// offset 16+8i in seccomp_data, the high half at 20+8i.
func (f Filter) Assemble() ([]unix.SockFilter, error) {
	rules, err := f.merge()
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("no rules")
	}
	var a assembler
	a.ld(dataArch)
	a.jeq(unix.AUDIT_ARCH_X86_64, "1", "")
	a.ret(f.Default)
	a.ld(dataNr)
	a.jset(x32SyscallBit, "", "1")
	a.ret(f.Default)
	a.search(rules, f.Default)
	return a.assemble()
}

// search emits a binary search of the accumulator (the system call
// number) among rules. Inner nodes jump to their right half with a BPF_JA,
// whose offset is not limited to 255 like a conditional jump's.
func (a *assembler) search(rules []rule, def uint32) {
	if len(rules) == 1 {
		a.leaf(rules[0], def)
		return
	}
	mid := len(rules) / 2
	right := a.newLabel()
	a.jgt(rules[mid-1].nr, "", "1") // > the left half's last: to the ja
	a.ja(right)
	a.search(rules[:mid], def)
	a.label(right)
	a.search(rules[mid:], def)
}

// leaf emits the checks for one rule, with the accumulator holding the
// system call number. Every jump in it is local.
func (a *assembler) leaf(r rule, def uint32) {
	deny := a.newLabel()
	a.jeq(r.nr, "", deny)
	if r.conds == nil {
		a.ret(r.action)
	}
	for _, c := range r.conds {
		next := a.newLabel()
		for _, arg := range c {
			off := uint32(dataArgs + 8*arg.Index)
			a.checkWord(off, uint32(arg.Mask), uint32(arg.Value), next)
			a.checkWord(off+4, uint32(arg.Mask>>32), uint32(arg.Value>>32), next)
		}
		a.ret(r.action)
		a.label(next)
	}
	a.label(deny)
	a.ret(def)
}

// checkWord emits: if (word at off) & mask != value, go to fail.
func (a *assembler) checkWord(off, mask, value uint32, fail string) {
	if mask == 0 {
		return // value is 0 too (checked in merge): always true
	}
	a.ld(off)
	if mask != 0xffff_ffff {
		a.and(mask)
	}
	a.jeq(value, "", fail)
}

// assembler builds a classic BPF program with symbolic jump targets.
type assembler struct {
	prog   []unix.SockFilter
	labels map[string]int
	fixups []fixup
	n      int
}

// fixup is a jump at prog[at] to resolve: conditional (jt, jf; "" is the
// next instruction, "1" the one after) or, if ja is set, unconditional.
type fixup struct {
	at     int
	jt, jf string
	ja     string
}

func (a *assembler) emit(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

func (a *assembler) ld(off uint32) { a.emit(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }
func (a *assembler) and(k uint32)  { a.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }
func (a *assembler) ret(k uint32)  { a.emit(unix.BPF_RET|unix.BPF_K, k) }

func (a *assembler) jump(op uint16, k uint32, jt, jf string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), jt: jt, jf: jf})
	a.emit(unix.BPF_JMP|op|unix.BPF_K, k)
}

func (a *assembler) jeq(k uint32, jt, jf string)  { a.jump(unix.BPF_JEQ, k, jt, jf) }
func (a *assembler) jgt(k uint32, jt, jf string)  { a.jump(unix.BPF_JGT, k, jt, jf) }
func (a *assembler) jset(k uint32, jt, jf string) { a.jump(unix.BPF_JSET, k, jt, jf) }

func (a *assembler) ja(to string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), ja: to})
	a.emit(unix.BPF_JMP|unix.BPF_JA, 0)
}

func (a *assembler) newLabel() string {
	a.n++
	return fmt.Sprintf(".L%d", a.n)
}

func (a *assembler) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	if _, dup := a.labels[name]; dup {
		panic("seccomp: duplicate label " + name)
	}
	a.labels[name] = len(a.prog)
}

func (a *assembler) assemble() ([]unix.SockFilter, error) {
	if len(a.prog) > maxInsns {
		return nil, fmt.Errorf("program too long: %d instructions", len(a.prog))
	}
	// target returns the offset of label l from the instruction after at.
	target := func(at int, l string) (int, error) {
		switch l {
		case "":
			return 0, nil
		case "1":
			return 1, nil
		}
		to, ok := a.labels[l]
		if !ok {
			return 0, fmt.Errorf("undefined label %s", l)
		}
		if to <= at {
			return 0, fmt.Errorf("backward jump to %s", l)
		}
		return to - at - 1, nil
	}
	for _, f := range a.fixups {
		if f.ja != "" {
			d, err := target(f.at, f.ja)
			if err != nil {
				return nil, err
			}
			a.prog[f.at].K = uint32(d)
			continue
		}
		for _, j := range []struct {
			l   string
			dst *uint8
		}{{f.jt, &a.prog[f.at].Jt}, {f.jf, &a.prog[f.at].Jf}} {
			d, err := target(f.at, j.l)
			if err != nil {
				return nil, err
			}
			if d > 255 {
				return nil, fmt.Errorf("conditional jump to %s too long (%d)", j.l, d)
			}
			*j.dst = uint8(d)
		}
	}
	return slices.Clone(a.prog), nil
}
