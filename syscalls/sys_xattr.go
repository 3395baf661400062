package syscalls

import (
	"sort"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Extended attributes: getxattr(2), setxattr(2), listxattr(2),
// removexattr(2) and their l* (no symlink following) and f* (descriptor)
// variants; xattr(7) for the namespaces. The VFS checks names and
// permissions (sentry/vfs/xattr.go); tmpfs keeps attributes in Sentry
// memory, gofer files ask the host through the gofer.

func init() {
	// The gofer reaches the attributes of regular files and directories
	// only (it never opens other host files).
	const gofer = "gofer-backed symlinks and special files have no attributes (ENODATA, EPERM to set)"
	register(unix.SYS_GETXATTR, "getxattr", sysGetxattr, Path, Path, Hex, Int).partial(gofer)
	register(unix.SYS_LGETXATTR, "lgetxattr", sysLgetxattr, Path, Path, Hex, Int).partial(gofer)
	register(unix.SYS_FGETXATTR, "fgetxattr", sysFgetxattr, FD, Path, Hex, Int).partial(gofer)
	register(unix.SYS_SETXATTR, "setxattr", sysSetxattr, Path, Path, Hex, Int, Hex).partial(gofer)
	register(unix.SYS_LSETXATTR, "lsetxattr", sysLsetxattr, Path, Path, Hex, Int, Hex).partial(gofer)
	register(unix.SYS_FSETXATTR, "fsetxattr", sysFsetxattr, FD, Path, Hex, Int, Hex).partial(gofer)
	register(unix.SYS_LISTXATTR, "listxattr", sysListxattr, Path, Hex, Int).partial(gofer)
	register(unix.SYS_LLISTXATTR, "llistxattr", sysLlistxattr, Path, Hex, Int).partial(gofer)
	register(unix.SYS_FLISTXATTR, "flistxattr", sysFlistxattr, FD, Hex, Int).partial(gofer)
	register(unix.SYS_REMOVEXATTR, "removexattr", sysRemovexattr, Path, Path).partial(gofer)
	register(unix.SYS_LREMOVEXATTR, "lremovexattr", sysLremovexattr, Path, Path).partial(gofer)
	register(unix.SYS_FREMOVEXATTR, "fremovexattr", sysFremovexattr, FD, Path).partial(gofer)
}

// copyInXattrName reads an attribute name as Linux's import_xattr_name:
// ERANGE if it is empty or longer than XATTR_NAME_MAX.
func copyInXattrName(t *kernel.Task, addr uintptr) (string, error) {
	name, err := t.CopyInString(addr, vfs.XattrNameMax)
	if err == unix.ENAMETOOLONG {
		return "", unix.ERANGE
	}
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", unix.ERANGE
	}
	return name, nil
}

// xattrTarget resolves the path argument of the path variants; the
// caller DecRefs the result.
func xattrTarget(t *kernel.Task, addr uintptr, follow bool) (vfs.VirtualDentry, error) {
	pop, err := copyInPathOp(t, unix.AT_FDCWD, addr, follow)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return vfsOf(t).GetDentry(t, pop)
}

// copyOutXattr returns a value as getxattr(2) does: its length when size
// is 0, ERANGE if it does not fit (E2BIG when even XATTR_SIZE_MAX bytes
// would not do).
func copyOutXattr(t *kernel.Task, addr uintptr, size uint64, value string) (uintptr, error) {
	if size == 0 {
		return uintptr(len(value)), nil
	}
	size = min(size, vfs.XattrSizeMax)
	if uint64(len(value)) > size {
		if size >= vfs.XattrSizeMax {
			return 0, unix.E2BIG
		}
		return 0, unix.ERANGE
	}
	if err := t.CopyOut(addr, []byte(value)); err != nil {
		return 0, err
	}
	return uintptr(len(value)), nil
}

func getxattr(t *kernel.Task, a arch.SyscallArgs, follow bool) (uintptr, error) {
	name, err := copyInXattrName(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	vd, err := xattrTarget(t, uintptr(a[0]), follow)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	v, err := vfsOf(t).Getxattr(t, vd, name)
	if err != nil {
		return 0, err
	}
	return copyOutXattr(t, uintptr(a[2]), uint64(a[3]), v)
}

func sysGetxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return getxattr(t, a, true)
}

func sysLgetxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return getxattr(t, a, false)
}

func sysFgetxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	name, err := copyInXattrName(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	v, err := f.Getxattr(t, name)
	if err != nil {
		return 0, err
	}
	return copyOutXattr(t, uintptr(a[2]), uint64(a[3]), v)
}

// copyInSetxattr reads the arguments of setxattr(2) in Linux's order
// (setxattr_copy): flags (EINVAL), name (ERANGE), size (E2BIG), value.
func copyInSetxattr(t *kernel.Task, nameAddr, valueAddr uintptr, size uint64, flags uint32) (string, string, error) {
	if flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return "", "", unix.EINVAL
	}
	name, err := copyInXattrName(t, nameAddr)
	if err != nil {
		return "", "", err
	}
	if size > vfs.XattrSizeMax {
		return "", "", unix.E2BIG
	}
	value := make([]byte, size)
	if size > 0 {
		if err := t.CopyIn(valueAddr, value); err != nil {
			return "", "", err
		}
	}
	return name, string(value), nil
}

func setxattr(t *kernel.Task, a arch.SyscallArgs, follow bool) (uintptr, error) {
	name, value, err := copyInSetxattr(t, uintptr(a[1]), uintptr(a[2]), uint64(a[3]), uint32(a[4]))
	if err != nil {
		return 0, err
	}
	vd, err := xattrTarget(t, uintptr(a[0]), follow)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	return 0, vfsOf(t).Setxattr(t, vd, name, value, uint32(a[4]))
}

func sysSetxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return setxattr(t, a, true)
}

func sysLsetxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return setxattr(t, a, false)
}

func sysFsetxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	name, value, err := copyInSetxattr(t, uintptr(a[1]), uintptr(a[2]), uint64(a[3]), uint32(a[4]))
	if err != nil {
		return 0, err
	}
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Setxattr(t, name, value, uint32(a[4]))
}

// copyOutXattrList returns names as listxattr(2) does: NUL-terminated, one
// after another (sorted, for a stable order), or their total length when
// size is 0; ERANGE if they do not fit.
func copyOutXattrList(t *kernel.Task, addr uintptr, size uint64, names []string) (uintptr, error) {
	sort.Strings(names)
	var b []byte
	for _, n := range names {
		b = append(append(b, n...), 0)
	}
	if len(b) > vfs.XattrListMax {
		return 0, unix.E2BIG
	}
	if size == 0 {
		return uintptr(len(b)), nil
	}
	size = min(size, vfs.XattrListMax)
	if uint64(len(b)) > size {
		return 0, unix.ERANGE
	}
	if err := t.CopyOut(addr, b); err != nil {
		return 0, err
	}
	return uintptr(len(b)), nil
}

func listxattr(t *kernel.Task, a arch.SyscallArgs, follow bool) (uintptr, error) {
	vd, err := xattrTarget(t, uintptr(a[0]), follow)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	names, err := vfsOf(t).Listxattr(t, vd)
	if err != nil {
		return 0, err
	}
	return copyOutXattrList(t, uintptr(a[1]), uint64(a[2]), names)
}

func sysListxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return listxattr(t, a, true)
}

func sysLlistxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return listxattr(t, a, false)
}

func sysFlistxattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	names, err := f.Listxattr(t)
	if err != nil {
		return 0, err
	}
	return copyOutXattrList(t, uintptr(a[1]), uint64(a[2]), names)
}

func removexattr(t *kernel.Task, a arch.SyscallArgs, follow bool) (uintptr, error) {
	name, err := copyInXattrName(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	vd, err := xattrTarget(t, uintptr(a[0]), follow)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	return 0, vfsOf(t).Removexattr(t, vd, name)
}

func sysRemovexattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return removexattr(t, a, true)
}

func sysLremovexattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return removexattr(t, a, false)
}

func sysFremovexattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	name, err := copyInXattrName(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Removexattr(t, name)
}
