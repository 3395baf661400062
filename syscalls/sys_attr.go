package syscalls

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// File attributes: mode, owner, size, times, access checks, umask, and the
// sync/advice/allocation calls.

func init() {
	register(unix.SYS_CHMOD, "chmod", sysChmod, Path, Oct)
	register(unix.SYS_FCHMOD, "fchmod", sysFchmod, FD, Oct)
	register(unix.SYS_FCHMODAT, "fchmodat", sysFchmodat, FD, Path, Oct)
	register(unix.SYS_CHOWN, "chown", sysChown, Path, Int, Int)
	register(unix.SYS_FCHOWN, "fchown", sysFchown, FD, Int, Int)
	register(unix.SYS_LCHOWN, "lchown", sysLchown, Path, Int, Int)
	register(unix.SYS_FCHOWNAT, "fchownat", sysFchownat, FD, Path, Int, Int, Hex)
	register(unix.SYS_TRUNCATE, "truncate", sysTruncate, Path, Int)
	register(unix.SYS_FTRUNCATE, "ftruncate", sysFtruncate, FD, Int)
	register(unix.SYS_UTIMENSAT, "utimensat", sysUtimensat, FD, Path, Hex, Hex)
	register(unix.SYS_UTIMES, "utimes", sysUtimes, Path, Hex)
	register(unix.SYS_UTIME, "utime", sysUtime, Path, Hex)
	register(unix.SYS_FUTIMESAT, "futimesat", sysFutimesat, FD, Path, Hex)
	register(unix.SYS_ACCESS, "access", sysAccess, Path, Oct)
	register(unix.SYS_FACCESSAT, "faccessat", sysFaccessat, FD, Path, Oct)
	register(unix.SYS_FACCESSAT2, "faccessat2", sysFaccessat2, FD, Path, Oct, Hex)
	register(unix.SYS_UMASK, "umask", sysUmask, Oct)
	register(unix.SYS_FSYNC, "fsync", sysFsync, FD)
	register(unix.SYS_FDATASYNC, "fdatasync", sysFsync, FD)
	register(unix.SYS_SYNC, "sync", sysSync)
	register(unix.SYS_SYNCFS, "syncfs", sysSyncfs, FD)
	register(unix.SYS_FADVISE64, "fadvise64", sysFadvise64, FD, Int, Int, Int)
	register(unix.SYS_FALLOCATE, "fallocate", sysFallocate, FD, Hex, Int, Int)
}

// setStatAt applies s to (dirfd, path) with AT_SYMLINK_NOFOLLOW and
// AT_EMPTY_PATH flags.
func setStatAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32, s vfs.SetStat) error {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return err
	}
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
		return setStatEmpty(t, dirfd, s)
	}
	pop, err := pathOpAt(t, dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return err
	}
	return vfsOf(t).SetStat(t, pop, s)
}

// setStatEmpty applies s to dirfd itself (O_PATH descriptors included).
func setStatEmpty(t *kernel.Task, dirfd int32, s vfs.SetStat) error {
	vd, f, err := emptyPathFile(t, dirfd)
	if err != nil {
		return err
	}
	if f != nil {
		defer f.DecRef()
		if !vd.Ok() {
			return f.SetStat(t, s)
		}
	}
	return vfsOf(t).SetStatAt(t, vd, s)
}

func sysChmod(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, setStatAt(t, unix.AT_FDCWD, uintptr(a[0]), 0, vfs.SetStat{Valid: vfs.AttrMode, Mode: uint32(a[1])})
}

func sysFchmodat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, setStatAt(t, int32(a[0]), uintptr(a[1]), 0, vfs.SetStat{Valid: vfs.AttrMode, Mode: uint32(a[2])})
}

func sysFchmod(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := ioFileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.SetStat(t, vfs.SetStat{Valid: vfs.AttrMode, Mode: uint32(a[1])})
}

// chownStat builds the SetStat of chown(uid, gid) where -1 means "keep";
// the ids are the caller's user namespace's (EINVAL if it maps them not).
func chownStat(t *kernel.Task, uid, gid uint64) (vfs.SetStat, error) {
	var s vfs.SetStat
	ns := t.UserNamespace()
	if int32(uid) != -1 {
		k, ok := ns.MapUID(uint32(uid))
		if !ok {
			return s, unix.EINVAL
		}
		s.Valid |= vfs.AttrUID
		s.UID = k
	}
	if int32(gid) != -1 {
		k, ok := ns.MapGID(uint32(gid))
		if !ok {
			return s, unix.EINVAL
		}
		s.Valid |= vfs.AttrGID
		s.GID = k
	}
	return s, nil
}

func sysChown(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	s, err := chownStat(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return 0, setStatAt(t, unix.AT_FDCWD, uintptr(a[0]), 0, s)
}

func sysLchown(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	s, err := chownStat(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return 0, setStatAt(t, unix.AT_FDCWD, uintptr(a[0]), unix.AT_SYMLINK_NOFOLLOW, s)
}

func sysFchown(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := ioFileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	s, err := chownStat(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return 0, f.SetStat(t, s)
}

func sysFchownat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[4])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	s, err := chownStat(t, a[2], a[3])
	if err != nil {
		return 0, err
	}
	return 0, setStatAt(t, int32(a[0]), uintptr(a[1]), flags, s)
}

func sysTruncate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pop, err := copyInPathOp(t, unix.AT_FDCWD, uintptr(a[0]), true)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Truncate(t, pop, int64(a[1]))
}

func sysFtruncate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Truncate(t, int64(a[1]))
}

