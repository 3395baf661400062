package syscalls

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// The stat family. The amd64 encodings of struct stat (144 bytes), struct
// statx (256 bytes) and struct statfs (120 bytes) are all in this file.

func init() {
	register(unix.SYS_STAT, "stat", sysStat, Path, Hex)
	register(unix.SYS_LSTAT, "lstat", sysLstat, Path, Hex)
	register(unix.SYS_FSTAT, "fstat", sysFstat, FD, Hex)
	register(unix.SYS_NEWFSTATAT, "newfstatat", sysNewfstatat, FD, Path, Hex, Hex)
	register(unix.SYS_STATX, "statx", sysStatx, FD, Path, Hex, Hex, Hex)
	register(unix.SYS_STATFS, "statfs", sysStatfs, Path, Hex)
	register(unix.SYS_FSTATFS, "fstatfs", sysFstatfs, FD, Hex)
}

const (
	statSize   = 144
	statxSize  = 256
	statfsSize = 120

	// statxReserved is STATX__RESERVED: requesting it is EINVAL.
	statxReserved = 0x80000000
	// atStatxSyncType is AT_STATX_SYNC_TYPE (the sync mode bits).
	atStatxSyncType = 0x6000
)

// encodeStat encodes st as amd64 struct stat.
func encodeStat(st *vfs.Stat) []byte {
	b := make([]byte, statSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], st.Dev)
	le.PutUint64(b[8:], st.Ino)
	le.PutUint64(b[16:], uint64(st.Nlink))
	le.PutUint32(b[24:], st.Mode)
	le.PutUint32(b[28:], st.UID)
	le.PutUint32(b[32:], st.GID)
	le.PutUint64(b[40:], st.Rdev)
	le.PutUint64(b[48:], uint64(st.Size))
	le.PutUint64(b[56:], uint64(st.Blksize))
	le.PutUint64(b[64:], uint64(st.Blocks))
	le.PutUint64(b[72:], uint64(st.Atime.Sec))
	le.PutUint64(b[80:], uint64(st.Atime.Nsec))
	le.PutUint64(b[88:], uint64(st.Mtime.Sec))
	le.PutUint64(b[96:], uint64(st.Mtime.Nsec))
	le.PutUint64(b[104:], uint64(st.Ctime.Sec))
	le.PutUint64(b[112:], uint64(st.Ctime.Nsec))
	return b
}

// encodeStatx encodes st as struct statx with the basic fields.
func encodeStatx(st *vfs.Stat, mntID uint64) []byte {
	b := make([]byte, statxSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], unix.STATX_BASIC_STATS|unix.STATX_MNT_ID)
	le.PutUint32(b[4:], uint32(st.Blksize))
	le.PutUint32(b[16:], st.Nlink)
	le.PutUint32(b[20:], st.UID)
	le.PutUint32(b[24:], st.GID)
	le.PutUint16(b[28:], uint16(st.Mode))
	le.PutUint64(b[32:], st.Ino)
	le.PutUint64(b[40:], uint64(st.Size))
	le.PutUint64(b[48:], uint64(st.Blocks))
	ts := func(off int, t unix.Timespec) {
		le.PutUint64(b[off:], uint64(t.Sec))
		le.PutUint32(b[off+8:], uint32(t.Nsec))
	}
	ts(64, st.Atime)
	// btime (80) is not reported.
	ts(96, st.Ctime)
	ts(112, st.Mtime)
	le.PutUint32(b[128:], vfs.DevMajor(st.Rdev))
	le.PutUint32(b[132:], vfs.DevMinor(st.Rdev))
	le.PutUint32(b[136:], vfs.DevMajor(st.Dev))
	le.PutUint32(b[140:], vfs.DevMinor(st.Dev))
	le.PutUint64(b[144:], mntID)
	return b
}

