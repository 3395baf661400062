package syscalls

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Directories and names: getdents, cwd/root, and the namespace changes
// (mkdir, mknod, link, symlink, unlink, rmdir, rename, readlink).

func init() {
	register(unix.SYS_GETDENTS64, "getdents64", sysGetdents64, FD, Hex, Int)
	register(unix.SYS_GETDENTS, "getdents", sysGetdents, FD, Hex, Int)
	register(unix.SYS_GETCWD, "getcwd", sysGetcwd, Hex, Int)
	register(unix.SYS_CHDIR, "chdir", sysChdir, Path)
	register(unix.SYS_FCHDIR, "fchdir", sysFchdir, FD)
	register(unix.SYS_CHROOT, "chroot", sysChroot, Path)
	register(unix.SYS_MKDIR, "mkdir", sysMkdir, Path, Oct)
	register(unix.SYS_MKDIRAT, "mkdirat", sysMkdirat, FD, Path, Oct)
	register(unix.SYS_MKNOD, "mknod", sysMknod, Path, Oct, Hex)
	register(unix.SYS_MKNODAT, "mknodat", sysMknodat, FD, Path, Oct, Hex)
	register(unix.SYS_RMDIR, "rmdir", sysRmdir, Path)
	register(unix.SYS_UNLINK, "unlink", sysUnlink, Path)
	register(unix.SYS_UNLINKAT, "unlinkat", sysUnlinkat, FD, Path, Hex)
	register(unix.SYS_RENAME, "rename", sysRename, Path, Path)
	register(unix.SYS_RENAMEAT, "renameat", sysRenameat, FD, Path, FD, Path)
	register(unix.SYS_RENAMEAT2, "renameat2", sysRenameat2, FD, Path, FD, Path, Hex).partial("RENAME_EXCHANGE and RENAME_WHITEOUT: EINVAL")
	register(unix.SYS_LINK, "link", sysLink, Path, Path)
	register(unix.SYS_LINKAT, "linkat", sysLinkat, FD, Path, FD, Path, Hex)
	register(unix.SYS_SYMLINK, "symlink", sysSymlink, Path, Path)
	register(unix.SYS_SYMLINKAT, "symlinkat", sysSymlinkat, Path, FD, Path)
	register(unix.SYS_READLINK, "readlink", sysReadlink, Path, Hex, Int)
	register(unix.SYS_READLINKAT, "readlinkat", sysReadlinkat, FD, Path, Hex, Int)
}

// getdentsMax bounds the Sentry buffer for one getdents call.
const getdentsMax = 256 << 10

func getdents(t *kernel.Task, fd int32, addr uintptr, count int, is64 bool) (uintptr, error) {
	f, err := fileOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	if !f.IsDir() {
		return 0, unix.ENOTDIR
	}
	if count < 0 {
		return 0, unix.EINVAL
	}
	buf := make([]byte, 0, min(count, getdentsMax))
	le := binary.LittleEndian
	tooSmall := false
	err = f.Getdents(t, func(d vfs.Dirent, next int64) bool {
		var rec []byte
		if is64 {
			// struct linux_dirent64: ino, off, reclen, type, name\0.
			reclen := (19 + len(d.Name) + 1 + 7) &^ 7
			rec = make([]byte, reclen)
			le.PutUint64(rec[0:], d.Ino)
			le.PutUint64(rec[8:], uint64(next))
			le.PutUint16(rec[16:], uint16(reclen))
			rec[18] = d.Type
			copy(rec[19:], d.Name)
		} else {
			// struct linux_dirent: ino, off, reclen, name\0, pad, type.
			reclen := (18 + len(d.Name) + 2 + 7) &^ 7
			rec = make([]byte, reclen)
			le.PutUint64(rec[0:], d.Ino)
			le.PutUint64(rec[8:], uint64(next))
			le.PutUint16(rec[16:], uint16(reclen))
			copy(rec[18:], d.Name)
			rec[reclen-1] = d.Type
		}
		if len(buf)+len(rec) > cap(buf) {
			tooSmall = len(buf) == 0
			return false
		}
		buf = append(buf, rec...)
		return true
	})
	if err != nil {
		return 0, err
	}
	if tooSmall {
		return 0, unix.EINVAL
	}
	if err := t.CopyOut(addr, buf); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(buf)), nil
}

func sysGetdents64(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return getdents(t, int32(a[0]), uintptr(a[1]), int(int32(a[2])), true)
}

