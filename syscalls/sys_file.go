package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// File syscalls: open, close, dup and memfd. Helpers shared by the file
// syscall families (sys_read.go, sys_stat.go, sys_dir.go, sys_attr.go,
// sys_fcntl.go) live here too.

func init() {
	register(unix.SYS_OPEN, "open", sysOpen, Path, Hex, Oct).partial("O_TMPFILE only on tmpfs (EOPNOTSUPP elsewhere)")
	register(unix.SYS_OPENAT, "openat", sysOpenat, FD, Path, Hex, Oct).partial("O_TMPFILE only on tmpfs (EOPNOTSUPP elsewhere)")
	register(unix.SYS_CREAT, "creat", sysCreat, Path, Oct)
	register(unix.SYS_CLOSE, "close", sysClose, FD)
	register(unix.SYS_CLOSE_RANGE, "close_range", sysCloseRange, Int, Int, Hex)
	register(unix.SYS_DUP, "dup", sysDup, FD)
	register(unix.SYS_DUP2, "dup2", sysDup2, FD, FD)
	register(unix.SYS_DUP3, "dup3", sysDup3, FD, FD, Hex)
	register(unix.SYS_MEMFD_CREATE, "memfd_create", sysMemfdCreate, Path, Hex).partial("MFD_HUGETLB: EINVAL")
}

// fileOf returns the open file fd with a reference the caller drops.
func fileOf(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	return t.FDTable().GetFile(fd)
}

// ioFileOf is fileOf refusing O_PATH descriptors (EBADF), for syscalls that
// need a real open file.
func ioFileOf(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	f, err := fileOf(t, fd)
	if err != nil {
		return nil, err
	}
	if f.IsPath() {
		f.DecRef()
		return nil, unix.EBADF
	}
	return f, nil
}

// copyInPath reads a path argument (EFAULT, ENAMETOOLONG past PATH_MAX).
func copyInPath(t *kernel.Task, addr uintptr) (string, error) {
	return t.CopyInString(addr, vfs.PathMax-1)
}

// dirStart returns where a path relative to dirfd starts: the working
// directory for AT_FDCWD, else dirfd's location (EBADF if not open,
// ENOTDIR if not a directory).
func dirStart(t *kernel.Task, dirfd int32) (vfs.VirtualDentry, error) {
	if dirfd == unix.AT_FDCWD {
		return t.FSContext().Cwd(), nil
	}
	f, err := fileOf(t, dirfd)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	defer f.DecRef()
	vd := f.VirtualDentry()
	if !vd.Ok() || !vd.Dentry.IsDir() {
		return vfs.VirtualDentry{}, unix.ENOTDIR
	}
	return vd, nil
}

// pathOpAt builds the PathOperation for (dirfd, path). dirfd is looked at
// only for relative paths, as in Linux.
func pathOpAt(t *kernel.Task, dirfd int32, path string, follow bool) (vfs.PathOperation, error) {
	fs := t.FSContext()
	if path == "" {
		return vfs.PathOperation{}, unix.ENOENT
	}
	if path[0] == '/' {
		return fs.PathOp(vfs.VirtualDentry{}, path, follow), nil
	}
	start, err := dirStart(t, dirfd)
	if err != nil {
		return vfs.PathOperation{}, err
	}
	return fs.PathOp(start, path, follow), nil
}

// copyInPathOp copies a path argument and builds its PathOperation.
func copyInPathOp(t *kernel.Task, dirfd int32, addr uintptr, follow bool) (vfs.PathOperation, error) {
	path, err := copyInPath(t, addr)
	if err != nil {
		return vfs.PathOperation{}, err
	}
	return pathOpAt(t, dirfd, path, follow)
}

// emptyPathTarget returns the location an AT_EMPTY_PATH operation on dirfd
// acts on: the working directory for AT_FDCWD, else dirfd's file (which
// may be anonymous: ok is false then and f is the file, referenced).
func emptyPathFile(t *kernel.Task, dirfd int32) (vd vfs.VirtualDentry, f *vfs.FileDescription, err error) {
	if dirfd == unix.AT_FDCWD {
		return t.FSContext().Cwd(), nil, nil
	}
	f, err = fileOf(t, dirfd)
	if err != nil {
		return vfs.VirtualDentry{}, nil, err
	}
	return f.VirtualDentry(), f, nil
}

