package seccomp

import (
	"golang.org/x/sys/unix"
)

// Values the Go runtime passes (runtime/os_linux.go, sys_linux_amd64.s).
const (
	// goThreadClone are the flags of the runtime's clone for a new M
	// (cloneFlags | CLONE_SETTLS).
	goThreadClone = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_SYSVSEM | unix.CLONE_THREAD | unix.CLONE_SETTLS

	futexWaitPrivate = 0 | futexPrivateFlag // FUTEX_WAIT_PRIVATE
	futexWakePrivate = 1 | futexPrivateFlag // FUTEX_WAKE_PRIVATE
	futexPrivateFlag = 128
)

// goRuntimeRules are the system calls the Go runtime (and the os, net and
// syscall packages as runsc uses them) makes in a running program, after
// start-up: scheduling, memory, signals, timers and the network poller.
// The calls that either helper restricts further (mmap, kill, tgkill) are
// in its own list.
func goRuntimeRules() []Rule {
	return []Rule{
		// runtime: netpoll eventfd, cgroup CPU limit (GOMAXPROCS); everyone: fds.
		{Nr: unix.SYS_READ},
		// runtime: netpoll eventfd, crash and panic output.
		{Nr: unix.SYS_WRITE},
		// runtime (cgroup files), os, net: every fd is closed eventually.
		{Nr: unix.SYS_CLOSE},
		// runtime: heap and stacks are returned to the kernel.
		{Nr: unix.SYS_MUNMAP},
		// runtime: scavenger (MADV_DONTNEED and friends).
		{Nr: unix.SYS_MADVISE},
		// runtime: sysFault (GODEBUG=efence, arenas) makes memory PROT_NONE.
		{Nr: unix.SYS_MPROTECT, If: []Cond{{Eq(2, unix.PROT_NONE)}}},
		// runtime: signal handlers (os/signal, crash: re-raise with SIG_DFL).
		{Nr: unix.SYS_RT_SIGACTION},
		// runtime: new Ms, signal masks around fork.
		{Nr: unix.SYS_RT_SIGPROCMASK},
		// kernel: return from every signal handler (preemption, SIGCHLD).
		{Nr: unix.SYS_RT_SIGRETURN},
		// runtime: signal stack of each new M.
		{Nr: unix.SYS_SIGALTSTACK},
		// runtime: osyield in locks and the scheduler.
		{Nr: unix.SYS_SCHED_YIELD},
		// runtime: usleep.
		{Nr: unix.SYS_NANOSLEEP},
		// kernel: resumes a nanosleep interrupted by a signal.
		{Nr: unix.SYS_RESTART_SYSCALL},
		// runtime: locks, notes and thread parking; private ops only.
		{Nr: unix.SYS_FUTEX, If: OneOf32(1, futexWaitPrivate, futexWakePrivate)},
		// runtime: signal handling, raise.
		{Nr: unix.SYS_GETPID},
		// runtime: minit, signal forwarding.
		{Nr: unix.SYS_GETTID},
		// runtime: new Ms are threads, nothing else.
		{Nr: unix.SYS_CLONE, If: []Cond{{Eq(0, goThreadClone)}}},
		// runtime: an M exits (e.g. a goroutine that ends locked to it).
		{Nr: unix.SYS_EXIT},
		// runtime: os.Exit, fatal errors.
		{Nr: unix.SYS_EXIT_GROUP},
		// runtime: nanotime/walltime when the vDSO cannot serve them.
		{Nr: unix.SYS_CLOCK_GETTIME},
		// runtime: GOMAXPROCS follows the CPU affinity (sysmon).
		{Nr: unix.SYS_SCHED_GETAFFINITY},
		// runtime: the network poller (os.File, net.UnixConn).
		{Nr: unix.SYS_EPOLL_CREATE1},
		{Nr: unix.SYS_EPOLL_CTL},
		{Nr: unix.SYS_EPOLL_PWAIT},
		{Nr: unix.SYS_EVENTFD2},
		// os, net, syscall: F_GETFL/F_SETFL (non-blocking I/O), F_DUPFD_CLOEXEC, F_SETFD.
		{Nr: unix.SYS_FCNTL},
		// runtime: names its anonymous mappings (GODEBUG=decoratemappings).
		{Nr: unix.SYS_PRCTL, If: []Cond{{Eq32(0, unix.PR_SET_VMA), Eq(1, unix.PR_SET_VMA_ANON_NAME)}}},
		// runtime: rereads the cgroup CPU limit (GOMAXPROCS) from open fds.
		{Nr: unix.SYS_PREAD64},
	}
}
