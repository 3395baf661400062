// Package ociseccomp compiles a container's seccomp profile (OCI
// runtime-spec linux.seccomp, as docker, podman and containerd send it)
// into a seccomp filter the Sentry runs on the application's system calls.
//
// The profile means what it means to runc and libseccomp:
//
//   - Each entry of syscalls applies its action to the calls it names when
//     all of its argument conditions hold (64-bit comparisons; for
//     SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the datum). An
//     entry with two or more conditions on the same argument is split
//     into one rule per condition, so its conditions are ORed, as runc
//     does for libseccomp. Calls no rule matches get defaultAction.
//   - SCMP_ACT_ERRNO and SCMP_ACT_TRACE use errnoRet (defaultErrnoRet for
//     the default), EPERM if it is absent. SCMP_ACT_KILL is
//     SCMP_ACT_KILL_THREAD.
//   - Names amd64 does not have ("chown32", "socketcall", names newer
//     than the table) are skipped, as libseccomp skips names it cannot
//     resolve; entries whose action is the default one are skipped as
//     runc skips them.
//   - As runc's filter does, when the default action is not an allowing
//     one, native calls numbered above every call the profile names fail
//     with ENOSYS rather than the default, so programs fall back from
//     calls newer than the profile (only if SCMP_ARCH_X86_64 is listed).
//   - architectures: x86_64 is the native ABI. The Sentry refuses 32-bit
//     int $0x80 calls and x32 calls with ENOSYS; when SCMP_ARCH_X86 or
//     SCMP_ARCH_X32 is listed such calls get the default action (the
//     profile's rules name amd64 calls only), otherwise they are killed
//     (KILL_THREAD), libseccomp's action for an architecture the filter
//     does not cover. Other architectures are accepted and never match.
//   - flags: SECCOMP_FILTER_FLAG_LOG and SPEC_ALLOW are accepted (the
//     Sentry keeps no audit log and leaves speculation to the host),
//     TSYNC is implicit.
//
// Where several rules for one call match, the most restrictive action
// wins (libseccomp's choice depends on how it merges its rule tree; this
// one does not depend on the order of the rules and never allows more
// than a matching rule says).
//
// What the Sentry cannot honour is an error, never a silent allow:
// SCMP_ACT_NOTIFY (there is no seccomp agent), unknown actions,
// operators, architectures and flags, argument indexes above 5 and
// errno values that do not fit.
package ociseccomp

import (
	"fmt"
	"slices"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"github.com/veil-sandbox/veil/syscalls/sysno"
	"golang.org/x/sys/unix"
)

// Compile compiles profile into a validated filter.
func Compile(profile *specs.LinuxSeccomp) (*seccomp.Filter, error) {
	prog, err := Program(profile)
	if err != nil {
		return nil, err
	}
	f, err := seccomp.NewFilter(prog)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: internal error: %w", err)
	}
	return f, nil
}

// Program compiles profile into a classic BPF program.
func Program(profile *specs.LinuxSeccomp) ([]seccomp.Instruction, error) {
	p, err := parse(profile)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	prog, err := p.generate()
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	if len(prog) > seccomp.MaxInstructions {
		return nil, fmt.Errorf("linux.seccomp: the profile needs %d BPF instructions, more than seccomp's %d",
			len(prog), seccomp.MaxInstructions)
	}
	return prog, nil
}

// cond is one argument comparison.
type cond struct {
	index    uint
	op       specs.LinuxSeccompOperator
	value    uint64
	valueTwo uint64
}

// rule gives ret to a call when all of conds hold.
type rule struct {
	conds []cond
	ret   uint32
}

// profile is a parsed linux.seccomp.
type profile struct {
	defaultRet uint32
	native     bool // SCMP_ARCH_X86_64 is listed
	i386, x32  bool // their calls get the default action
	rules      map[uint32][]rule
	// maxNr is the highest call number the profile names (0: none).
	maxNr uint32
}

// Bad-architecture action: libseccomp's default, SCMP_ACT_KILL.
const badArchRet = seccomp.ActionKillThread

func parse(s *specs.LinuxSeccomp) (*profile, error) {
	def, err := actionRet(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	p := &profile{defaultRet: def, rules: map[uint32][]rule{}}
	for _, a := range s.Architectures {
		switch a {
		case specs.ArchX86_64, "SCMP_ARCH_NATIVE":
			p.native = true
		case specs.ArchX86:
			p.i386 = true
		case specs.ArchX32:
			p.x32 = true
		case specs.ArchARM, specs.ArchAARCH64, specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32,
			specs.ArchMIPSEL, specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
			specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64,
			specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB:
			// Calls of these never reach an x86-64 kernel.
		default:
			return nil, fmt.Errorf("architectures: unknown architecture %q", a)
		}
	}
	for _, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC":
		default:
			return nil, fmt.Errorf("flags: %q is not supported", f)
		}
	}
	for i, sc := range s.Syscalls {
		if err := p.addEntry(sc); err != nil {
			return nil, fmt.Errorf("syscalls[%d] (%v): %w", i, sc.Names, err)
		}
	}
	return p, nil
}