// utimes applies times (nil: both now) to (dirfd, path); a zero pathAddr
// means dirfd itself (the utimensat(fd, NULL, ...) form).
func utimes(t *kernel.Task, dirfd int32, pathAddr uintptr, times *[2]unix.Timespec, flags uint32) error {
	s := vfs.SetStat{Valid: vfs.AttrAtime | vfs.AttrMtime}
	if times == nil {
		s.Atime.Nsec, s.Mtime.Nsec = unix.UTIME_NOW, unix.UTIME_NOW
	} else {
		s.Atime, s.Mtime = times[0], times[1]
	}
	if pathAddr == 0 {
		if dirfd == unix.AT_FDCWD {
			return unix.EFAULT
		}
		return setStatEmpty(t, dirfd, s)
	}
	return setStatAt(t, dirfd, pathAddr, flags, s)
}

func validNsec(n int64) bool {
	return (n >= 0 && n < 1e9) || n == unix.UTIME_NOW || n == unix.UTIME_OMIT
}

func sysUtimensat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	var times *[2]unix.Timespec
	if a[2] != 0 {
		b := make([]byte, 32)
		if err := t.CopyIn(uintptr(a[2]), b); err != nil {
			return 0, err
		}
		times = new([2]unix.Timespec)
		for i := range times {
			times[i].Sec = int64(binary.LittleEndian.Uint64(b[16*i:]))
			times[i].Nsec = int64(binary.LittleEndian.Uint64(b[16*i+8:]))
			if !validNsec(times[i].Nsec) {
				return 0, unix.EINVAL
			}
		}
	}
	return 0, utimes(t, int32(a[0]), uintptr(a[1]), times, flags)
}

// copyInTimevals reads struct timeval[2] (nil address: now).
func copyInTimevals(t *kernel.Task, addr uintptr) (*[2]unix.Timespec, error) {
	if addr == 0 {
		return nil, nil
	}
	b := make([]byte, 32)
	if err := t.CopyIn(addr, b); err != nil {
		return nil, err
	}
	times := new([2]unix.Timespec)
	for i := range times {
		sec := int64(binary.LittleEndian.Uint64(b[16*i:]))
		usec := int64(binary.LittleEndian.Uint64(b[16*i+8:]))
		if usec < 0 || usec >= 1e6 {
			return nil, unix.EINVAL
		}
		times[i] = unix.Timespec{Sec: sec, Nsec: usec * 1000}
	}
	return times, nil
}

func sysUtimes(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	times, err := copyInTimevals(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	if a[0] == 0 {
		return 0, unix.EFAULT
	}
	return 0, utimes(t, unix.AT_FDCWD, uintptr(a[0]), times, 0)
}

func sysFutimesat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	times, err := copyInTimevals(t, uintptr(a[2]))
	if err != nil {
		return 0, err
	}
	return 0, utimes(t, int32(a[0]), uintptr(a[1]), times, 0)
}

// sysUtime implements utime(2): struct utimbuf {actime, modtime}.
func sysUtime(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var times *[2]unix.Timespec
	if a[1] != 0 {
		b := make([]byte, 16)
		if err := t.CopyIn(uintptr(a[1]), b); err != nil {
			return 0, err
		}
		times = &[2]unix.Timespec{
			{Sec: int64(binary.LittleEndian.Uint64(b[0:]))},
			{Sec: int64(binary.LittleEndian.Uint64(b[8:]))},
		}
	}
	if a[0] == 0 {
		return 0, unix.EFAULT
	}
	return 0, utimes(t, unix.AT_FDCWD, uintptr(a[0]), times, 0)
}

func faccessat(t *kernel.Task, dirfd int32, pathAddr uintptr, mode, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 || mode&^7 != 0 {
		return 0, unix.EINVAL
	}
	// access(2) checks with the real ids and the capabilities that go
	// with them; AT_EACCESS with the effective (filesystem) ones.
	var ctx vfs.Context = t
	if flags&unix.AT_EACCESS == 0 {
		ctx = t.AccessContext()
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
		vd, f, err := emptyPathFile(t, dirfd)
		if err != nil {
			return 0, err
		}
		if f != nil {
			defer f.DecRef()
		}
		if !vd.Ok() {
			return 0, nil // an anonymous file: nothing to check
		}
		return 0, vfsOf(t).AccessAt(ctx, vd, mode)
	}
	pop, err := pathOpAt(t, dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	return 0, vfsOf(t).Access(ctx, pop, mode)
}

func sysAccess(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return faccessat(t, unix.AT_FDCWD, uintptr(a[0]), uint32(a[1]), 0)
}

func sysFaccessat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return faccessat(t, int32(a[0]), uintptr(a[1]), uint32(a[2]), 0)
}

func sysFaccessat2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return faccessat(t, int32(a[0]), uintptr(a[1]), uint32(a[2]), uint32(a[3]))
}

func sysUmask(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.FSContext().SwapUmask(uint32(a[0]) & 0o777)), nil
}

func sysFsync(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := ioFileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Sync(t)
}

func sysSync(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, vfsOf(t).SyncAll(t)
}

func sysSyncfs(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := ioFileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	f.DecRef()
	return 0, vfsOf(t).SyncAll(t)
}

// sysFadvise64 validates its arguments and ignores the advice.
func sysFadvise64(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := ioFileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if int64(a[2]) < 0 || a[3] > unix.FADV_NOREUSE {
		return 0, unix.EINVAL
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO {
		return 0, unix.ESPIPE
	}
	return 0, nil
}

// sysFallocate implements fallocate(2) for files that support it (tmpfs:
// mode 0 and FALLOC_FL_KEEP_SIZE; gofer files: passed to the host).
func sysFallocate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Allocate(t, uint32(a[1]), int64(a[2]), int64(a[3]))
}
