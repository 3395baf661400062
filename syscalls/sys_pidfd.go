package syscalls

// Process file descriptors: pidfd_open(2), pidfd_send_signal(2),
// pidfd_getfd(2); waitid(P_PIDFD) is in sys_process.go.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/pidfd"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_PIDFD_OPEN, "pidfd_open", sysPidfdOpen, Int, Hex).partial("PIDFD_THREAD (thread pidfds): EINVAL")
	register(unix.SYS_PIDFD_SEND_SIGNAL, "pidfd_send_signal", sysPidfdSendSignal, FD, Signal, Hex, Hex)
	register(unix.SYS_PIDFD_GETFD, "pidfd_getfd", sysPidfdGetfd, FD, Int, Hex)
}

// pidfd flags (include/uapi/linux/pidfd.h).
const (
	pidfdNonblock = unix.O_NONBLOCK
	pidfdThread   = unix.O_EXCL

	pidfdSignalThread       = 1
	pidfdSignalThreadGroup  = 2
	pidfdSignalProcessGroup = 4
)

func sysPidfdOpen(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, flags := int32(a[0]), uint32(a[1])
	if flags&^(pidfdNonblock|pidfdThread) != 0 || pid <= 0 {
		return 0, unix.EINVAL
	}
	if flags&pidfdThread != 0 {
		return 0, unsupported(t, "pidfd_open(PIDFD_THREAD)", unix.EINVAL)
	}
	// pid is in the caller's pid namespace.
	tg, err := t.LookupProcess(kernel.ThreadID(pid))
	if err != nil {
		if _, terr := t.LookupTask(kernel.ThreadID(pid)); terr == nil {
			return 0, unix.EINVAL // a thread, not a process
		}
		return 0, unix.ESRCH
	}
	return installPidfd(t, tg, flags&pidfdNonblock)
}

// installPidfd gives the caller a new pidfd of tg (always close-on-exec).
func installPidfd(t *kernel.Task, tg *kernel.ThreadGroup, flags uint32) (uintptr, error) {
	return anonInstall(t, newPidfdFile(t, tg, flags), true)
}

// newPidfdFile returns a new open pidfd of tg; the caller owns the
// reference.
func newPidfdFile(t *kernel.Task, tg *kernel.ThreadGroup, flags uint32) *vfs.FileDescription {
	return vfs.NewFileDescription(pidfd.New(tg), unix.O_RDWR|flags,
		vfs.NewAnonInode(t, 0o600), "anon_inode:[pidfd]")
}

// clonePidfd is clone's CLONE_PIDFD: a close-on-exec pidfd of the child,
// whose number the parent finds in the int at addr. As copy_process does,
// the descriptor is allocated and its number stored before the child
// exists, so that EMFILE and EFAULT fail the clone; until the child
// exists the descriptor holds a pidfd of the caller's own process.
type clonePidfd struct {
	t  *kernel.Task
	fd int32
}

// reserveClonePidfd allocates the descriptor and stores its number at
// addr.
func reserveClonePidfd(t *kernel.Task, addr uintptr) (*clonePidfd, error) {
	placeholder := newPidfdFile(t, t.ThreadGroup(), 0)
	defer placeholder.DecRef()
	fd, err := t.FDTable().NewFD(0, placeholder, true)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(fd))
	if err := t.CopyOut(addr, b[:]); err != nil {
		t.FDTable().Remove(fd)
		return nil, err
	}
	return &clonePidfd{t: t, fd: fd}, nil
}

// install makes the descriptor a pidfd of the child (CloneArgs.NewProcess).
func (c *clonePidfd) install(tg *kernel.ThreadGroup) {
	f := newPidfdFile(c.t, tg, 0)
	defer f.DecRef()
	c.t.FDTable().SetFD(c.fd, f, true)
}

// cancel frees the descriptor of a clone that failed.
func (c *clonePidfd) cancel() { c.t.FDTable().Remove(c.fd) }

