package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CheckHost says, as an error naming what is missing, why this host
// cannot run a sandbox: the failures it finds would otherwise surface
// later as a bare "operation not permitted" from deep inside the start.
// It does not need host user namespaces (the Sentry makes its own), so
// it does not check for them.
func CheckHost() error {
	if err := checkCapabilities(); err != nil {
		return err
	}
	if err := checkSeccomp(); err != nil {
		return err
	}
	return checkPtrace()
}

// checkCapabilities: the Sentry and gofer get namespaces of their own and
// the gofer mounts and pivot_roots, all of which need CAP_SYS_ADMIN; a
// root without it is typically root in an unprivileged container.
func checkCapabilities() error {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("reading the capabilities: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return fmt.Errorf("reading the capabilities: CapEff %q: %w", hex, err)
		}
		if eff&(1<<unix.CAP_SYS_ADMIN) == 0 {
			return fmt.Errorf("runsc needs CAP_SYS_ADMIN to create the sandbox's namespaces and mounts, and this root lacks it (in a container? run it privileged, or run runsc on the host)")
		}
		return nil
	}
	return fmt.Errorf("reading the capabilities: no CapEff in /proc/self/status")
}

// checkSeccomp: runsc confines the Sentry and gofer with seccomp filters,
// and systrap traps the application's system calls with one.
func checkSeccomp() error {
	for _, action := range []uint32{unix.SECCOMP_RET_ERRNO, unix.SECCOMP_RET_TRAP} {
		a := action
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&a)))
		if errno != 0 {
			return fmt.Errorf("seccomp filters are not available here (seccomp(SECCOMP_GET_ACTION_AVAIL): %v): runsc needs a kernel with CONFIG_SECCOMP_FILTER, allowed to use seccomp(2)", errno)
		}
	}
	return nil
}

// checkPtrace asks for something ptrace(2) cannot do (the registers of
// pid 0, which no process has): a kernel that allows ptrace says ESRCH,
// while a seccomp profile that forbids it (docker's default on older
// kernels) says EPERM. Yama's ptrace_scope 3 forbids PTRACE_TRACEME, which
// both platforms start their stubs with, and is read from its sysctl.
// Two cheap system calls instead of starting a traced child on every
// create: the check is on every sandbox's start path.
func checkPtrace() error {
	const advice = "runsc's platforms (systrap and ptrace) need it: allow ptrace in the seccomp profile runsc runs under, and keep kernel.yama.ptrace_scope at 2 or less"
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKUSR, 0, 0, 0, 0, 0)
	if errno == unix.EPERM || errno == unix.ENOSYS {
		return fmt.Errorf("ptrace(2) is forbidden here (%v): %s", errno, advice)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) == "3" {
		return fmt.Errorf("ptrace(2) is forbidden here (kernel.yama.ptrace_scope is 3): %s", advice)
	}
	return nil
}
