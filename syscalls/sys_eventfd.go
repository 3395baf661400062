package syscalls

// eventfd(2), eventfd2(2).

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/eventfd"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_EVENTFD, "eventfd", sysEventfd, Int)
	register(unix.SYS_EVENTFD2, "eventfd2", sysEventfd2, Int, Hex)
}

// efdSemaphore is EFD_SEMAPHORE.
const efdSemaphore = 1

func sysEventfd(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return newEventfd(t, uint32(a[0]), 0)
}

func sysEventfd2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return newEventfd(t, uint32(a[0]), uint32(a[1]))
}

func newEventfd(t *kernel.Task, initval, flags uint32) (uintptr, error) {
	if flags&^(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|efdSemaphore) != 0 {
		return 0, unix.EINVAL
	}
	impl := eventfd.New(uint64(initval), flags&efdSemaphore != 0)
	file := vfs.NewFileDescription(impl, unix.O_RDWR|flags&unix.O_NONBLOCK,
		vfs.NewAnonInode(t, 0o600), "anon_inode:[eventfd]")
	return anonInstall(t, file, flags&unix.O_CLOEXEC != 0)
}

// anonInstall puts a new file description at the lowest free descriptor
// and drops the caller's reference.
func anonInstall(t *kernel.Task, file *vfs.FileDescription, cloexec bool) (uintptr, error) {
	defer file.DecRef()
	fd, err := t.FDTable().NewFD(0, file, cloexec)
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}
