package syscalls

// Credentials and identity: getuid(2) family, setuid(2) family,
// getgroups(2), uname(2), sethostname(2).

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_GETUID, "getuid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.Credentials().UID), nil
	})
	register(unix.SYS_GETEUID, "geteuid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.Credentials().EUID), nil
	})
	register(unix.SYS_GETGID, "getgid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.Credentials().GID), nil
	})
	register(unix.SYS_GETEGID, "getegid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.Credentials().EGID), nil
	})
	register(unix.SYS_GETRESUID, "getresuid", sysGetresuid, Hex, Hex, Hex)
	register(unix.SYS_GETRESGID, "getresgid", sysGetresgid, Hex, Hex, Hex)
	register(unix.SYS_SETUID, "setuid", sysSetuid, Int)
	register(unix.SYS_SETGID, "setgid", sysSetgid, Int)
	register(unix.SYS_SETREUID, "setreuid", sysSetreuid, Int, Int)
	register(unix.SYS_SETREGID, "setregid", sysSetregid, Int, Int)
	register(unix.SYS_SETRESUID, "setresuid", sysSetresuid, Int, Int, Int)
	register(unix.SYS_SETRESGID, "setresgid", sysSetresgid, Int, Int, Int)
	register(unix.SYS_SETFSUID, "setfsuid", sysSetfsuid, Int)
	register(unix.SYS_SETFSGID, "setfsgid", sysSetfsgid, Int)
	register(unix.SYS_GETGROUPS, "getgroups", sysGetgroups, Int, Hex)
	register(unix.SYS_SETGROUPS, "setgroups", sysSetgroups, Int, Hex)
	register(unix.SYS_UNAME, "uname", sysUname, Hex)
	register(unix.SYS_SETHOSTNAME, "sethostname", sysSethostname, Hex, Int)
	register(unix.SYS_SETDOMAINNAME, "setdomainname", sysSetdomainname, Hex, Int)
}

func putUint32s(t *kernel.Task, addrs []uintptr, vals []uint32) error {
	for i, addr := range addrs {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], vals[i])
		if err := t.CopyOut(addr, b[:]); err != nil {
			return err
		}
	}
	return nil
}

func sysGetresuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	c := t.Credentials()
	return 0, putUint32s(t, []uintptr{uintptr(a[0]), uintptr(a[1]), uintptr(a[2])}, []uint32{c.UID, c.EUID, c.SUID})
}

func sysGetresgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	c := t.Credentials()
	return 0, putUint32s(t, []uintptr{uintptr(a[0]), uintptr(a[1]), uintptr(a[2])}, []uint32{c.GID, c.EGID, c.SGID})
}

// The id-changing calls follow setuid(2), setreuid(2), setresuid(2),
// setfsuid(2) and their gid twins, with CAP_SETUID/CAP_SETGID as the
// privilege and capabilities(7)'s "Effect of user ID changes on
// capabilities"; the kernel's Credentials implement the rules. The
// sandbox has a single user namespace.

func sysSetuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SetUID(uint32(a[0]))
}

func sysSetgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SetGID(uint32(a[0]))
}

func sysSetreuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SetREUID(uint32(a[0]), uint32(a[1]))
}

func sysSetregid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SetREGID(uint32(a[0]), uint32(a[1]))
}

func sysSetresuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SetRESUID(uint32(a[0]), uint32(a[1]), uint32(a[2]))
}

func sysSetresgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SetRESGID(uint32(a[0]), uint32(a[1]), uint32(a[2]))
}

// setfsuid(2) never fails; it returns the previous fsuid.
func sysSetfsuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.SetFSUID(uint32(a[0]))), nil
}

func sysSetfsgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.SetFSGID(uint32(a[0]))), nil
}

func sysGetgroups(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	g := t.Credentials().Groups
	size := int(int32(a[0]))
	if size < 0 {
		return 0, unix.EINVAL
	}
	if size == 0 {
		return uintptr(len(g)), nil
	}
	if size < len(g) {
		return 0, unix.EINVAL
	}
	b := make([]byte, 4*len(g))
	for i, id := range g {
		binary.LittleEndian.PutUint32(b[4*i:], id)
	}
	return uintptr(len(g)), t.CopyOut(uintptr(a[1]), b)
}

// setgroups(2) needs CAP_SETGID, checked before the size as Linux does.
func sysSetgroups(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if !t.HasCapability(unix.CAP_SETGID) {
		return 0, unix.EPERM
	}
	n := int(int32(a[0]))
	if n < 0 || n > 65536 {
		return 0, unix.EINVAL
	}
	b := make([]byte, 4*n)
	if err := t.CopyIn(uintptr(a[1]), b); err != nil {
		return 0, err
	}
	g := make([]uint32, n)
	for i := range g {
		g[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return 0, t.SetGroups(g)
}

// Release is the kernel version the Sentry reports: new enough for what
// glibc and Go check for.
const Release = "6.1.0-veil"

func sysUname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var u [6 * 65]byte
	k := t.Kernel()
	host, domain := k.UTSName()
	for i, s := range []string{"Linux", host, Release, "#1 SMP Veil", "x86_64", domain} {
		copy(u[i*65:i*65+64], s)
	}
	return 0, t.CopyOut(uintptr(a[0]), u[:])
}

// setName implements sethostname(2) and setdomainname(2): CAP_SYS_ADMIN
// (EPERM) before the length check (EINVAL), as in Linux.
func setName(t *kernel.Task, a arch.SyscallArgs, set func(string)) error {
	if !t.HasCapability(unix.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	n := int(int32(a[1]))
	if n < 0 || n > 64 {
		return unix.EINVAL
	}
	b := make([]byte, n)
	if err := t.CopyIn(uintptr(a[0]), b); err != nil {
		return err
	}
	set(string(b))
	return nil
}

// sethostname(2) changes the sandbox's UTS name only, never the host's.
func sysSethostname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, setName(t, a, t.Kernel().SetHostname)
}

func sysSetdomainname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, setName(t, a, t.Kernel().SetDomainname)
}
