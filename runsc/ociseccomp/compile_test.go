package ociseccomp

import (
	"encoding/json"
	"math/rand"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"github.com/veil-sandbox/veil/syscalls/sysno"
	"golang.org/x/sys/unix"
)

func loadProfile(t testing.TB, name string) *specs.LinuxSeccomp {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func compile(t *testing.T, s *specs.LinuxSeccomp) *seccomp.Filter {
	t.Helper()
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func nr(t *testing.T, name string) int32 {
	t.Helper()
	n, ok := sysno.Number(name)
	if !ok {
		t.Fatalf("no system call %q", name)
	}
	return int32(n)
}

// call is a native system call.
func call(n int32, args ...uint64) *seccomp.Data {
	d := &seccomp.Data{Nr: n, Arch: unix.AUDIT_ARCH_X86_64, InstructionPointer: 0x401000}
	copy(d.Args[:], args)
	return d
}

const (
	allow = uint32(seccomp.ActionAllow)
	eperm = seccomp.ActionErrno | uint32(unix.EPERM)
)

func TestDockerDefault(t *testing.T) {
	s := loadProfile(t, "docker-default.json")
	f := compile(t, s)
	t.Logf("docker's default profile: %d instructions", f.Len())
	const (
		sigchld      = uint64(unix.SIGCHLD)
		threadFlags  = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
		enosys       = seccomp.ActionErrno | uint32(unix.ENOSYS)
		afVsock      = 40
		addrNoRandom = 0x0040000
	)
	for _, c := range []struct {
		what string
		d    *seccomp.Data
		want uint32
	}{
		{"read", call(nr(t, "read"), 0, 0x1000, 10), allow},
		{"mkdir", call(nr(t, "mkdir")), allow},
		{"execve", call(nr(t, "execve")), allow},
		{"rt_sigreturn", call(nr(t, "rt_sigreturn")), allow},
		{"futex_waitv (the highest named)", call(nr(t, "futex_waitv")), allow},
		{"fork's clone", call(nr(t, "clone"), sigchld), allow},
		{"pthread_create's clone", call(nr(t, "clone"), threadFlags), allow},
		{"clone(CLONE_NEWNS)", call(nr(t, "clone"), unix.CLONE_NEWNS|sigchld), eperm},
		{"clone(CLONE_NEWUSER)", call(nr(t, "clone"), unix.CLONE_NEWUSER), eperm},
		{"clone(CLONE_NEWPID)", call(nr(t, "clone"), unix.CLONE_NEWPID), eperm},
		{"clone with high flag bits", call(nr(t, "clone"), 1<<40|sigchld), allow},
		{"clone3", call(nr(t, "clone3")), enosys},
		{"personality(PER_LINUX)", call(nr(t, "personality"), 0), allow},
		{"personality(UNAME26)", call(nr(t, "personality"), 0x0020000), allow},
		{"personality(PER_LINUX32)", call(nr(t, "personality"), 8), allow},
		{"personality(query)", call(nr(t, "personality"), 0xffffffff), allow},
		{"personality(-1 as 64 bits)", call(nr(t, "personality"), ^uint64(0)), eperm},
		{"personality(ADDR_NO_RANDOMIZE)", call(nr(t, "personality"), addrNoRandom), eperm},
		{"socket(AF_INET)", call(nr(t, "socket"), unix.AF_INET, unix.SOCK_STREAM), allow},
		{"socket(AF_VSOCK)", call(nr(t, "socket"), afVsock), eperm},
		{"socket(AF_VSOCK + 1<<32)", call(nr(t, "socket"), 1<<32|afVsock), allow},
		{"mount", call(nr(t, "mount")), eperm},
		{"unshare", call(nr(t, "unshare")), eperm},
		{"kexec_load", call(nr(t, "kexec_load")), eperm},
		{"bpf", call(nr(t, "bpf")), eperm},
		{"ptrace", call(nr(t, "ptrace")), allow},
		{"chroot", call(nr(t, "chroot")), allow},
		{"arch_prctl", call(nr(t, "arch_prctl")), allow},
		{"set_mempolicy_home_node (newer than futex_waitv)", call(nr(t, "set_mempolicy_home_node")), enosys},
		{"fchmodat2", call(nr(t, "fchmodat2")), enosys},
		{"syscall 1000", call(1000), enosys},
		{"syscall -1 (x32 bit set)", call(-1), eperm},
		{"x32 read", call(x32SyscallBit | 0), eperm},
		{"i386 getpid", &seccomp.Data{Nr: 20, Arch: unix.AUDIT_ARCH_I386}, eperm},
		{"aarch64", &seccomp.Data{Nr: 0, Arch: unix.AUDIT_ARCH_AARCH64}, seccomp.ActionKillThread},
	} {
		if got := f.Run(c.d); got != c.want {
			t.Errorf("%s: %s, want %s", c.what, seccomp.ActionString(got), seccomp.ActionString(c.want))
		}
	}
	// Every amd64 name of the allow list is allowed, whatever the
	// arguments.
	for _, name := range s.Syscalls[0].Names {
		if n, ok := sysno.Number(name); ok {
			if got := f.Run(call(int32(n), 1, 2, 3)); got != allow {
				t.Errorf("%s: %s, want ALLOW", name, seccomp.ActionString(got))
			}
		}
	}
}

func errnoRet(e uint) *uint { return &e }

func TestRules(t *testing.T) {
	mkdir, getpid, kill := nr(t, "mkdir"), nr(t, "getpid"), nr(t, "kill")
	f := compile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat", "chown32", "no_such_call"}, Action: specs.ActErrno},
			{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: errnoRet(0)},
			// Different arguments: ANDed.
			{Names: []string{"kill"}, Action: specs.ActKillProcess, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			// The same argument twice: ORed (runc).
			{Names: []string{"kill"}, Action: specs.ActTrap, Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: 15, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}}},
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: errnoRet(uint(unix.ESRCH)), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1000, Op: specs.OpGreaterThan}}},
			// Redundant with the default: skipped.
			{Names: []string{"kill"}, Action: specs.ActAllow},
		},
	})
	esrch := seccomp.ActionErrno | uint32(unix.ESRCH)
	for _, c := range []struct {
		what string
		d    *seccomp.Data
		want uint32
	}{
		{"mkdir", call(mkdir), eperm},
		{"mkdirat", call(nr(t, "mkdirat")), eperm},
		{"rmdir", call(nr(t, "rmdir")), allow},
		{"getpid with errnoRet 0", call(getpid), seccomp.ActionErrno},
		{"kill(1, 9)", call(kill, 1, 9), seccomp.ActionKillProcess},
		{"kill(1, 8)", call(kill, 1, 8), allow},
		{"kill(2, 9)", call(kill, 2, 9), allow},
		{"kill(2, 15)", call(kill, 2, 15), seccomp.ActionTrap},
		{"kill(2, 2)", call(kill, 2, 2), seccomp.ActionTrap},
		{"kill(2000, 0)", call(kill, 2000, 0), esrch},
		{"kill(2000, 15): most restrictive", call(kill, 2000, 15), seccomp.ActionTrap},
		{"kill(1, 9+1<<32)", call(kill, 1, 1<<32|9), allow},
		// No architectures: no ENOSYS stub and other ABIs are killed.
		{"syscall 1000", call(1000), allow},
		{"i386", &seccomp.Data{Nr: 39, Arch: unix.AUDIT_ARCH_I386}, seccomp.ActionKillThread},
		{"x32", call(x32SyscallBit | 39), seccomp.ActionKillThread},
	} {
		if got := f.Run(c.d); got != c.want {
			t.Errorf("%s: %s, want %s", c.what, seccomp.ActionString(got), seccomp.ActionString(c.want))
		}
	}
}

