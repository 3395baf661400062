package seccomp

import (
	"golang.org/x/sys/unix"
)

// Values the Sentry passes.
const (
	// stubThreadClone are the flags of the clone the ptrace platform
	// injects into a stub to create a thread (platform/ptrace
	// cloneFlags).
	stubThreadClone = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM

	// forkExecClone are the flags of syscall.ForkExec's clone with no
	// Cloneflags and no PidFD: the ptrace platform's start of a stub.
	forkExecClone = unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)

	// futexWaitShared and futexWakeShared are FUTEX_WAIT and
	// FUTEX_WAKE without FUTEX_PRIVATE_FLAG.
	futexWaitShared = 0
	futexWakeShared = 1

	// readOnlyOpen are the open(2) flags allowed with O_RDONLY in the
	// Sentry: no writing, creating, truncating or O_PATH.
	readOnlyOpen = unix.O_CLOEXEC | unix.O_LARGEFILE | unix.O_NONBLOCK | unix.O_NOCTTY |
		unix.O_DIRECTORY | unix.O_NOFOLLOW
)

// sentryPtraceRequests are the ptrace requests of the platforms
// (platform/ptrace: sys.go, context.go, addrspace.go; platform/systrap:
// inject.go) and PTRACE_TRACEME,
// made by a stub's fork child (syscall.SysProcAttr.Ptrace).
var sentryPtraceRequests = []uint64{
	unix.PTRACE_TRACEME,
	unix.PTRACE_CONT,
	unix.PTRACE_GETREGS,
	unix.PTRACE_SETREGS,
	unix.PTRACE_SYSEMU,
	unix.PTRACE_SYSEMU_SINGLESTEP, // PTRACE_SINGLESTEP of tracers inside the sandbox
	unix.PTRACE_SETOPTIONS,
	unix.PTRACE_GETSIGINFO,
	unix.PTRACE_GETREGSET,
	unix.PTRACE_SETREGSET,
	unix.PTRACE_SEIZE,
	unix.PTRACE_INTERRUPT,
	unix.PTRACE_DETACH, // systrap parks a mapper thread for reuse
}

// sentryIoctls are the only ioctls the Sentry makes: the host terminal
// operations sentry/fs/host passes through for the sandbox's stdio.
var sentryIoctls = []uint32{
	unix.TCGETS, unix.TCSETS, unix.TCSETSW, unix.TCSETSF, // termios
	unix.TIOCGWINSZ, unix.TIOCSWINSZ, // window size
	unix.TCFLSH,  // tcflush
	unix.TIOCINQ, // FIONREAD
}