func sysGetdents(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return getdents(t, int32(a[0]), uintptr(a[1]), int(int32(a[2])), false)
}

func sysGetcwd(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fs := t.FSContext()
	cwd, root := fs.Cwd(), fs.Root()
	if cwd.Dentry.IsDead() {
		return 0, unix.ENOENT
	}
	path, ok := vfsOf(t).PathFrom(root, cwd)
	if !ok {
		path = "(unreachable)" + path
	}
	size := uint64(a[1])
	if uint64(len(path)+1) > size {
		return 0, unix.ERANGE
	}
	b := append([]byte(path), 0)
	if err := t.CopyOut(uintptr(a[0]), b); err != nil {
		return 0, err
	}
	return uintptr(len(b)), nil
}

func sysChdir(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pop, err := copyInPathOp(t, unix.AT_FDCWD, uintptr(a[0]), true)
	if err != nil {
		return 0, err
	}
	vd, err := vfsOf(t).GetDirectory(t, pop)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	t.FSContext().SetCwd(vd)
	return 0, nil
}

func sysFchdir(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vd := f.VirtualDentry()
	if !vd.Ok() || !vd.Dentry.IsDir() {
		return 0, unix.ENOTDIR
	}
	if err := vfs.CheckAccess(t, vd, vfs.MayExec); err != nil {
		return 0, err
	}
	t.FSContext().SetCwd(vd)
	return 0, nil
}

// sysChroot implements chroot(2): the directory is looked up (and must be
// searchable) before CAP_SYS_CHROOT is checked (EPERM), as in Linux.
func sysChroot(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pop, err := copyInPathOp(t, unix.AT_FDCWD, uintptr(a[0]), true)
	if err != nil {
		return 0, err
	}
	vd, err := vfsOf(t).GetDirectory(t, pop)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	if !t.HasCapability(unix.CAP_SYS_CHROOT) {
		return 0, unix.EPERM
	}
	t.FSContext().SetRoot(vd)
	return 0, nil
}

func mkdirat(t *kernel.Task, dirfd int32, addr uintptr, mode uint32) (uintptr, error) {
	pop, err := copyInPathOp(t, dirfd, addr, false)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Mkdir(t, pop, mode)
}

func sysMkdir(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return mkdirat(t, unix.AT_FDCWD, uintptr(a[0]), uint32(a[1]))
}

func sysMkdirat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return mkdirat(t, int32(a[0]), uintptr(a[1]), uint32(a[2]))
}

// mknodat implements mknod(2). Named pipes work once a pipe implementation
// registered itself (vfs.SetFIFOFactory), else EPERM.
func mknodat(t *kernel.Task, dirfd int32, addr uintptr, mode uint32, dev uint64) (uintptr, error) {
	pop, err := copyInPathOp(t, dirfd, addr, false)
	if err != nil {
		return 0, err
	}
	// The syscall's dev is a 32-bit new_encode_dev value; convert.
	d := uint32(dev)
	return 0, vfsOf(t).Mknod(t, pop, mode, vfs.MakeDev((d&0xfff00)>>8, d&0xff|(d>>12)&0xfff00))
}

func sysMknod(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return mknodat(t, unix.AT_FDCWD, uintptr(a[0]), uint32(a[1]), a[2])
}

func sysMknodat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return mknodat(t, int32(a[0]), uintptr(a[1]), uint32(a[2]), a[3])
}

func rmdirat(t *kernel.Task, dirfd int32, addr uintptr) (uintptr, error) {
	pop, err := copyInPathOp(t, dirfd, addr, false)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Rmdir(t, pop)
}

func unlinkat(t *kernel.Task, dirfd int32, addr uintptr) (uintptr, error) {
	pop, err := copyInPathOp(t, dirfd, addr, false)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Unlink(t, pop)
}

func sysRmdir(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return rmdirat(t, unix.AT_FDCWD, uintptr(a[0]))
}

func sysUnlink(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return unlinkat(t, unix.AT_FDCWD, uintptr(a[0]))
}

func sysUnlinkat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[2])
	if flags&^unix.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.AT_REMOVEDIR != 0 {
		return rmdirat(t, int32(a[0]), uintptr(a[1]))
	}
	return unlinkat(t, int32(a[0]), uintptr(a[1]))
}