func TestOperators(t *testing.T) {
	values := []uint64{0, 1, 2, 0xffffffff, 1 << 32, 1<<32 | 1, 0xfffffffe_ffffffff, ^uint64(0), 0x8000_0000_0000_0000}
	for _, op := range []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual} {
		for _, v := range values {
			for _, v2 := range []uint64{0, 1, 1 << 32} {
				f := compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
					Names: []string{"read"}, Action: specs.ActErrno,
					Args: []specs.LinuxSeccompArg{{Index: 3, Value: v, ValueTwo: v2, Op: op}}}}})
				for _, arg := range values {
					want := allow
					if holds(cond{op: op, value: v, valueTwo: v2}, arg) {
						want = eperm
					}
					if got := f.Run(call(0, 0, 0, 0, arg)); got != want {
						t.Errorf("arg %#x %s %#x (%#x): %s, want %s", arg, op, v, v2,
							seccomp.ActionString(got), seccomp.ActionString(want))
					}
				}
			}
		}
	}
}

// holds is the meaning of a condition, for checking the compiled code.
func holds(c cond, arg uint64) bool {
	switch c.op {
	case specs.OpNotEqual:
		return arg != c.value
	case specs.OpLessThan:
		return arg < c.value
	case specs.OpLessEqual:
		return arg <= c.value
	case specs.OpEqualTo:
		return arg == c.value
	case specs.OpGreaterEqual:
		return arg >= c.value
	case specs.OpGreaterThan:
		return arg > c.value
	case specs.OpMaskedEqual:
		return arg&c.value == c.valueTwo
	}
	panic(c.op)
}

