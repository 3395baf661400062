package syscalls

// signalfd(2), signalfd4(2).

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/signalfd"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SIGNALFD, "signalfd", sysSignalfd, FD, Hex, Int)
	register(unix.SYS_SIGNALFD4, "signalfd4", sysSignalfd4, FD, Hex, Int, Hex)
}

func sysSignalfd(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return doSignalfd(t, int32(a[0]), uintptr(a[1]), a[2], 0)
}

func sysSignalfd4(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return doSignalfd(t, int32(a[0]), uintptr(a[1]), a[2], uint32(a[3]))
}

// doSignalfd makes a signalfd for the signals of the mask at addr, or,
// with fd not -1, changes the mask of signalfd fd.
func doSignalfd(t *kernel.Task, fd int32, addr uintptr, size uint64, flags uint32) (uintptr, error) {
	if flags&^(unix.SFD_CLOEXEC|unix.SFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	mask, err := copyInSigset(t, addr, size)
	if err != nil {
		return 0, err
	}
	if fd != -1 {
		f, err := fileOf(t, fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		sf, ok := f.Impl().(*signalfd.File)
		if !ok {
			return 0, unix.EINVAL
		}
		sf.SetMask(mask)
		return uintptr(fd), nil
	}
	file := vfs.NewFileDescription(signalfd.New(t, mask), unix.O_RDWR|flags&unix.O_NONBLOCK,
		vfs.NewAnonInode(t, 0o600), "anon_inode:[signalfd]")
	return anonInstall(t, file, flags&unix.O_CLOEXEC != 0)
}