// pidfdOf returns the pidfd behind fd (EBADF if it is not one). The
// caller drops the reference.
func pidfdOf(t *kernel.Task, fd int32) (*vfs.FileDescription, *pidfd.File, error) {
	f, err := t.FDTable().GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	pf, ok := f.Impl().(*pidfd.File)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EBADF
	}
	return f, pf, nil
}

// pidfd_send_signal(2): kill(2) of the pidfd's process, or
// rt_sigqueueinfo(2) when info is given; with PIDFD_SIGNAL_PROCESS_GROUP
// to its process group.
func sysPidfdSendSignal(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, sig, infoAddr, flags := int32(a[0]), unix.Signal(a[1]), uintptr(a[2]), uint32(a[3])
	if flags&^(pidfdSignalThread|pidfdSignalThreadGroup|pidfdSignalProcessGroup) != 0 || flags&(flags-1) != 0 {
		return 0, unix.EINVAL // unknown flags, or more than one scope
	}
	if sig < 0 || sig > 64 {
		return 0, unix.EINVAL
	}
	f, pf, err := pidfdOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	tg := pf.ThreadGroup()
	if tg.Reaped() {
		return 0, unix.ESRCH // a zombie still takes (and ignores) signals
	}
	var info *arch.SignalInfo
	if infoAddr != 0 {
		var signo [4]byte
		if err := t.CopyIn(infoAddr, signo[:]); err != nil {
			return 0, err
		}
		if unix.Signal(binary.LittleEndian.Uint32(signo[:])) != sig {
			return 0, unix.EINVAL
		}
		if info, err = copyInQueuedInfo(t, infoAddr, sig, int32(t.ViewOf(tg))); err != nil {
			return 0, err
		}
	} else {
		info = userSignalInfo(t, sig, siUser)
	}
	// A queued info's si_pid is the caller's to choose; otherwise it is
	// the caller's pid as each target's namespace sees it.
	setPID := infoAddr == 0
	k := t.Kernel()
	if flags == pidfdSignalProcessGroup {
		pgid := tg.ProcessGroup()
		sent := false
		var lastErr error
		for _, id := range k.ThreadGroupIDs() {
			o := k.ThreadGroupByID(id)
			if o == nil || o.ProcessGroup() != pgid {
				continue
			}
			if err := t.MaySignalProcess(o, sig); err != nil {
				lastErr = err
				continue
			}
			if sig != 0 {
				// A copy each: si_pid depends on the target.
				c := *info
				t.SignalProcess(o, &c, setPID)
			}
			sent = true
		}
		if !sent && lastErr != nil {
			return 0, lastErr
		}
		return 0, nil
	}
	if err := t.MaySignalProcess(tg, sig); err != nil {
		return 0, err
	}
	if sig == 0 {
		return 0, nil
	}
	if flags == pidfdSignalThread {
		// The thread whose tid is the pidfd's pid: the leader.
		leader := t.Kernel().TaskByTID(tg.ID())
		if leader == nil {
			return 0, unix.ESRCH
		}
		return 0, t.SignalThread(leader, info, setPID)
	}
	return 0, t.SignalProcess(tg, info, setPID)
}

// pidfd_getfd(2): a duplicate, close-on-exec, of descriptor targetfd of
// the pidfd's process, if the caller may ptrace-attach to it.
func sysPidfdGetfd(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, targetFD, flags := int32(a[0]), int32(a[1]), a[2]
	if flags != 0 {
		return 0, unix.EINVAL
	}
	f, pf, err := pidfdOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	tg := pf.ThreadGroup()
	target := tg.LiveTask()
	if target == nil || pf.Exited() {
		return 0, unix.ESRCH
	}
	if !t.MayAttach(tg) {
		return 0, unix.EPERM
	}
	tf, err := target.FDTable().GetFile(targetFD)
	if err != nil {
		return 0, err
	}
	defer tf.DecRef()
	nfd, err := t.FDTable().NewFD(0, tf, true)
	if err != nil {
		return 0, err
	}
	return uintptr(nfd), nil
}
