package syscalls

// Namespaces: unshare(2) and setns(2) (namespaces(7)); clone(2)'s
// CLONE_NEW* flags go through the same kernel code (kernel.Task.Clone).

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_UNSHARE, "unshare", sysUnshare, Hex).partial(namespaceNote)
	register(unix.SYS_SETNS, "setns", sysSetns, FD, Hex).partial("pidfds: EINVAL; the time namespace can only be rejoined (there is one)")
}

// setns(2) of a /proc/PID/ns/* descriptor.
func sysSetns(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := t.FDTable().GetFile(int32(a[0]))
	if err != nil {
		return 0, unix.EBADF
	}
	defer f.DecRef()
	ns := kernel.NamespaceOfFile(f)
	if ns == nil {
		return 0, unix.EINVAL
	}
	return 0, t.Setns(ns, int(a[1]))
}

// namespaceNote says which namespaces the Sentry lacks.
const namespaceNote = "CLONE_NEWTIME: EINVAL, as a kernel without CONFIG_TIME_NS; a new network namespace has lo up from the start (its abstract unix names and netlink ports are its own)"

func sysUnshare(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	err := t.Unshare(a[0])
	if err != nil && a[0]&unix.CLONE_NEWTIME != 0 {
		return 0, unsupported(t, "unshare(CLONE_NEWTIME)", err)
	}
	return 0, err
}
