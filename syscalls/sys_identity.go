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
		return uintptr(t.UserNamespace().ViewUID(t.Credentials().UID)), nil
	})
	register(unix.SYS_GETEUID, "geteuid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.UserNamespace().ViewUID(t.Credentials().EUID)), nil
	})
	register(unix.SYS_GETGID, "getgid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.UserNamespace().ViewGID(t.Credentials().GID)), nil
	})
	register(unix.SYS_GETEGID, "getegid", func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
		return uintptr(t.UserNamespace().ViewGID(t.Credentials().EGID)), nil
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
	c, ns := t.Credentials(), t.UserNamespace()
	return 0, putUint32s(t, []uintptr{uintptr(a[0]), uintptr(a[1]), uintptr(a[2])},
		[]uint32{ns.ViewUID(c.UID), ns.ViewUID(c.EUID), ns.ViewUID(c.SUID)})
}

func sysGetresgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	c, ns := t.Credentials(), t.UserNamespace()
	return 0, putUint32s(t, []uintptr{uintptr(a[0]), uintptr(a[1]), uintptr(a[2])},
		[]uint32{ns.ViewGID(c.GID), ns.ViewGID(c.EGID), ns.ViewGID(c.SGID)})
}

// Ids the application passes are in its user namespace; the credentials
// hold kernel ids (user_namespaces(7)). An id the namespace does not map
// is EINVAL; -1 ("unchanged") stays -1.
func kuid(t *kernel.Task, id uint64) (uint32, error) {
	if uint32(id) == ^uint32(0) {
		return uint32(id), nil
	}
	k, ok := t.UserNamespace().MapUID(uint32(id))
	if !ok {
		return 0, unix.EINVAL
	}
	return k, nil
}

func kgid(t *kernel.Task, id uint64) (uint32, error) {
	if uint32(id) == ^uint32(0) {
		return uint32(id), nil
	}
	k, ok := t.UserNamespace().MapGID(uint32(id))
	if !ok {
		return 0, unix.EINVAL
	}
	return k, nil
}

// kids maps several ids with f, stopping at the first error.
func kids(t *kernel.Task, f func(*kernel.Task, uint64) (uint32, error), ids ...uint64) ([]uint32, error) {
	out := make([]uint32, len(ids))
	for i, id := range ids {
		k, err := f(t, id)
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// The id-changing calls follow setuid(2), setreuid(2), setresuid(2),
// setfsuid(2) and their gid twins, with CAP_SETUID/CAP_SETGID as the
// privilege and capabilities(7)'s "Effect of user ID changes on
// capabilities"; the kernel's Credentials implement the rules, on kernel
// ids.

func sysSetuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if uint32(a[0]) == ^uint32(0) {
		return 0, unix.EINVAL
	}
	id, err := kuid(t, a[0])
	if err != nil {
		return 0, err
	}
	return 0, t.SetUID(id)
}

func sysSetgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if uint32(a[0]) == ^uint32(0) {
		return 0, unix.EINVAL
	}
	id, err := kgid(t, a[0])
	if err != nil {
		return 0, err
	}
	return 0, t.SetGID(id)
}

func sysSetreuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ids, err := kids(t, kuid, a[0], a[1])
	if err != nil {
		return 0, err
	}
	return 0, t.SetREUID(ids[0], ids[1])
}

func sysSetregid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ids, err := kids(t, kgid, a[0], a[1])
	if err != nil {
		return 0, err
	}
	return 0, t.SetREGID(ids[0], ids[1])
}

func sysSetresuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ids, err := kids(t, kuid, a[0], a[1], a[2])
	if err != nil {
		return 0, err
	}
	return 0, t.SetRESUID(ids[0], ids[1], ids[2])
}

func sysSetresgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ids, err := kids(t, kgid, a[0], a[1], a[2])
	if err != nil {
		return 0, err
	}
	return 0, t.SetRESGID(ids[0], ids[1], ids[2])
}

// setfsuid(2) never fails; it returns the previous fsuid (an id the
// namespace does not map changes nothing).
func sysSetfsuid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns := t.UserNamespace()
	id, err := kuid(t, a[0])
	if err != nil || id == ^uint32(0) {
		return uintptr(ns.ViewUID(t.Credentials().FSUID)), nil
	}
	return uintptr(ns.ViewUID(t.SetFSUID(id))), nil
}

func sysSetfsgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns := t.UserNamespace()
	id, err := kgid(t, a[0])
	if err != nil || id == ^uint32(0) {
		return uintptr(ns.ViewGID(t.Credentials().FSGID)), nil
	}
	return uintptr(ns.ViewGID(t.SetFSGID(id))), nil
}

func sysGetgroups(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns := t.UserNamespace()
	var g []uint32
	for _, id := range t.Credentials().Groups {
		g = append(g, ns.ViewGID(id))
	}
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

// setgroups(2) needs CAP_SETGID, checked before the size as Linux does,
// and, in a user namespace, a written gid_map and setgroups allowed
// (user_namespaces(7), may_setgroups).
func sysSetgroups(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns := t.UserNamespace()
	if !t.HasCapability(unix.CAP_SETGID) || !ns.MaySetgroups() {
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
		id, ok := ns.MapGID(binary.LittleEndian.Uint32(b[4*i:]))
		if !ok {
			return 0, unix.EINVAL
		}
		g[i] = id
	}
	return 0, t.SetGroups(g)
}

// Release is the kernel version the Sentry reports: new enough for what
// glibc and Go check for.
const Release = "6.1.0-veil"

func sysUname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var u [6 * 65]byte
	host, domain := t.UTSNamespace().Names()
	for i, s := range []string{"Linux", host, Release, "#1 SMP Veil", "x86_64", domain} {
		copy(u[i*65:i*65+64], s)
	}
	return 0, t.CopyOut(uintptr(a[0]), u[:])
}

// setName implements sethostname(2) and setdomainname(2): CAP_SYS_ADMIN
// in the user namespace owning the caller's UTS namespace (EPERM) before
// the length check (EINVAL), as in Linux.
func setName(t *kernel.Task, a arch.SyscallArgs, set func(string)) error {
	if !t.Credentials().HasCapabilityIn(unix.CAP_SYS_ADMIN, t.UTSNamespace().Owner()) {
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

// sethostname(2) changes the name of the caller's UTS namespace in the
// sandbox only, never the host's.
func sysSethostname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, setName(t, a, t.UTSNamespace().SetHostname)
}

func sysSetdomainname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, setName(t, a, t.UTSNamespace().SetDomainname)
}
