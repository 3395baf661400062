package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/inotify"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// File change notification: inotify(7) (sentry/fs/inotify); fanotify and
// file handles are refused as a container without CAP_SYS_ADMIN and a
// filesystem without export operations answer.

func init() {
	register(unix.SYS_INOTIFY_INIT, "inotify_init", sysInotifyInit)
	register(unix.SYS_INOTIFY_INIT1, "inotify_init1", sysInotifyInit1, Hex)
	register(unix.SYS_INOTIFY_ADD_WATCH, "inotify_add_watch", sysInotifyAddWatch, FD, Path, Hex)
	register(unix.SYS_INOTIFY_RM_WATCH, "inotify_rm_watch", sysInotifyRmWatch, FD, Int)
	// fanotify_init(2) needs CAP_SYS_ADMIN (unprivileged use is limited to
	// FAN_REPORT_FID groups); container runtimes (docker's default
	// seccomp profile) answer EPERM to a container without it. The
	// Sentry has no fanotify, and answers EPERM to everyone.
	refuse(unix.SYS_FANOTIFY_INIT, "fanotify_init", unix.EPERM, "EPERM, as in a container without CAP_SYS_ADMIN (no fanotify)", Hex, Hex)
	register(unix.SYS_FANOTIFY_MARK, "fanotify_mark", sysFanotifyMark, FD, Hex, Hex, FD, Path).partial("no fanotify group can exist: EBADF or EINVAL")
	// No Sentry filesystem has export operations (exportfs), so there
	// are no file handles: name_to_handle_at(2) gives EOPNOTSUPP, and so
	// does open_by_handle_at(2).
	refuse(unix.SYS_NAME_TO_HANDLE_AT, "name_to_handle_at", unix.EOPNOTSUPP, "EOPNOTSUPP: no filesystem has file handles", FD, Path, Hex, Hex, Hex)
	refuse(unix.SYS_OPEN_BY_HANDLE_AT, "open_by_handle_at", unix.EOPNOTSUPP, "EOPNOTSUPP: no filesystem has file handles", FD, Hex, Hex)
}

func sysInotifyInit(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return inotifyInit(t, 0)
}

func sysInotifyInit1(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return inotifyInit(t, uint32(a[0]))
}

// inotifyInit implements inotify_init1(2): IN_NONBLOCK and IN_CLOEXEC
// (others: EINVAL); EMFILE past max_user_instances.
func inotifyInit(t *kernel.Task, flags uint32) (uintptr, error) {
	if flags&^(unix.IN_NONBLOCK|unix.IN_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	in, err := inotify.New(vfsOf(t), t.Credentials().UID)
	if err != nil {
		return 0, err
	}
	file := vfs.NewFileDescription(in, unix.O_RDONLY|flags&unix.O_NONBLOCK,
		vfs.NewAnonInode(t, 0o600), "anon_inode:inotify")
	return anonInstall(t, file, flags&unix.IN_CLOEXEC != 0)
}

// inotifyOf returns the instance behind fd: EBADF if fd is not open,
// EINVAL if it is not an inotify file.
func inotifyOf(t *kernel.Task, fd int32) (*inotify.Instance, *vfs.FileDescription, error) {
	f, err := fileOf(t, fd)
	if err != nil {
		return nil, nil, err
	}
	in, ok := f.Impl().(*inotify.Instance)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return in, f, nil
}

// sysInotifyAddWatch implements inotify_add_watch(2), in Linux's order:
// EINVAL for IN_MASK_ADD with IN_MASK_CREATE or no known bit, EBADF,
// EINVAL for a file that is not an inotify instance, the path's errors
// (IN_DONT_FOLLOW, IN_ONLYDIR: ENOTDIR), EACCES without read permission.
func sysInotifyAddWatch(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	mask := uint32(a[2])
	if mask&unix.IN_MASK_ADD != 0 && mask&0x10000000 != 0 {
		return 0, unix.EINVAL
	}
	if mask&inotify.AllBits == 0 {
		return 0, unix.EINVAL
	}
	in, f, err := inotifyOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	pop, err := copyInPathOp(t, unix.AT_FDCWD, uintptr(a[1]), mask&unix.IN_DONT_FOLLOW == 0)
	if err != nil {
		return 0, err
	}
	vd, err := vfsOf(t).GetDentry(t, pop)
	if err != nil {
		return 0, err
	}
	defer vd.DecRef()
	if mask&unix.IN_ONLYDIR != 0 && !vd.Dentry.IsDir() {
		return 0, unix.ENOTDIR
	}
	if err := vfs.CheckAccess(t, vd, vfs.MayRead); err != nil {
		return 0, err
	}
	wd, err := in.AddWatch(vd, mask&inotify.AllBits)
	return uintptr(wd), err
}

func sysInotifyRmWatch(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	in, f, err := inotifyOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, in.RemoveWatch(int32(a[1]))
}

// sysFanotifyMark implements fanotify_mark(2) where no fanotify group can
// exist: EBADF for a descriptor that is not open, else EINVAL (not a
// fanotify file), as Linux checks.
func sysFanotifyMark(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	f.DecRef()
	return 0, unsupported(t, "fanotify_mark", unix.EINVAL)
}