// SentryFilter is the Sentry's allowlist. It is also inherited by the stub
// processes of the ptrace platform, so it covers what their fork child
// runs before exec and what the platform injects into them. The systrap
// platform's stubs are forks of a process started before this filter was
// installed, and run under their own, stricter filters only (see
// platform/systrap).
//
// Not allowed, among others: socket, connect, bind and every other network
// call (the Sentry has no network; only socketpair for the stubs; see
// HostNetworkSentryFilter for --network=host), mount,
// open for writing, and any ioctl outside sentryIoctls.
func SentryFilter() Filter {
	rules := goRuntimeRules()
	var ptraceConds []Cond
	for _, r := range sentryPtraceRequests {
		ptraceConds = append(ptraceConds, Cond{Eq(0, r)})
	}
	rules = append(rules, []Rule{
		// memfile, gofer files, ptrace stubs (their mmap of application
		// memory, with PROT_EXEC), runtime.
		{Nr: unix.SYS_MMAP},
		// ptrace: Release and start failures kill stubs; fork child
		// (Pdeathsig check); runtime raise. The Sentry's pid namespace
		// holds only itself and its stubs.
		{Nr: unix.SYS_KILL},
		// ptrace: Interrupt (SIGWINCH to a stub thread); runtime
		// preemption of its own threads.
		{Nr: unix.SYS_TGKILL},

		// sentry/fs/host: stdio fds passed in by runsc.
		{Nr: unix.SYS_READ},
		{Nr: unix.SYS_WRITE},
		{Nr: unix.SYS_IOCTL, If: OneOf32(1, sentryIoctls...)},
		{Nr: unix.SYS_LSEEK},
		{Nr: unix.SYS_PPOLL},
		// sentry/fs/host, sentry/fs/gofer: fsync(2) of the application.
		{Nr: unix.SYS_FSYNC},
		// sentry/fs/gofer: I/O on files opened by the gofer; ptrace: writes the stub memfd.
		{Nr: unix.SYS_PREAD64},
		{Nr: unix.SYS_PWRITE64},
		// sentry/fs/gofer, memfile, ptrace (stubFD), sentry/fs/host.
		{Nr: unix.SYS_FSTAT},
		// ptrace: stubFD checks /proc/<stub>/fd/<n>.
		{Nr: unix.SYS_NEWFSTATAT},
		// ptrace: writeStubFile reopens the stub memfd through
		// /proc/self/fd, read-only, and CPU accounting reads
		// /proc/<stub>/task/<tid>/schedstat. The Sentry never opens
		// anything else; files come from the gofer.
		{Nr: unix.SYS_OPENAT, If: []Cond{{Only32(2, readOnlyOpen)}}},
		// sentry/fs/gofer (truncate), memfile (size).
		{Nr: unix.SYS_FTRUNCATE},
		// memfile (PUNCH_HOLE on decommit), sentry/fs/gofer (fallocate(2)).
		{Nr: unix.SYS_FALLOCATE},
		// memfile, ptrace: the application memory file and the stub image.
		{Nr: unix.SYS_MEMFD_CREATE},
		// syscalls (sysinfo(2)), sentry/fs/proc (meminfo, loadavg).
		{Nr: unix.SYS_SYSINFO},
		// syscalls: adjtimex(2) queries of the application (the Sentry
		// only ever passes modes 0, and without CAP_SYS_TIME the host
		// refuses anything else).
		{Nr: unix.SYS_ADJTIMEX},
		// crypto/rand: AT_RANDOM, getrandom(2), /dev/urandom of the sandbox.
		{Nr: unix.SYS_GETRANDOM},

		// gofer client: the protocol and its SCM_RIGHTS; ptrace: fd passing to stubs.
		{Nr: unix.SYS_SENDMSG},
		{Nr: unix.SYS_RECVMSG},
		// gofer client: net.FileConn on the gofer socket.
		{Nr: unix.SYS_GETSOCKOPT},
		{Nr: unix.SYS_GETSOCKNAME},
		{Nr: unix.SYS_GETPEERNAME},
		// ptrace: the fd passing socket of each stub.
		{Nr: unix.SYS_SOCKETPAIR, If: []Cond{{Eq32(0, unix.AF_UNIX)}}},
		// runsc/control: the control socket runsc bound and passed in
		// (the Sentry cannot create or bind sockets itself).
		{Nr: unix.SYS_ACCEPT4},
		{Nr: unix.SYS_SHUTDOWN},
		{Nr: unix.SYS_SETSOCKOPT, If: []Cond{{Eq32(1, unix.SOL_SOCKET), Eq32(2, unix.SO_SNDBUF)}}},

		// ptrace: the platform.
		{Nr: unix.SYS_PTRACE, If: ptraceConds},
		// systrap: waits for and wake-ups of application threads, on
		// their slots in a memfd shared with the stubs (so not
		// FUTEX_PRIVATE_FLAG, which the Go runtime's own futexes use).
		{Nr: unix.SYS_FUTEX, If: OneOf32(1, futexWaitShared, futexWakeShared)},
		// ptrace: waits for stub threads (wait4(tid, __WALL)).
		{Nr: unix.SYS_WAIT4},
		// ptrace: CPU binding of stub threads.
		{Nr: unix.SYS_GETCPU},
		{Nr: unix.SYS_SCHED_SETAFFINITY},
		// ptrace: RLIMIT_CORE of stubs; fork child: restores RLIMIT_NOFILE.
		{Nr: unix.SYS_PRLIMIT64, If: OneOf32(1, unix.RLIMIT_CORE, unix.RLIMIT_NOFILE)},
		// ptrace: stub threads (injected clone) and stubs (ForkExec).
		{Nr: unix.SYS_CLONE, If: []Cond{{Eq(0, stubThreadClone)}, {Eq(0, forkExecClone)}}},
		// Go never uses clone3 here; ENOSYS would make a libc fall back
		// to clone, whose flags the filter can check.
		{Nr: unix.SYS_CLONE3, Errno: unix.ENOSYS},
		// ForkExec: the child's error pipe.
		{Nr: unix.SYS_PIPE2},
		// ForkExec child of a stub: Setsid, Pdeathsig, Files, then exec of
		// the stub memfd.
		{Nr: unix.SYS_SETSID},
		{Nr: unix.SYS_GETPPID},
		{Nr: unix.SYS_DUP3},
		{Nr: unix.SYS_EXECVE},
		{Nr: unix.SYS_PRCTL, If: []Cond{
			{Eq32(0, unix.PR_SET_PDEATHSIG)},    // ForkExec child
			{Eq32(0, unix.PR_SET_NO_NEW_PRIVS)}, // stub, before its own filter
		}},
		// stub start-up: drops inherited fds, installs its own filter.
		{Nr: unix.SYS_CLOSE_RANGE},
		{Nr: unix.SYS_SECCOMP, If: []Cond{{Eq32(0, unix.SECCOMP_SET_MODE_FILTER), Eq32(1, 0)}}},
		// stub threads idle in pause until seized. (The platform's other
		// injections, munmap, close, exit and recvmsg, are allowed above.)
		{Nr: unix.SYS_PAUSE},
		// Application vsyscalls in a stub: the kernel emulates them
		// through seccomp only, and the stub's filter answers
		// SECCOMP_RET_TRAP (which the platform turns into a system
		// call). The stricter of the two filters wins, so this one must
		// let them through. (getcpu is allowed above.)
		{Nr: unix.SYS_TIME},
		{Nr: unix.SYS_GETTIMEOFDAY},
	}...)
	return Filter{Name: "sentry", Rules: rules, Default: DefaultAction}
}
