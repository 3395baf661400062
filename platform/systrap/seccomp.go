package systrap

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform/internal/bpfasm"
)

// The stub's seccomp filters.
//
// Every stub thread runs under the stub filter, installed by the zygote
// and inherited by every fork and thread:
//
//   - a system call from application code (any address outside the stub
//     pages) gets SECCOMP_RET_TRAP: the kernel skips it and sends SIGSYS,
//     whose handler hands it to the Sentry. That is how application
//     system calls reach the Sentry, and the only thing they can do.
//   - a system call from the stub pages is allowed only if it is made by
//     one of the stub's own syscall instructions (told apart by
//     seccomp_data.instruction_pointer, the address after the
//     instruction) and is one that site is used for, with the arguments
//     it is used with where they matter; anything else kills the stub.
//
// That alone would let application code jump to an injection site (say
// the generic `syscall; int3`) with registers of its choosing and map
// whatever it likes. So application threads also run under the app
// filter, which each installs on itself (no TSYNC) before it ever runs
// application code: from the stub pages, it allows only the signal
// handler's own system calls (futex on the slot, rt_sigreturn, exit,
// arch_prctl of FS/GS); every other stub site kills the stub. Threads
// that are not the application's (the zygote, control and mapper threads)
// never run application code: they only run stub code, resumed by the
// Sentry with ptrace and registers the Sentry chose, and they use no
// memory the application could change in a way that matters (the
// recvmsg buffers are rebuilt from registers; the received fd is checked
// against /proc, as in the ptrace platform).
//
// Stacked filters take the strictest verdict, so an application thread
// gets TRAP for its own system calls, KILL for a stub site it may not
// use, and ALLOW only at the handler's sites.
//
// Legacy vsyscalls: the kernel emulates a call into the vsyscall page
// from its page fault handler, consulting seccomp; the stub filter
// answers SECCOMP_RET_TRAP tagged with vsyscallTrapData, the kernel skips
// the call and completes its `ret`, and the Sentry sees a SIGSYS that it
// reports as that system call (as the ptrace platform does).
//
// 32-bit system calls (int $0x80, or a far jump to a 32-bit code
// segment) from application code are trapped too, so the Sentry can fail
// them with ENOSYS as it does on the ptrace platform; from the stub
// pages they kill the stub.

const (
	// appTrapData is the SECCOMP_RET_DATA of an application system call;
	// the kernel passes it in si_errno.
	appTrapData = 0x5654
	// vsyscallTrapData tags a vsyscall.
	vsyscallTrapData = 0x5653
	// sysSeccomp is SYS_SECCOMP, the si_code of a SIGSYS sent by seccomp.
	sysSeccomp = 1
)

// The legacy vsyscall page.
const vsyscallPage = 0xffff_ffff_ff60_0000

func isVsyscall(addr uint64) bool { return addr&^(pageSize-1) == vsyscallPage }

// site is a syscall instruction of the stub and what it may run there.
type site struct {
	name string
	ret  uintptr   // address of the next instruction
	nrs  []uintptr // the system calls allowed there
	args []argEq   // required argument values
	// app: application threads may use it (the handler's sites).
	app bool
}

// argEq requires argument i to be one of vs.
type argEq struct {
	i  int
	vs []uint64
}

// sites lists every syscall instruction in the stub code that may run
// after the zygote's set-up. A system call made anywhere else in the stub
// kills it.
func (st *stubSites) sites() []site {
	futexOp := func(op uint64) []argEq { return []argEq{{1, []uint64{op}}} }
	s := []site{
		{name: "syscall", ret: st.retSyscall, nrs: []uintptr{unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_CLOSE, unix.SYS_EXIT}},
		{name: "batch", ret: st.retBatch, nrs: []uintptr{unix.SYS_MMAP, unix.SYS_MUNMAP}},
		{name: "fork", ret: st.retFork, nrs: []uintptr{unix.SYS_CLONE}, args: []argEq{{0, []uint64{forkFlags}}}},
		{name: "clone mapper", ret: st.retCloneM, nrs: []uintptr{unix.SYS_CLONE}, args: []argEq{{0, []uint64{threadFlags}}}},
		{name: "clone app", ret: st.retCloneA, nrs: []uintptr{unix.SYS_CLONE}, args: []argEq{{0, []uint64{appThreadFlags}}}},
		{name: "pause", ret: st.retPause, nrs: []uintptr{unix.SYS_PAUSE}},
		{name: "recvmsg", ret: st.retRecv, nrs: []uintptr{unix.SYS_RECVMSG}},
		{name: "sigaltstack", ret: st.retAltStack, nrs: []uintptr{unix.SYS_SIGALTSTACK}},
		{name: "seccomp", ret: st.retSeccomp, nrs: []uintptr{unix.SYS_SECCOMP}, args: []argEq{
			{0, []uint64{unix.SECCOMP_SET_MODE_FILTER}}, {1, []uint64{0}}, {2, []uint64{uint64(st.appFprog)}},
		}},
		{name: "futex wake", ret: st.retWake, nrs: []uintptr{unix.SYS_FUTEX}, args: futexOp(futexOpWake), app: true},
		{name: "futex wait", ret: st.retWait, nrs: []uintptr{unix.SYS_FUTEX}, args: futexOp(futexOpWait), app: true},
		{name: "rt_sigreturn", ret: st.retSigreturn, nrs: []uintptr{unix.SYS_RT_SIGRETURN}, app: true},
		{name: "exit", ret: st.retExit, nrs: []uintptr{unix.SYS_EXIT}, app: true},
	}
	for i, r := range st.retArchPrctl {
		s = append(s, site{name: fmt.Sprint("arch_prctl ", i), ret: r, nrs: []uintptr{unix.SYS_ARCH_PRCTL},
			args: []argEq{{0, []uint64{archGetFS, archGetGS, archSetFS, archSetGS}}}, app: true})
	}
	return s
}