// reference evaluates a parsed profile directly, for native calls.
func reference(p *profile, d *seccomp.Data) uint32 {
	nr := uint32(d.Nr)
	if nr&x32SyscallBit != 0 {
		if p.x32 {
			return p.defaultRet
		}
		return badArchRet
	}
	if p.enosysStub() && nr > p.maxNr {
		return seccomp.ActionErrno | uint32(unix.ENOSYS)
	}
	ret, matched := uint32(0), false
	for _, r := range p.rules[nr] {
		ok := true
		for _, c := range r.conds {
			ok = ok && holds(c, d.Args[c.index])
		}
		if ok && (!matched || seccomp.MoreRestrictive(r.ret, ret)) {
			ret, matched = r.ret, true
		}
	}
	if !matched {
		return p.defaultRet
	}
	return ret
}

// TestRandomProfiles checks compiled random profiles, large enough to
// need long jumps, against the reference semantics.
func TestRandomProfiles(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	ops := []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual}
	acts := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActTrap, specs.ActLog, specs.ActKill}
	vals := []uint64{0, 1, 5, 1 << 32, 0xffffffff, ^uint64(0)}
	var names []string
	for n := uint64(0); n < 470; n++ {
		if name, ok := sysno.Name(n); ok {
			names = append(names, name)
		}
	}
	long, tooBig := false, 0
	for i := 0; i < 60; i++ {
		s := &specs.LinuxSeccomp{DefaultAction: acts[r.Intn(len(acts))]}
		if r.Intn(2) == 0 {
			s.Architectures = []specs.Arch{specs.ArchX86_64}
		}
		for j := r.Intn(250); j > 0; j-- {
			sc := specs.LinuxSyscall{Action: acts[r.Intn(len(acts))]}
			for k := 1 + r.Intn(3); k > 0; k-- {
				sc.Names = append(sc.Names, names[r.Intn(len(names))])
			}
			for k := r.Intn(4); k > 0; k-- {
				sc.Args = append(sc.Args, specs.LinuxSeccompArg{Index: uint(r.Intn(3)), Op: ops[r.Intn(len(ops))],
					Value: vals[r.Intn(len(vals))], ValueTwo: vals[r.Intn(2)]})
			}
			if sc.Action == specs.ActErrno && r.Intn(2) == 0 {
				sc.ErrnoRet = errnoRet(uint(r.Intn(200)))
			}
			s.Syscalls = append(s.Syscalls, sc)
		}
		p, err := parse(s)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := Program(s)
		if err != nil && strings.Contains(err.Error(), "more than seccomp's 4096") {
			tooBig++
			continue
		}
		if err != nil {
			t.Fatalf("profile %d: %v", i, err)
		}
		f, err := seccomp.NewFilter(prog)
		if err != nil {
			t.Fatalf("profile %d: %v", i, err)
		}
		for j := 0; j < 2000; j++ {
			d := call(int32(r.Intn(480)), vals[r.Intn(len(vals))], vals[r.Intn(len(vals))], vals[r.Intn(len(vals))])
			if j%50 == 0 {
				d.Nr |= x32SyscallBit
			}
			long = long || len(prog) > 256
			if got, want := f.Run(d), reference(p, d); got != want {
				t.Fatalf("profile %d (%d instructions), %+v: %s, want %s", i, len(prog), d,
					seccomp.ActionString(got), seccomp.ActionString(want))
			}
		}
	}
	if !long || tooBig > 10 {
		t.Errorf("long jumps needed: %v; %d profiles of 60 too big", long, tooBig)
	}
}

