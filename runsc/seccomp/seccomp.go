// Package seccomp confines runsc's helper processes, the Sentry ("runsc
// boot") and the gofer, with seccomp-BPF allowlists: once installed, a
// host system call that is not on the process's list, or is on it but
// with arguments the list does not allow, kills the whole process
// (SECCOMP_RET_KILL_PROCESS, as if by SIGSYS) before it runs.
//
// The lists are in sentry.go, gofer.go and runtime.go (what the Go runtime
// of either process needs). Every entry names who needs it. Each filter is
// installed once the process has set itself up (namespaces, mounts,
// capabilities, no_new_privs) and applies to every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC) and to every thread and child it creates
// later. Filters cannot be removed.
//
// The Sentry's filter is inherited by its stub processes (platform/ptrace):
// everything the fork child runs before exec, and the system calls the
// Sentry injects into the stubs, must be on the Sentry's list too. The
// application's own system calls never reach seccomp: the ptrace platform
// runs application code under PTRACE_SYSEMU, which skips them before
// seccomp is consulted.
//
// # When a helper is killed
//
// runsc then reports "sentry killed by bad system call" (exit 159), or the
// gofer dies and the sandbox stops. The kernel logs the system call:
//
//	dmesg | grep 'audit: type=1326'   # ... syscall=NN ... code=0x80000000
//
// NN is the x86-64 system call number (see
// /usr/include/x86_64-linux-gnu/asm/unistd_64.h). If the call is
// legitimate, add it to the list with a comment saying who needs it, and
// with the narrowest argument conditions that still work.
package seccomp

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultAction is what a system call outside a helper's list gets: the
// kernel kills the whole process, all threads at once, before the call
// runs.
const DefaultAction = unix.SECCOMP_RET_KILL_PROCESS

// InstallSentry confines the calling Sentry process, all of its threads,
// and every thread and process it creates from now on, with the filter o
// selects (SentryFilterFor). The process must have no_new_privs set (or
// CAP_SYS_ADMIN).
func InstallSentry(o SentryOptions) error {
	return install(SentryFilterFor(o))
}

// InstallGofer confines the calling gofer process and all of its threads.
// The process must have no_new_privs set (or CAP_SYS_ADMIN).
func InstallGofer() error {
	return install(GoferFilter(os.Getpid()))
}

func install(f Filter) error {
	prog, err := f.Assemble()
	if err != nil {
		return fmt.Errorf("seccomp: %s filter: %w", f.Name, err)
	}
	if err := Install(prog); err != nil {
		return fmt.Errorf("seccomp: %s filter: %w", f.Name, err)
	}
	return nil
}

// Install loads prog as a seccomp filter of the calling process, on all of
// its threads (SECCOMP_FILTER_FLAG_TSYNC).
func Install(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("program of %d instructions (want 1..%d)", len(prog), maxInsns)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w (no_new_privs is not set)", errno)
	case errno != 0:
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	case r != 0:
		// With TSYNC, a positive result is the thread that could not
		// be synchronised; nothing was installed.
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): thread %d cannot be synchronised", r)
	}
	return nil
}