const stubPagesHi = uint32(stubBase >> 32)

// buildStubFilter returns the filter every stub thread runs under:
//
//	if arch != AUDIT_ARCH_X86_64: kill from the stub pages, else trap
//	if ip is in the stub pages:
//		for each site: if ip == site.ret:
//			if nr and args are the site's: allow
//			kill
//		kill
//	if ip is in the vsyscall page: trap (vsyscallTrapData)
//	trap (appTrapData)
func buildStubFilter(st *stubSites) []unix.SockFilter {
	const (
		kill = unix.SECCOMP_RET_KILL_PROCESS
		trap = unix.SECCOMP_RET_TRAP | appTrapData
	)
	var a bpfasm.Asm
	a.Ld(bpfasm.DataArch)
	a.Jeq(unix.AUDIT_ARCH_X86_64, "native", "")
	a.Ld(bpfasm.DataIPHi)
	a.Jeq(stubPagesHi, "kill", "trap")

	a.Label("native")
	a.Ld(bpfasm.DataIPHi)
	a.Jeq(stubPagesHi, "", "other")
	a.Ld(bpfasm.DataIPLo)
	sites := st.sites()
	for i, s := range sites {
		if s.ret>>32 != stubBase>>32 {
			panic("systrap: stub site outside the stub pages")
		}
		a.Jeq(uint32(s.ret), fmt.Sprint("site", i), "")
	}
	a.Ret(kill)
	for i, s := range sites {
		a.Label(fmt.Sprint("site", i))
		a.Ld(bpfasm.DataNr)
		next := fmt.Sprint("args", i)
		if len(s.args) == 0 {
			next = "allow"
		}
		for _, nr := range s.nrs {
			a.Jeq(uint32(nr), next, "")
		}
		a.Ret(kill)
		if len(s.args) > 0 {
			a.Label(next)
			argLabel := func(j int) string { return fmt.Sprintf("arg%d.%d", i, j) }
			valLabel := func(j, k int) string { return fmt.Sprintf("val%d.%d.%d", i, j, k) }
			for j, arg := range s.args {
				if j > 0 {
					a.Label(argLabel(j))
				}
				ok := "allow"
				if j+1 < len(s.args) {
					ok = argLabel(j + 1)
				}
				// Both halves of the argument must match one of the
				// values.
				for k, v := range arg.vs {
					if k > 0 {
						a.Label(valLabel(j, k))
					}
					other := "kill"
					if k+1 < len(arg.vs) {
						other = valLabel(j, k+1)
					}
					a.Ld(bpfasm.DataArgLo(arg.i))
					a.Jeq(uint32(v), "", other)
					a.Ld(bpfasm.DataArgHi(arg.i))
					a.Jeq(uint32(v>>32), ok, other)
				}
			}
		}
	}
	a.Label("other") // A = instruction_pointer >> 32
	a.Jeq(vsyscallPage>>32, "", "trap")
	a.Ld(bpfasm.DataIPLo)
	a.And(^uint32(pageSize - 1))
	a.Jeq(vsyscallPage&0xffff_ffff, "", "trap")
	a.Ret(unix.SECCOMP_RET_TRAP | vsyscallTrapData)
	a.Label("trap")
	a.Ret(trap)
	a.Label("allow")
	a.Ret(unix.SECCOMP_RET_ALLOW)
	a.Label("kill")
	a.Ret(kill)
	return a.Assemble()
}

// buildAppFilter returns the filter application threads add on top of
// the stub filter:
//
//	if arch == AUDIT_ARCH_X86_64 and ip is in the stub pages:
//		if ip is a handler site: allow (the stub filter checks the call)
//		kill
//	allow (the stub filter traps the call)
func buildAppFilter(st *stubSites) []unix.SockFilter {
	var a bpfasm.Asm
	a.Ld(bpfasm.DataArch)
	a.Jeq(unix.AUDIT_ARCH_X86_64, "", "allow")
	a.Ld(bpfasm.DataIPHi)
	a.Jeq(stubPagesHi, "", "allow")
	a.Ld(bpfasm.DataIPLo)
	for _, s := range st.sites() {
		if s.app {
			a.Jeq(uint32(s.ret), "allow", "")
		}
	}
	a.Ret(unix.SECCOMP_RET_KILL_PROCESS)
	a.Label("allow")
	a.Ret(unix.SECCOMP_RET_ALLOW)
	return a.Assemble()
}
