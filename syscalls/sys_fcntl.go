package syscalls

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// fcntl, flock and ioctl.

func init() {
	register(unix.SYS_FCNTL, "fcntl", sysFcntl, FD, Int, Hex).partial("F_SETOWN is not remembered; F_NOTIFY (dnotify): EINVAL, as with dir-notify-enable 0")
	register(unix.SYS_FLOCK, "flock", sysFlock, FD, Int)
	register(unix.SYS_IOCTL, "ioctl", sysIoctl, FD, Hex, Hex).partial("terminal (tty_ioctl(4) and pseudo-terminal), FIONREAD/FIONBIO/FIOASYNC/FIOCLEX and per-file ioctls only; others ENOTTY")
}

// flockSize is sizeof(struct flock) on amd64.
const flockSize = 32

func copyInFlock(t *kernel.Task, addr uintptr) (vfs.Flock, error) {
	b := make([]byte, flockSize)
	if err := t.CopyIn(addr, b); err != nil {
		return vfs.Flock{}, err
	}
	le := binary.LittleEndian
	return vfs.Flock{
		Type:   int16(le.Uint16(b[0:])),
		Whence: int16(le.Uint16(b[2:])),
		Start:  int64(le.Uint64(b[8:])),
		Len:    int64(le.Uint64(b[16:])),
		Pid:    int32(le.Uint32(b[24:])),
	}, nil
}

func copyOutFlock(t *kernel.Task, addr uintptr, fl vfs.Flock) error {
	b := make([]byte, flockSize)
	le := binary.LittleEndian
	le.PutUint16(b[0:], uint16(fl.Type))
	le.PutUint16(b[2:], uint16(fl.Whence))
	le.PutUint64(b[8:], uint64(fl.Start))
	le.PutUint64(b[16:], uint64(fl.Len))
	le.PutUint32(b[24:], uint32(fl.Pid))
	return t.CopyOut(addr, b)
}

// pipeSizer is implemented by pipe files (F_GETPIPE_SZ, F_SETPIPE_SZ).
type pipeSizer interface {
	PipeSize() int64
	SetPipeSize(int64) (int64, error)
}

// sysFcntl implements fcntl(2): F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD,
// F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW (POSIX record
// locks kept in the Sentry), F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW (open
// file description locks), F_ADD_SEALS/F_GET_SEALS (memfd seals),
// F_GETPIPE_SZ/F_SETPIPE_SZ for pipes, and F_GETOWN/F_SETOWN (stored
// nowhere: F_GETOWN is 0). Others give EINVAL.
func sysFcntl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, cmd, arg := int32(a[0]), int32(a[1]), a[2]
	tab := t.FDTable()
	f, cloexec, err := tab.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		if arg >= uint64(tab.Limit()) {
			return 0, unix.EINVAL
		}
		n, err := tab.NewFD(int32(arg), f, cmd == unix.F_DUPFD_CLOEXEC)
		return uintptr(n), err
	case unix.F_GETFD:
		if cloexec {
			return vfs.FDCloexec, nil
		}
		return 0, nil
	case unix.F_SETFD:
		return 0, tab.SetCloseOnExec(fd, arg&vfs.FDCloexec != 0)
	case unix.F_GETFL:
		return uintptr(f.StatusFlags()), nil
	case unix.F_SETFL:
		if f.IsPath() {
			return 0, unix.EBADF
		}
		f.SetStatusFlags(uint32(arg))
		return 0, nil
	case unix.F_GETLK:
		fl, err := copyInFlock(t, uintptr(arg))
		if err != nil {
			return 0, err
		}
		out, err := f.TestPOSIXLock(t, tab, fl)
		if err != nil {
			return 0, err
		}
		return 0, copyOutFlock(t, uintptr(arg), out)
	case unix.F_SETLK, unix.F_SETLKW:
		fl, err := copyInFlock(t, uintptr(arg))
		if err != nil {
			return 0, err
		}
		return 0, f.SetPOSIXLock(t, tab, t.ProcessID(), fl, cmd == unix.F_SETLKW)
	case unix.F_GETPIPE_SZ:
		if p, ok := f.Impl().(pipeSizer); ok {
			return uintptr(p.PipeSize()), nil
		}
		return 0, unix.EBADF
	case unix.F_SETPIPE_SZ:
		if p, ok := f.Impl().(pipeSizer); ok {
			n, err := p.SetPipeSize(int64(arg))
			return uintptr(n), err
		}
		return 0, unix.EBADF
	case unix.F_GETOWN:
		return 0, nil
	case unix.F_SETOWN:
		return 0, nil
	case unix.F_OFD_GETLK:
		fl, err := copyInFlock(t, uintptr(arg))
		if err != nil {
			return 0, err
		}
		out, err := f.TestOFDLock(t, fl)
		if err != nil {
			return 0, err
		}
		return 0, copyOutFlock(t, uintptr(arg), out)
	case unix.F_OFD_SETLK, unix.F_OFD_SETLKW:
		fl, err := copyInFlock(t, uintptr(arg))
		if err != nil {
			return 0, err
		}
		return 0, f.SetOFDLock(t, fl, cmd == unix.F_OFD_SETLKW)
	case unix.F_ADD_SEALS:
		return 0, addSeals(f, uint32(arg))
	case unix.F_GET_SEALS:
		return getSeals(f)
	case unix.F_NOTIFY:
		// dnotify: the Sentry has none, as Linux with
		// /proc/sys/fs/dir-notify-enable 0 (EINVAL); inotify is there.
		return 0, unsupported(t, "fcntl(F_NOTIFY)", unix.EINVAL)
	}
	return 0, unix.EINVAL
}

// addSeals implements F_ADD_SEALS (tmpfs files only: EINVAL elsewhere).
func addSeals(f *vfs.FileDescription, seals uint32) error {
	return tmpfs.AddSeals(f, seals)
}

// getSeals implements F_GET_SEALS.
func getSeals(f *vfs.FileDescription) (uintptr, error) {
	s, err := tmpfs.Seals(f)
	return uintptr(s), err
}

// sysFlock implements flock(2) (locks kept in the Sentry).
func sysFlock(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Flock(t, int(int32(a[1])))
}

// sysIoctl handles FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX and FIONREAD on
// regular files itself and passes everything else to the file (which
// answers ENOTTY to what it doesn't know).
func sysIoctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, cmd, arg := int32(a[0]), uint32(a[1]), a[2]
	f, err := fileOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	switch cmd {
	case vfs.FIOCLEX:
		return 0, t.FDTable().SetCloseOnExec(fd, true)
	case vfs.FIONCLEX:
		return 0, t.FDTable().SetCloseOnExec(fd, false)
	case vfs.FIONBIO, vfs.FIOASYNC:
		var b [4]byte
		if err := t.CopyIn(uintptr(arg), b[:]); err != nil {
			return 0, err
		}
		on := binary.LittleEndian.Uint32(b[:]) != 0
		bit := uint32(unix.O_NONBLOCK)
		if cmd == vfs.FIOASYNC {
			bit = unix.O_ASYNC
		}
		fl := f.StatusFlags() &^ bit
		if on {
			fl |= bit
		}
		f.SetStatusFlags(fl)
		return 0, nil
	case vfs.FIONREAD:
		st, err := f.Stat(t)
		if err != nil {
			return 0, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			n := max(st.Size-f.Offset(), 0)
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(min(n, 1<<31-1)))
			return 0, t.CopyOut(uintptr(arg), b[:])
		}
	}
	rv, err := f.Ioctl(t, t, cmd, arg)
	return uintptr(rv), err
}