// addEntry adds the rules of one syscalls entry.
func (p *profile) addEntry(sc specs.LinuxSyscall) error {
	if len(sc.Names) == 0 {
		return fmt.Errorf("no names")
	}
	ret, err := actionRet(sc.Action, sc.ErrnoRet)
	if err != nil {
		return err
	}
	var conds []cond
	seen := map[uint]int{}
	for _, a := range sc.Args {
		if a.Index > 5 {
			return fmt.Errorf("argument index %d (system calls have 6 arguments)", a.Index)
		}
		switch a.Op {
		case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
			specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		default:
			return fmt.Errorf("unknown operator %q", a.Op)
		}
		seen[a.Index]++
		conds = append(conds, cond{index: a.Index, op: a.Op, value: a.Value, valueTwo: a.ValueTwo})
	}
	rules := []rule{{conds: conds, ret: ret}}
	for _, n := range seen {
		if n > 1 {
			// runc's "old behavior": one rule per condition.
			rules = rules[:0]
			for _, c := range conds {
				rules = append(rules, rule{conds: []cond{c}, ret: ret})
			}
			break
		}
	}
	for _, name := range sc.Names {
		nr, ok := sysno.Number(name)
		if !ok {
			continue
		}
		p.maxNr = max(p.maxNr, uint32(nr))
		if ret == p.defaultRet {
			continue
		}
		p.rules[uint32(nr)] = append(p.rules[uint32(nr)], rules...)
	}
	return nil
}