// encodeStatfs encodes s as amd64 struct statfs.
func encodeStatfs(s *vfs.StatFS) []byte {
	b := make([]byte, statfsSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], s.Type)
	le.PutUint64(b[8:], uint64(s.Bsize))
	le.PutUint64(b[16:], s.Blocks)
	le.PutUint64(b[24:], s.Bfree)
	le.PutUint64(b[32:], s.Bavail)
	le.PutUint64(b[40:], s.Files)
	le.PutUint64(b[48:], s.Ffree)
	le.PutUint32(b[56:], uint32(s.Fsid[0]))
	le.PutUint32(b[60:], uint32(s.Fsid[1]))
	le.PutUint64(b[64:], uint64(s.Namelen))
	le.PutUint64(b[72:], uint64(s.Frsize))
	le.PutUint64(b[80:], uint64(s.Flags))
	return b
}

// statAt stats (dirfd, path) with AT_* flags (AT_SYMLINK_NOFOLLOW,
// AT_EMPTY_PATH); it returns the stat and the mount id.
func statAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32) (vfs.Stat, uint64, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return vfs.Stat{}, 0, err
	}
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
		vd, f, err := emptyPathFile(t, dirfd)
		if err != nil {
			return vfs.Stat{}, 0, err
		}
		if f != nil {
			defer f.DecRef()
			st, err := f.Stat(t)
			return st, mountID(f.VirtualDentry()), err
		}
		st, err := vd.Inode().Stat(t)
		return st, mountID(vd), err
	}
	pop, err := pathOpAt(t, dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return vfs.Stat{}, 0, err
	}
	return vfsOf(t).StatMount(t, pop)
}

func mountID(vd vfs.VirtualDentry) uint64 {
	if vd.Mount == nil {
		return 0
	}
	return vd.Mount.ID()
}

func putStat(t *kernel.Task, addr uintptr, st *vfs.Stat) error {
	viewOwner(t, st)
	return t.CopyOut(addr, encodeStat(st))
}

// viewOwner shows a file's owner as the caller's user namespace sees it
// (unmapped ids read as the overflow ids, user_namespaces(7)).
func viewOwner(t *kernel.Task, st *vfs.Stat) {
	if ns := t.UserNamespace(); !ns.IsRoot() {
		st.UID, st.GID = ns.ViewUID(st.UID), ns.ViewGID(st.GID)
	}
}

func sysStat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	st, _, err := statAt(t, unix.AT_FDCWD, uintptr(a[0]), 0)
	if err != nil {
		return 0, err
	}
	return 0, putStat(t, uintptr(a[1]), &st)
}

func sysLstat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	st, _, err := statAt(t, unix.AT_FDCWD, uintptr(a[0]), unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return 0, err
	}
	return 0, putStat(t, uintptr(a[1]), &st)
}

func sysFstat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	return 0, putStat(t, uintptr(a[1]), &st)
}

func sysNewfstatat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT) != 0 {
		return 0, unix.EINVAL
	}
	st, _, err := statAt(t, int32(a[0]), uintptr(a[1]), flags)
	if err != nil {
		return 0, err
	}
	return 0, putStat(t, uintptr(a[2]), &st)
}

func sysStatx(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags, mask := uint32(a[2]), uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT|atStatxSyncType) != 0 ||
		flags&atStatxSyncType == atStatxSyncType || mask&statxReserved != 0 {
		return 0, unix.EINVAL
	}
	st, mnt, err := statAt(t, int32(a[0]), uintptr(a[1]), flags)
	if err != nil {
		return 0, err
	}
	viewOwner(t, &st)
	return 0, t.CopyOut(uintptr(a[4]), encodeStatx(&st, mnt))
}

func sysStatfs(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pop, err := copyInPathOp(t, unix.AT_FDCWD, uintptr(a[0]), true)
	if err != nil {
		return 0, err
	}
	s, err := vfsOf(t).StatFS(t, pop)
	if err != nil {
		return 0, err
	}
	return 0, t.CopyOut(uintptr(a[1]), encodeStatfs(&s))
}

func sysFstatfs(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	s, err := f.StatFS(t)
	if err != nil {
		return 0, err
	}
	return 0, t.CopyOut(uintptr(a[1]), encodeStatfs(&s))
}
