package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
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

// checkPtrace starts a child that asks to be traced, as both platforms
// start their stub processes: under a seccomp profile that forbids
// ptrace(2), or yama's ptrace_scope=3, the request fails.
func checkPtrace() error {
	probe := exec.Command("/proc/self/exe")
	probe.Args[0] = "runsc-ptrace-probe"
	// It stops at its exec, before running anything, and is killed there.
	probe.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: unix.SIGKILL}
	if err := probe.Start(); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("ptrace(2) is forbidden here (PTRACE_TRACEME: operation not permitted): runsc's platforms (systrap and ptrace) need it: allow ptrace in the seccomp profile runsc runs under, and keep kernel.yama.ptrace_scope at 2 or less")
		}
		return fmt.Errorf("checking ptrace: %w", err)
	}
	probe.Process.Kill()
	probe.Wait()
	return nil
}