func TestErrors(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, c := range []struct {
		s    specs.LinuxSeccomp
		want string
	}{
		{specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "SCMP_ACT_NOTIFY is not supported"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/run/agent.sock",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}},
			"syscalls[0] ([mount]): action SCMP_ACT_NOTIFY is not supported"},
		{specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_YOLO"}, `unknown action "SCMP_ACT_YOLO"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}}, "no names"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "argument index 6"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ABOUT"}}}}}, `unknown operator "SCMP_CMP_ABOUT"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errnoRet(70000)}, "errno 70000"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, `unknown architecture "SCMP_ARCH_Z80"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}},
			`flags: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" is not supported`},
	} {
		_, err := Compile(&c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "linux.seccomp: ") {
			t.Errorf("%+v: error %v, want one containing %q", c.s, err, c.want)
		}
	}
	// Accepted: the flags the Sentry can honour, every architecture
	// name of the runtime spec.
	good := specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok},
		Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"},
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM,
			specs.ArchRISCV64, specs.ArchS390X, specs.ArchPPC64LE, specs.ArchMIPSEL64}}
	if _, err := Compile(&good); err != nil {
		t.Errorf("%v", err)
	}
}

func TestAssemblerLongJumps(t *testing.T) {
	// A jump over 300 instructions needs a trampoline; so does the one
	// over it once the first has grown.
	a := &assembler{}
	far, far2 := a.newLabel(), a.newLabel()
	a.load(0)
	a.jump(unix.BPF_JEQ, 1, far2, next)
	a.jump(unix.BPF_JEQ, 2, next, far)
	for i := 0; i < 254; i++ {
		a.stmt(unix.BPF_LD|unix.BPF_IMM, 0)
	}
	a.ret(1)
	a.place(far)
	a.ret(2)
	a.place(far2)
	a.ret(3)
	prog, err := a.assemble()
	if err != nil {
		t.Fatal(err)
	}
	f, err := seccomp.NewFilter(prog)
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int32]uint32{1: 3, 2: 1, 3: 2} {
		if got := f.Run(&seccomp.Data{Nr: n}); got != want {
			t.Errorf("nr %d: %d, want %d", n, got, want)
		}
	}
}

// BenchmarkDockerDefault measures docker's default profile on a call
// whose verdict is cached and on one whose arguments must be looked at.
func BenchmarkDockerDefault(b *testing.B) {
	s := loadProfile(b, "docker-default.json")
	f, err := Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    *seccomp.Data
	}{
		{"read", call(unix.SYS_READ, 0, 0, 1)},
		{"clone", call(unix.SYS_CLONE, uint64(unix.SIGCHLD))},
		{"personality", call(unix.SYS_PERSONALITY, 0xffffffff)},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				f.Run(c.d)
			}
		})
	}
}