func vfsOf(t *kernel.Task) *vfs.VirtualFilesystem { return t.Kernel().VFS() }

func installFile(t *kernel.Task, f *vfs.FileDescription, cloexec bool) (uintptr, error) {
	fd, err := t.FDTable().NewFD(0, f, cloexec)
	f.DecRef()
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// openFlagsValid are the flags open(2) accepts; others are ignored like
// Linux does (unknown bits are not an error for open).
func doOpen(t *kernel.Task, dirfd int32, pathAddr uintptr, flags, mode uint32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, err := pathOpAt(t, dirfd, path, flags&unix.O_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	f, err := vfsOf(t).Open(t, pop, flags, mode)
	if err != nil {
		return 0, err
	}
	return installFile(t, f, flags&unix.O_CLOEXEC != 0)
}

func sysOpen(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return doOpen(t, unix.AT_FDCWD, uintptr(a[0]), uint32(a[1]), uint32(a[2]))
}

func sysOpenat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return doOpen(t, int32(a[0]), uintptr(a[1]), uint32(a[2]), uint32(a[3]))
}

func sysCreat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return doOpen(t, unix.AT_FDCWD, uintptr(a[0]), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(a[1]))
}

func sysClose(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.FDTable().Remove(int32(a[0]))
}

// sysCloseRange implements close_range(2). CLOSE_RANGE_UNSHARE is accepted
// but the range is closed in the (possibly shared) table.
func sysCloseRange(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	first, last, flags := uint32(a[0]), uint32(a[1]), uint32(a[2])
	if flags&^(unix.CLOSE_RANGE_CLOEXEC|unix.CLOSE_RANGE_UNSHARE) != 0 || first > last {
		return 0, unix.EINVAL
	}
	if first > vfs.MaxFDLimit {
		return 0, nil
	}
	if last > vfs.MaxFDLimit {
		last = vfs.MaxFDLimit
	}
	t.FDTable().CloseRange(int32(first), int32(last), flags&unix.CLOSE_RANGE_CLOEXEC != 0)
	return 0, nil
}

func sysDup(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	return installFile(t, f, false)
}

func sysDup2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	oldfd, newfd := int32(a[0]), int32(a[1])
	f, err := fileOf(t, oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if oldfd == newfd {
		return uintptr(newfd), nil
	}
	if err := t.FDTable().SetFD(newfd, f, false); err != nil {
		return 0, err
	}
	return uintptr(newfd), nil
}

func sysDup3(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	oldfd, newfd, flags := int32(a[0]), int32(a[1]), uint32(a[2])
	if flags&^unix.O_CLOEXEC != 0 || oldfd == newfd {
		return 0, unix.EINVAL
	}
	f, err := fileOf(t, oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if err := t.FDTable().SetFD(newfd, f, flags&unix.O_CLOEXEC != 0); err != nil {
		return 0, err
	}
	return uintptr(newfd), nil
}

// memfdNameMax is the longest memfd name (NAME_MAX minus "memfd:").
const memfdNameMax = vfs.NameMax - 6

// sysMemfdCreate implements memfd_create(2): MFD_CLOEXEC,
// MFD_ALLOW_SEALING (seals: sentry/fs/tmpfs/seals.go), MFD_EXEC and
// MFD_NOEXEC_SEAL (Linux 6.3: mode 0666 with F_SEAL_EXEC; not both:
// EINVAL); MFD_HUGETLB gives EINVAL.
func sysMemfdCreate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[1])
	if flags&^(unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC|unix.MFD_NOEXEC_SEAL) != 0 {
		if flags&unix.MFD_HUGETLB != 0 {
			return 0, unsupported(t, "memfd_create(MFD_HUGETLB)", unix.EINVAL)
		}
		return 0, unix.EINVAL
	}
	if flags&unix.MFD_EXEC != 0 && flags&unix.MFD_NOEXEC_SEAL != 0 {
		return 0, unix.EINVAL
	}
	name, err := t.CopyInString(uintptr(a[0]), memfdNameMax)
	if err == unix.ENAMETOOLONG {
		return 0, unix.EINVAL
	}
	if err != nil {
		return 0, err
	}
	f := tmpfs.NewMemfd(t, vfsOf(t).MemoryFile(), name, flags&unix.MFD_ALLOW_SEALING != 0, flags&unix.MFD_NOEXEC_SEAL != 0)
	return installFile(t, f, flags&unix.MFD_CLOEXEC != 0)
}
