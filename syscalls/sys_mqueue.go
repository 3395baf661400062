package syscalls

// POSIX message queues: mq_open(2), mq_unlink(2), mq_timedsend(2),
// mq_timedreceive(2), mq_notify(2), mq_getsetattr(2) (mq_overview(7)),
// on the mqueue filesystem of the caller's IPC namespace
// (sentry/fs/mqueue).

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/mqueue"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_MQ_OPEN, "mq_open", sysMqOpen, Path, Hex, Oct, Hex)
	register(unix.SYS_MQ_UNLINK, "mq_unlink", sysMqUnlink, Path)
	register(unix.SYS_MQ_TIMEDSEND, "mq_timedsend", sysMqTimedsend, FD, Hex, Int, Int, Hex)
	register(unix.SYS_MQ_TIMEDRECEIVE, "mq_timedreceive", sysMqTimedreceive, FD, Hex, Int, Hex, Hex)
	register(unix.SYS_MQ_NOTIFY, "mq_notify", sysMqNotify, FD, Hex).partial("SIGEV_THREAD (glibc's netlink socket): ECONNREFUSED, ENOTSOCK for a descriptor that is no socket")
	register(unix.SYS_MQ_GETSETATTR, "mq_getsetattr", sysMqGetsetattr, FD, Hex, Hex)
}

// mqAttrSize is sizeof(struct mq_attr): four longs and four reserved.
const mqAttrSize = 64

func mqueueFS(t *kernel.Task) *mqueue.FS { return mqueue.Of(t.Kernel(), t.IPCNamespace()) }

func sysMqOpen(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	name, err := t.CopyInString(uintptr(a[0]), unix.PathMax)
	if err != nil {
		return 0, err
	}
	flags, mode := uint32(a[1]), uint32(a[2])
	var attr *mqueue.Attr
	if a[3] != 0 {
		var b [mqAttrSize]byte
		if err := t.CopyIn(uintptr(a[3]), b[:]); err != nil {
			return 0, err
		}
		le := binary.LittleEndian
		attr = &mqueue.Attr{MaxMsg: int64(le.Uint64(b[8:])), MsgSize: int64(le.Uint64(b[16:]))}
	}
	if flags&unix.O_CREAT == 0 {
		attr = nil
	}
	mode &^= t.FSContext().Umask()
	f, err := mqueueFS(t).Open(t, name, flags, mode, attr)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.FDTable().NewFD(0, f, true)
	return uintptr(fd), err
}

func sysMqUnlink(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	name, err := t.CopyInString(uintptr(a[0]), unix.PathMax)
	if err != nil {
		return 0, err
	}
	return 0, mqueueFS(t).Unlink(t, name)
}

// mqFile returns the queue of descriptor fd (EBADF for no queue) and
// its description, which the caller releases.
func mqFile(t *kernel.Task, fd int32) (*mqueue.Queue, *vfs.FileDescription, error) {
	f, err := t.FDTable().GetFile(fd)
	if err != nil {
		return nil, nil, unix.EBADF
	}
	q := mqueue.QueueOf(f)
	if q == nil {
		f.DecRef()
		return nil, nil, unix.EBADF
	}
	return q, f, nil
}

// mqDeadline reads an absolute CLOCK_REALTIME timeout (EINVAL when its
// nanoseconds are out of range or it is negative).
func mqDeadline(t *kernel.Task, addr uintptr) (*time.Time, error) {
	if addr == 0 {
		return nil, nil
	}
	var b [16]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return nil, err
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return nil, unix.EINVAL
	}
	d := time.Unix(sec, nsec)
	return &d, nil
}

