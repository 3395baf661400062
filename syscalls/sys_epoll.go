package syscalls

// epoll(7): epoll_create(2), epoll_create1(2), epoll_ctl(2), epoll_wait(2),
// epoll_pwait(2), epoll_pwait2(2).

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/epoll"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_EPOLL_CREATE, "epoll_create", sysEpollCreate, Int)
	register(unix.SYS_EPOLL_CREATE1, "epoll_create1", sysEpollCreate1, Hex)
	register(unix.SYS_EPOLL_CTL, "epoll_ctl", sysEpollCtl, FD, Int, FD, Hex)
	register(unix.SYS_EPOLL_WAIT, "epoll_wait", sysEpollWait, FD, Hex, Int, Int)
	register(unix.SYS_EPOLL_PWAIT, "epoll_pwait", sysEpollPwait, FD, Hex, Int, Int, Hex, Int)
	register(unix.SYS_EPOLL_PWAIT2, "epoll_pwait2", sysEpollPwait2, FD, Hex, Int, Hex, Hex, Int)
}

func sysEpollCreate(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if int32(a[0]) <= 0 {
		return 0, unix.EINVAL
	}
	return newEpoll(t, false)
}

func sysEpollCreate1(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[0])
	if flags&^unix.EPOLL_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	return newEpoll(t, flags&unix.EPOLL_CLOEXEC != 0)
}

func newEpoll(t *kernel.Task, cloexec bool) (uintptr, error) {
	file := vfs.NewFileDescription(epoll.New(), unix.O_RDWR, vfs.NewAnonInode(t, 0o600), "anon_inode:[eventpoll]")
	return anonInstall(t, file, cloexec)
}

// epollOf returns the epoll instance of descriptor epfd (EBADF if not open,
// EINVAL if not an epoll fd), with a reference on its file.
func epollOf(t *kernel.Task, epfd int32) (*vfs.FileDescription, *epoll.EventPoll, error) {
	file, err := t.FDTable().GetFile(epfd)
	if err != nil {
		return nil, nil, err
	}
	ep, ok := file.Impl().(*epoll.EventPoll)
	if !ok {
		file.DecRef()
		return nil, nil, unix.EINVAL
	}
	return file, ep, nil
}

// pollable reports whether file supports readiness notification. Like
// Linux, regular files and directories do not (epoll_ctl gives EPERM).
func pollable(t *kernel.Task, file *vfs.FileDescription) bool {
	inode := file.Inode()
	if inode == nil {
		return true
	}
	var ftype uint32
	if tr, ok := inode.(vfs.TypeReporter); ok {
		ftype = tr.FileType()
	} else if st, err := inode.Stat(t); err == nil {
		ftype = st.Mode & unix.S_IFMT
	}
	return ftype != unix.S_IFREG && ftype != unix.S_IFDIR
}

func sysEpollCtl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	epfd, op, fd, evAddr := int32(a[0]), int(int32(a[1])), int32(a[2]), uintptr(a[3])
	var ev epoll.Event
	if op == epoll.CtlAdd || op == epoll.CtlMod {
		var b [epoll.EventSize]byte
		if err := t.CopyIn(evAddr, b[:]); err != nil {
			return 0, err
		}
		ev = epoll.UnmarshalEvent(b[:])
	}
	fdt := t.FDTable()
	epFile, err := fdt.GetFile(epfd)
	if err != nil {
		return 0, err
	}
	defer epFile.DecRef()
	file, err := fdt.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer file.DecRef()
	if file.IsPath() || epFile.IsPath() {
		return 0, unix.EBADF
	}
	if !pollable(t, file) {
		return 0, unix.EPERM
	}
	ep, ok := epFile.Impl().(*epoll.EventPoll)
	if !ok || file == epFile {
		return 0, unix.EINVAL
	}
	switch op {
	case epoll.CtlAdd:
		return 0, ep.Add(fd, file, file.Impl(), ev.Events, ev.Data)
	case epoll.CtlMod:
		return 0, ep.Modify(fd, file, ev.Events, ev.Data)
	case epoll.CtlDel:
		return 0, ep.Delete(fd, file)
	}
	return 0, unix.EINVAL
}

// epollWait implements the epoll_wait family; timeout < 0 waits forever.
func epollWait(t *kernel.Task, epfd int32, evAddr uintptr, maxEvents int32, timeout time.Duration) (uintptr, error) {
	if maxEvents <= 0 || maxEvents > epoll.MaxEvents {
		return 0, unix.EINVAL
	}
	epFile, ep, err := epollOf(t, epfd)
	if err != nil {
		return 0, err
	}
	defer epFile.DecRef()
	out := make([]epoll.Event, min(int(maxEvents), 1024))
	n, err := ep.Wait(t, out, timeout)
	if err != nil {
		if err == syserr.ErrInterrupted {
			// epoll_wait is never restarted (signal(7)).
			return 0, unix.EINTR
		}
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	if err := t.CopyOut(evAddr, epoll.MarshalEvents(out[:n])); err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// msTimeout converts a poll-style millisecond timeout (negative: forever).
func msTimeout(ms int32) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

func sysEpollWait(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return epollWait(t, int32(a[0]), uintptr(a[1]), int32(a[2]), msTimeout(int32(a[3])))
}

// epollSigmask installs epoll_pwait's temporary signal mask, if any, and
// returns a function to call with the result: it restores the old mask
// unless the wait was interrupted (then it is restored after the signal
// handler is set up).
func epollSigmask(t *kernel.Task, maskAddr uintptr, size uint64) (func(error), error) {
	if maskAddr == 0 {
		return func(error) {}, nil
	}
	mask, err := copyInSigset(t, maskAddr, size)
	if err != nil {
		return nil, err
	}
	t.SetSavedSignalMask(mask)
	return func(err error) {
		if err != unix.EINTR {
			t.RestoreSavedSignalMask()
		}
	}, nil
}

func sysEpollPwait(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	done, err := epollSigmask(t, uintptr(a[4]), a[5])
	if err != nil {
		return 0, err
	}
	n, err := epollWait(t, int32(a[0]), uintptr(a[1]), int32(a[2]), msTimeout(int32(a[3])))
	done(err)
	return n, err
}

func sysEpollPwait2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	timeout := time.Duration(-1)
	if a[3] != 0 {
		d, err := copyInPollTimespec(t, uintptr(a[3]))
		if err != nil {
			return 0, err
		}
		timeout = d
	}
	done, err := epollSigmask(t, uintptr(a[4]), a[5])
	if err != nil {
		return 0, err
	}
	n, err := epollWait(t, int32(a[0]), uintptr(a[1]), int32(a[2]), timeout)
	done(err)
	return n, err
}
