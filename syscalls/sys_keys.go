package syscalls

// The kernel key retention service: add_key(2), request_key(2),
// keyctl(2) (keyrings(7)). The Sentry has no keyrings; it answers as a
// kernel built without CONFIG_KEYS, where the three calls do not exist
// (ENOSYS; docker's default seccomp profile refuses them too), and
// programs fall back to not caching credentials in the kernel.

import "golang.org/x/sys/unix"

func init() {
	const note = "ENOSYS, as a kernel without CONFIG_KEYS"
	refuse(unix.SYS_ADD_KEY, "add_key", unix.ENOSYS, note, Path, Path, Hex, Int, Int)
	refuse(unix.SYS_REQUEST_KEY, "request_key", unix.ENOSYS, note, Path, Path, Path, Int)
	refuse(unix.SYS_KEYCTL, "keyctl", unix.ENOSYS, note, Int, Hex, Hex, Hex, Hex)
}
