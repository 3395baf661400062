package syscalls

// Pipes: pipe(2), pipe2(2).

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/pipe"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_PIPE, "pipe", sysPipe, Hex)
	register(unix.SYS_PIPE2, "pipe2", sysPipe2, Hex, Hex).partial("O_DIRECT (packet pipes): EINVAL")
}

func sysPipe(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, makePipe(t, uintptr(a[0]), 0)
}

func sysPipe2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[1])
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.O_DIRECT != 0 {
		// Packet-mode pipes are not implemented.
		return 0, unsupported(t, "pipe2(O_DIRECT)", unix.EINVAL)
	}
	return 0, makePipe(t, uintptr(a[0]), flags)
}

// makePipe creates a pipe, installs its ends and stores their descriptors
// at addr (int[2]: read end, write end).
func makePipe(t *kernel.Task, addr uintptr, flags uint32) error {
	r, w := pipe.NewFiles(t, flags)
	defer r.DecRef()
	defer w.DecRef()
	fdt := t.FDTable()
	fds, err := fdt.NewFDs([]*vfs.FileDescription{r, w}, flags&unix.O_CLOEXEC != 0)
	if err != nil {
		return err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(fds[0]))
	binary.LittleEndian.PutUint32(b[4:], uint32(fds[1]))
	if err := t.CopyOut(addr, b[:]); err != nil {
		fdt.Remove(fds[0])
		fdt.Remove(fds[1])
		return err
	}
	return nil
}