func sysMqTimedsend(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, ptr, size, prio := int32(a[0]), uintptr(a[1]), a[2], a[3]
	if prio >= mqueue.PrioMax {
		return 0, unix.EINVAL
	}
	deadline, err := mqDeadline(t, uintptr(a[4]))
	if err != nil {
		return 0, err
	}
	q, f, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.IsWritable() {
		return 0, unix.EBADF
	}
	if int64(size) > q.GetAttr().MsgSize || int64(size) < 0 {
		return 0, unix.EMSGSIZE
	}
	data := make([]byte, size)
	if err := t.CopyIn(ptr, data); err != nil {
		return 0, err
	}
	return 0, q.Send(t, data, uint32(prio), f.StatusFlags()&unix.O_NONBLOCK != 0, deadline, t)
}

func sysMqTimedreceive(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, ptr, size, prioAddr := int32(a[0]), uintptr(a[1]), int64(a[2]), uintptr(a[3])
	deadline, err := mqDeadline(t, uintptr(a[4]))
	if err != nil {
		return 0, err
	}
	q, f, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.IsReadable() {
		return 0, unix.EBADF
	}
	data, prio, err := q.Receive(t, size, f.StatusFlags()&unix.O_NONBLOCK != 0, deadline)
	if err != nil {
		return 0, err
	}
	if err := t.CopyOut(ptr, data); err != nil {
		return 0, err
	}
	if prioAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], prio)
		if err := t.CopyOut(prioAddr, b[:]); err != nil {
			return 0, err
		}
	}
	return uintptr(len(data)), nil
}

// mq_notify(2). struct sigevent: sigev_value (8 bytes), sigev_signo,
// sigev_notify, then the union.
func sysMqNotify(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, sevp := int32(a[0]), uintptr(a[1])
	var kind, signo int32
	var value uint64
	if sevp != 0 {
		var b [16]byte
		if err := t.CopyIn(sevp, b[:]); err != nil {
			return 0, err
		}
		le := binary.LittleEndian
		value, signo, kind = le.Uint64(b[0:]), int32(le.Uint32(b[8:])), int32(le.Uint32(b[12:]))
		switch kind {
		case mqueue.SigevNone:
		case mqueue.SigevSignal:
			if signo < 0 || signo > 64 {
				return 0, unix.EINVAL
			}
		case mqueue.SigevThread:
			// The kernel would send a cookie to the netlink socket in
			// sigev_signo (glibc's helper thread reads it); the Sentry
			// cannot deliver to netlink sockets.
			var cookie [32]byte
			if err := t.CopyIn(uintptr(value), cookie[:]); err != nil {
				return 0, err
			}
			sf, err := t.FDTable().GetFile(signo)
			if err != nil {
				return 0, unix.EBADF
			}
			st, err := sf.Stat(t)
			sf.DecRef()
			if err == nil && st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				return 0, unix.ENOTSOCK
			}
			return 0, unsupported(t, "mq_notify(SIGEV_THREAD)", unix.ECONNREFUSED)
		default:
			return 0, unix.EINVAL
		}
	}
	q, f, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, q.Notify(t.ThreadGroup(), sevp == 0, kind, signo, value)
}

// mq_getsetattr(2): only O_NONBLOCK of mq_flags can change (EINVAL for
// other flags); the old attributes are those before the change.
func sysMqGetsetattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	fd, newp, oldp := int32(a[0]), uintptr(a[1]), uintptr(a[2])
	le := binary.LittleEndian
	var setFlags *uint64
	if newp != 0 {
		var b [mqAttrSize]byte
		if err := t.CopyIn(newp, b[:]); err != nil {
			return 0, err
		}
		fl := le.Uint64(b[0:])
		if fl&^unix.O_NONBLOCK != 0 {
			return 0, unix.EINVAL
		}
		setFlags = &fl
	}
	q, f, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	at := q.GetAttr()
	at.Flags = int64(f.StatusFlags() & unix.O_NONBLOCK)
	if setFlags != nil {
		f.SetNonblocking(*setFlags&unix.O_NONBLOCK != 0)
	}
	if oldp != 0 {
		var b [mqAttrSize]byte
		for i, v := range []int64{at.Flags, at.MaxMsg, at.MsgSize, at.CurMsgs} {
			le.PutUint64(b[8*i:], uint64(v))
		}
		if err := t.CopyOut(oldp, b[:]); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