func renameat(t *kernel.Task, olddir int32, oldAddr uintptr, newdir int32, newAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 {
		return 0, unix.EINVAL
	}
	if flags&(unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 {
		return 0, unsupported(t, "renameat2(RENAME_EXCHANGE|RENAME_WHITEOUT)", unix.EINVAL)
	}
	oldPop, err := copyInPathOp(t, olddir, oldAddr, false)
	if err != nil {
		return 0, err
	}
	newPop, err := copyInPathOp(t, newdir, newAddr, false)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Rename(t, oldPop, newPop, flags)
}

func sysRename(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return renameat(t, unix.AT_FDCWD, uintptr(a[0]), unix.AT_FDCWD, uintptr(a[1]), 0)
}

func sysRenameat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return renameat(t, int32(a[0]), uintptr(a[1]), int32(a[2]), uintptr(a[3]), 0)
}

func sysRenameat2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return renameat(t, int32(a[0]), uintptr(a[1]), int32(a[2]), uintptr(a[3]), uint32(a[4]))
}

func linkat(t *kernel.Task, olddir int32, oldAddr uintptr, newdir int32, newAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	oldPath, err := copyInPath(t, oldAddr)
	if err != nil {
		return 0, err
	}
	newPop, err := copyInPathOp(t, newdir, newAddr, false)
	if err != nil {
		return 0, err
	}
	v := vfsOf(t)
	if oldPath == "" && flags&unix.AT_EMPTY_PATH != 0 {
		// Link the file dirfd refers to (it may be an O_PATH fd): Linux
		// 6.1 allows it only with CAP_DAC_READ_SEARCH (linkat(2)).
		if !t.HasCapability(unix.CAP_DAC_READ_SEARCH) {
			return 0, unix.ENOENT
		}
		vd, f, err := emptyPathFile(t, olddir)
		if err != nil {
			return 0, err
		}
		if f != nil {
			defer f.DecRef()
		}
		if !vd.Ok() {
			return 0, unix.ENOENT
		}
		// An O_TMPFILE file gets its first name this way.
		return 0, v.LinkAt(t, vd, newPop)
	}
	oldPop, err := pathOpAt(t, olddir, oldPath, flags&unix.AT_SYMLINK_FOLLOW != 0)
	if err != nil {
		return 0, err
	}
	return 0, v.Link(t, oldPop, newPop)
}

func sysLink(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return linkat(t, unix.AT_FDCWD, uintptr(a[0]), unix.AT_FDCWD, uintptr(a[1]), 0)
}

func sysLinkat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return linkat(t, int32(a[0]), uintptr(a[1]), int32(a[2]), uintptr(a[3]), uint32(a[4]))
}

func symlinkat(t *kernel.Task, targetAddr uintptr, dirfd int32, linkAddr uintptr) (uintptr, error) {
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return 0, err
	}
	pop, err := copyInPathOp(t, dirfd, linkAddr, false)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Symlink(t, target, pop)
}

func sysSymlink(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return symlinkat(t, uintptr(a[0]), unix.AT_FDCWD, uintptr(a[1]))
}

func sysSymlinkat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return symlinkat(t, uintptr(a[0]), int32(a[1]), uintptr(a[2]))
}

func readlinkat(t *kernel.Task, dirfd int32, pathAddr, bufAddr uintptr, size int32) (uintptr, error) {
	if size <= 0 {
		return 0, unix.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	var target string
	if path == "" {
		// readlinkat(fd, "") reads the symlink an O_PATH fd refers to.
		vd, f, err := emptyPathFile(t, dirfd)
		if err != nil {
			return 0, err
		}
		if f != nil {
			defer f.DecRef()
		}
		if !vd.Ok() || !vd.Dentry.IsSymlink() {
			return 0, unix.ENOENT
		}
		if target, err = vd.Inode().Readlink(t); err != nil {
			return 0, err
		}
	} else {
		pop, err := pathOpAt(t, dirfd, path, false)
		if err != nil {
			return 0, err
		}
		if target, err = vfsOf(t).Readlink(t, pop); err != nil {
			return 0, err
		}
	}
	b := []byte(target)
	if len(b) > int(size) {
		b = b[:size]
	}
	if err := t.CopyOut(bufAddr, b); err != nil {
		return 0, err
	}
	return uintptr(len(b)), nil
}

func sysReadlink(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return readlinkat(t, unix.AT_FDCWD, uintptr(a[0]), uintptr(a[1]), int32(a[2]))
}

func sysReadlinkat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return readlinkat(t, int32(a[0]), uintptr(a[1]), uintptr(a[2]), int32(a[3]))
}
