package ptrace

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform/internal/bpfasm"
)

// The stub's seccomp filter.
//
// Application code only ever runs under PTRACE_SYSEMU, which stops the
// thread at syscall entry and skips the syscall before seccomp is consulted
// (kernel/entry/common.c, syscall_trace_enter), so for correct operation no
// application syscall reaches seccomp at all. The filter is defence in
// depth against a platform bug that lets one through anyway (application
// code resumed with PTRACE_CONT, a detach, ...): every stub is started with
// a filter that lets a system call through only if it is made by one of the
// stub's own syscall instructions, injection sites the Sentry drives, and is
// one that site is used for. Anything else kills the whole stub process
// (SECCOMP_RET_KILL_PROCESS, SIGSYS) before the call runs.
//
// Sites are told apart by seccomp_data.instruction_pointer, which for a
// `syscall` instruction is the address of the instruction after it (the
// rip the kernel saved, in rcx). Only the Sentry's image is in the stub's
// code page, which is never writable, so an application cannot plant
// another syscall instruction at a site address; it can at worst jump to a
// site, where only that site's calls are allowed.
//
// The filter is built at package initialisation into the stub image (see
// buildStubELF) and installed by the control thread as the last step of
// its setup sequence (see buildStubCode), with PR_SET_NO_NEW_PRIVS first
// (required without CAP_SYS_ADMIN, and harmless: the stub never execs).
// Every later stub thread is cloned from the control thread and inherits
// it. No SECCOMP_FILTER_FLAG_SPEC_ALLOW: where the host's policy is to
// apply speculation mitigations to seccomp-confined tasks
// (spec_store_bypass_disable=seccomp, spectre_v2_user=seccomp), untrusted
// application code should get them.
//
// Legacy vsyscalls are the one exception: the kernel emulates a call into
// the vsyscall page (time, gettimeofday, getcpu) from its page fault
// handler, which consults seccomp but not ptrace, so under SYSEMU the host
// used to run them for the application. The filter answers those with
// SECCOMP_RET_TRAP instead, tagged with vsyscallTrapData; the kernel then
// skips the call, completes the emulated `ret`, and the tracer sees a
// SIGSYS, which Switch reports as that system call (see Switch).

// stubSyscallNrs are the system calls injected at the generic site
// (stubSyscall). (Start-up runs a few more, munmap of the exec'd
// mappings, close_range and the filter installation itself, from the
// stub's own setup sequence, whose syscall instructions are no sites.)
var stubSyscallNrs = []uintptr{unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_CLOSE, unix.SYS_EXIT}

// vsyscallTrapData is the SECCOMP_RET_DATA of the filter's answer to a
// vsyscall; the kernel passes it to the tracer in si_errno.
const vsyscallTrapData = 0x5653

// The legacy vsyscall page.
const vsyscallPage = 0xffff_ffff_ff60_0000

// sysSeccomp is SYS_SECCOMP, the si_code of a SIGSYS sent by seccomp.
const sysSeccomp = 1

// isVsyscall reports whether addr is in the vsyscall page.
func isVsyscall(addr uint64) bool { return addr&^(pageSize-1) == vsyscallPage }

// stubSite is a syscall instruction of the stub and what it may run.
type stubSite struct {
	ret uintptr   // address of the next instruction
	nrs []uintptr // the system calls allowed there
	// If checkArg0, the first argument must be arg0.
	checkArg0 bool
	arg0      uint64
}

// stubSites lists every syscall instruction in the stub code. Once the
// filter is installed, a system call made anywhere else kills the stub.
func stubSites() []stubSite {
	return []stubSite{
		{ret: stubSyscallRet, nrs: stubSyscallNrs},
		// Only ever the thread-creating clone of newThread.
		{ret: stubCloneRet, nrs: []uintptr{unix.SYS_CLONE}, checkArg0: true, arg0: cloneFlags},
		{ret: stubPauseRet, nrs: []uintptr{unix.SYS_PAUSE}},
		{ret: stubRecvRet, nrs: []uintptr{unix.SYS_RECVMSG}},
		// None of these calls can be restarted with restart_syscall
		// (-ERESTART_RESTARTBLOCK), so that is not needed anywhere.
	}
}

// Offsets in struct seccomp_data (little endian).
const (
	seccompNr     = bpfasm.DataNr
	seccompArch   = bpfasm.DataArch
	seccompIPLo   = bpfasm.DataIPLo
	seccompIPHi   = bpfasm.DataIPHi
	seccompArg0Lo = 16
	seccompArg0Hi = 20
)

// buildStubFilter returns the stub's seccomp filter:
//
//	if arch != AUDIT_ARCH_X86_64: kill
//	for each site: if ip == site.ret:
//		if nr in site.nrs (and arg0 == site.arg0 if checked): allow
//		kill
//	if ip in the vsyscall page: trap (vsyscallTrapData)
//	kill
//
// The architecture check also catches int $0x80 (AUDIT_ARCH_I386); x32
// system call numbers have bit 30 set and match no allowed number.
func buildStubFilter() []unix.SockFilter {
	const (
		kill  = unix.SECCOMP_RET_KILL_PROCESS
		allow = unix.SECCOMP_RET_ALLOW
		trap  = unix.SECCOMP_RET_TRAP | vsyscallTrapData
	)
	sites := stubSites()
	var a bpfasm.Asm
	a.Ld(seccompArch)
	a.Jeq(unix.AUDIT_ARCH_X86_64, "", "kill")
	a.Ld(seccompIPHi)
	a.Jeq(uint32(stubCodePage>>32), "", "other")
	a.Ld(seccompIPLo)
	for i, s := range sites {
		if s.ret>>32 != stubCodePage>>32 {
			panic("ptrace: stub site outside the stub page")
		}
		a.Jeq(uint32(s.ret), fmt.Sprint("site", i), "")
	}
	a.Ret(kill)
	for i, s := range sites {
		a.Label(fmt.Sprint("site", i))
		a.Ld(seccompNr)
		ok := "allow"
		if s.checkArg0 {
			ok = fmt.Sprint("arg0-", i)
		}
		for _, nr := range s.nrs {
			a.Jeq(uint32(nr), ok, "")
		}
		a.Ret(kill)
		if s.checkArg0 {
			a.Label(ok)
			a.Ld(seccompArg0Lo)
			a.Jeq(uint32(s.arg0), "", "kill")
			a.Ld(seccompArg0Hi)
			a.Jeq(uint32(s.arg0>>32), "allow", "kill")
		}
	}
	a.Label("other") // A = instruction_pointer >> 32
	a.Jeq(vsyscallPage>>32, "", "kill")
	a.Ld(seccompIPLo)
	a.And(^uint32(pageSize - 1))
	a.Jeq(vsyscallPage&0xffff_ffff, "", "kill")
	a.Ret(trap)
	a.Label("allow")
	a.Ret(allow)
	a.Label("kill")
	a.Ret(kill)
	return a.Assemble()
}