// actionRet returns the filter return value of an action.
func actionRet(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	errno := uint(unix.EPERM)
	if errnoRet != nil {
		errno = *errnoRet
	}
	if errno > unix.SECCOMP_RET_DATA {
		return 0, fmt.Errorf("errno %d does not fit in a seccomp return value", errno)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return seccomp.ActionKillThread, nil
	case specs.ActKillProcess:
		return seccomp.ActionKillProcess, nil
	case specs.ActTrap:
		return seccomp.ActionTrap, nil
	case specs.ActErrno:
		return seccomp.ActionErrno | uint32(errno), nil
	case specs.ActTrace:
		return seccomp.ActionTrace | uint32(errno), nil
	case specs.ActAllow:
		return seccomp.ActionAllow, nil
	case specs.ActLog:
		return seccomp.ActionLog, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("action %s is not supported: the Sentry has no seccomp agent (user notification)", a)
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

// enosysStub reports whether calls above maxNr get ENOSYS (runc's
// patchbpf: only for a listed native arch and a default action that does
// not let calls through).
func (p *profile) enosysStub() bool {
	switch seccomp.Action(p.defaultRet) {
	case seccomp.ActionAllow, seccomp.ActionLog, seccomp.ActionTrace:
		return false
	}
	return p.native && p.maxNr > 0
}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

const x32SyscallBit = 0x4000_0000

// leafSize is how many calls a leaf of the binary search compares
// linearly.
const leafSize = 4

// generate emits:
//
//	arch check; x32 check; ENOSYS stub;
//	a binary search over the call numbers with rules, whose leaves
//	compare a few numbers and hold those calls' rules;
//	the default action.
func (p *profile) generate() ([]seccomp.Instruction, error) {
	a := &assembler{}
	native, foreign := a.newLabel(), a.newLabel()
	a.load(offArch)
	a.jump(unix.BPF_JEQ, unix.AUDIT_ARCH_X86_64, native, foreign)
	a.place(foreign)
	if p.i386 {
		def := a.newLabel()
		a.jump(unix.BPF_JEQ, unix.AUDIT_ARCH_I386, def, next)
		a.ret(badArchRet)
		a.place(def)
		a.ret(p.defaultRet)
	} else {
		a.ret(badArchRet)
	}

	a.place(native)
	a.load(offNr)
	x32 := a.newLabel()
	a.jump(unix.BPF_JSET, x32SyscallBit, x32, next)
	if p.enosysStub() {
		enosys := a.newLabel()
		a.jump(unix.BPF_JGT, p.maxNr, enosys, next)
		p.search(a)
		a.place(enosys)
		a.ret(seccomp.ActionErrno | uint32(unix.ENOSYS))
	} else {
		p.search(a)
	}
	a.place(x32)
	if p.x32 {
		a.ret(p.defaultRet)
	} else {
		a.ret(badArchRet)
	}
	return a.assemble()
}

// search emits the binary search over the call numbers with rules; A
// holds the call number. Calls without rules reach a return of the
// default action.
func (p *profile) search(a *assembler) {
	nrs := make([]uint32, 0, len(p.rules))
	for nr := range p.rules {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	p.searchRange(a, nrs)
}

func (p *profile) searchRange(a *assembler, nrs []uint32) {
	if len(nrs) <= leafSize {
		p.leaf(a, nrs)
		return
	}
	mid := len(nrs) / 2
	right := a.newLabel()
	a.jump(unix.BPF_JGE, nrs[mid], right, next)
	p.searchRange(a, nrs[:mid])
	a.place(right)
	p.searchRange(a, nrs[mid:])
}

// leaf compares A with a few call numbers and holds their rules, so that
// every jump in it is short. Calls whose only rule is unconditional share
// one return per action.
func (p *profile) leaf(a *assembler, nrs []uint32) {
	rets := map[uint32]label{}
	var retOrder []uint32
	bodies := make([]label, len(nrs))
	rules := make([][]rule, len(nrs))
	for i, nr := range nrs {
		rs := p.effectiveRules(nr)
		rules[i] = rs
		if len(rs) == 1 && len(rs[0].conds) == 0 {
			l, ok := rets[rs[0].ret]
			if !ok {
				l = a.newLabel()
				rets[rs[0].ret] = l
				retOrder = append(retOrder, rs[0].ret)
			}
			bodies[i] = l
		} else {
			bodies[i] = a.newLabel()
		}
		a.jump(unix.BPF_JEQ, nr, bodies[i], next)
	}
	a.ret(p.defaultRet)
	for _, r := range retOrder {
		a.place(rets[r])
		a.ret(r)
	}
	for i, rs := range rules {
		if len(rs) == 1 && len(rs[0].conds) == 0 {
			continue
		}
		a.place(bodies[i])
		p.body(a, rs)
	}
}

// effectiveRules returns nr's rules, most restrictive action first, up
// to the first unconditional one (which always matches).
func (p *profile) effectiveRules(nr uint32) []rule {
	rs := slices.Clone(p.rules[nr])
	sort.SliceStable(rs, func(i, j int) bool { return seccomp.MoreRestrictive(rs[i].ret, rs[j].ret) })
	for i, r := range rs {
		if len(r.conds) == 0 {
			return rs[:i+1]
		}
	}
	return rs
}

// body tries each rule in turn: the first whose conditions all hold
// gives its action; if none does, the default action.
func (p *profile) body(a *assembler, rs []rule) {
	for _, r := range rs {
		fail := a.newLabel()
		for _, c := range r.conds {
			emitCond(a, c, fail)
		}
		a.ret(r.ret)
		a.place(fail)
	}
	if len(rs[len(rs)-1].conds) != 0 {
		a.ret(p.defaultRet)
	}
}

// emitCond emits the 64-bit comparison c of an argument, falling through
// when it holds and jumping to fail when it does not. The argument's low
// word is at offArgs+8*index, its high word 4 bytes further (little
// endian).
func emitCond(a *assembler, c cond, fail label) {
	lo := uint32(offArgs + 8*c.index)
	hi := lo + 4
	v := c.value
	vhi, vlo := uint32(v>>32), uint32(v)
	pass := a.newLabel()
	switch c.op {
	case specs.OpEqualTo:
		a.load(hi)
		a.jump(unix.BPF_JEQ, vhi, next, fail)
		a.load(lo)
		a.jump(unix.BPF_JEQ, vlo, pass, fail)
	case specs.OpNotEqual:
		a.load(hi)
		a.jump(unix.BPF_JEQ, vhi, next, pass)
		a.load(lo)
		a.jump(unix.BPF_JEQ, vlo, fail, pass)
	case specs.OpGreaterThan, specs.OpLessEqual:
		// arg > v; LE is its negation.
		t, f := pass, fail
		if c.op == specs.OpLessEqual {
			t, f = fail, pass
		}
		a.load(hi)
		a.jump(unix.BPF_JGT, vhi, t, next)
		a.jump(unix.BPF_JEQ, vhi, next, f)
		a.load(lo)
		a.jump(unix.BPF_JGT, vlo, t, f)
	case specs.OpGreaterEqual, specs.OpLessThan:
		// arg >= v; LT is its negation.
		t, f := pass, fail
		if c.op == specs.OpLessThan {
			t, f = fail, pass
		}
		a.load(hi)
		a.jump(unix.BPF_JGT, vhi, t, next)
		a.jump(unix.BPF_JEQ, vhi, next, f)
		a.load(lo)
		a.jump(unix.BPF_JGE, vlo, t, f)
	case specs.OpMaskedEqual:
		// (arg & value) == valueTwo.
		m, d := c.value, c.valueTwo
		a.load(hi)
		a.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, uint32(m>>32))
		a.jump(unix.BPF_JEQ, uint32(d>>32), next, fail)
		a.load(lo)
		a.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, uint32(m))
		a.jump(unix.BPF_JEQ, uint32(d), pass, fail)
	default:
		panic("ociseccomp: unchecked operator " + string(c.op))
	}
	a.place(pass)
}
