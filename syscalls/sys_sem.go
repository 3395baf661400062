package syscalls

// System V semaphores: semget(2), semop(2), semtimedop(2), semctl(2)
// (svipc(7)), in the caller's IPC namespace.

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/kernel/ipc"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SEMGET, "semget", sysSemget, Hex, Int, Oct)
	register(unix.SYS_SEMOP, "semop", sysSemop, Int, Hex, Int)
	register(unix.SYS_SEMTIMEDOP, "semtimedop", sysSemtimedop, Int, Hex, Int, Hex)
	register(unix.SYS_SEMCTL, "semctl", sysSemctl, Int, Int, Int, Hex)
}

// semctl(2) commands beyond the common ones and the value ones (sem.h).
const (
	semStat    = 18
	semInfo    = 19
	semStatAny = 20
)

func sysSemget(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns, c := ipcCaller(t)
	id, err := ns.SemGet(c, int32(a[0]), int32(a[1]), uint32(a[2]))
	return uintptr(id), err
}

func sysSemop(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, semop(t, int32(a[0]), uintptr(a[1]), int64(a[2]), 0)
}

// semtimedop(2): a relative timeout; EAGAIN when it passes.
func sysSemtimedop(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, semop(t, int32(a[0]), uintptr(a[1]), int64(a[2]), uintptr(a[3]))
}

func semop(t *kernel.Task, id int32, sopsAddr uintptr, nsops int64, timeoutAddr uintptr) error {
	if nsops < 1 || id < 0 {
		return unix.EINVAL
	}
	if nsops > int64(t.IPCNamespace().Limits().SemOpm) {
		return unix.E2BIG
	}
	b := make([]byte, 6*nsops) // struct sembuf: ushort num, short op, short flg
	if err := t.CopyIn(sopsAddr, b); err != nil {
		return err
	}
	ops := make([]ipc.SemOp, nsops)
	le := binary.LittleEndian
	for i := range ops {
		ops[i] = ipc.SemOp{Num: le.Uint16(b[6*i:]), Op: int16(le.Uint16(b[6*i+2:])), Flag: int16(le.Uint16(b[6*i+4:]))}
	}
	var deadline *time.Time
	if timeoutAddr != 0 {
		var ts [16]byte
		if err := t.CopyIn(timeoutAddr, ts[:]); err != nil {
			return err
		}
		sec, nsec := int64(le.Uint64(ts[0:])), int64(le.Uint64(ts[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return unix.EINVAL
		}
		d := time.Now().Add(time.Duration(sec)*time.Second + time.Duration(nsec))
		deadline = &d
	}
	ns, c := ipcCaller(t)
	return ns.SemTimedOp(c, t, id, ops, t.SemUndo, deadline)
}

// semidDSSize is sizeof(struct semid64_ds) on amd64.
const semidDSSize = ipc64PermSize + 7*8

func putSemDS(t *kernel.Task, d ipc.SemDS) []byte {
	b := make([]byte, semidDSSize)
	putIPCPerm(t, b, d.Perm)
	le := binary.LittleEndian
	le.PutUint64(b[48:], uint64(d.Otime))
	le.PutUint64(b[64:], uint64(d.Ctime))
	le.PutUint64(b[80:], d.Nsems)
	return b
}

// semctl(2): the fourth argument, union semun, arrives by value: an int
// for SETVAL, else a pointer.
func sysSemctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, num, cmd, arg := int32(a[0]), int32(a[1]), int32(a[2]), a[3]
	if id < 0 {
		return 0, unix.EINVAL
	}
	ns, c := ipcCaller(t)
	buf := uintptr(arg)
	le := binary.LittleEndian
	switch cmd {
	case ipc.IPCInfo, semInfo:
		l, maxIdx := ns.SemInfo(cmd == semInfo)
		b := make([]byte, 40) // struct seminfo
		for i, v := range []int32{l.Map, l.Mni, l.Mns, l.Mnu, l.Msl, l.Opm, l.Ume, l.Usz, l.Vmx, l.Aem} {
			le.PutUint32(b[4*i:], uint32(v))
		}
		return uintptr(maxIdx), t.CopyOut(buf, b)
	case semStat, semStatAny:
		d, err := ns.SemStatIndex(c, id, cmd == semStatAny)
		if err != nil {
			return 0, err
		}
		return uintptr(d.Perm.ID), t.CopyOut(buf, putSemDS(t, d))
	case ipc.IPCStat:
		d, err := ns.SemStat(c, id)
		if err != nil {
			return 0, err
		}
		return 0, t.CopyOut(buf, putSemDS(t, d))
	case ipc.IPCSet:
		b := make([]byte, semidDSSize)
		if err := t.CopyIn(buf, b); err != nil {
			return 0, err
		}
		uid, gid, mode, err := ipcSetArgs(t, b)
		if err != nil {
			return 0, err
		}
		return 0, ns.SemSetPerm(c, id, uid, gid, mode)
	case ipc.IPCRMID:
		return 0, ns.SemRemove(c, id)
	case int32(ipc.GetVal), int32(ipc.GetPID), int32(ipc.GetNCnt), int32(ipc.GetZCnt):
		v, err := ns.SemGetValue(c, id, num, ipc.SemCmd(cmd))
		if err != nil {
			return 0, err
		}
		if ipc.SemCmd(cmd) == ipc.GetPID {
			v = ipcPID(t, v)
		}
		return uintptr(v), nil
	case int32(ipc.SetVal):
		return 0, ns.SemSetValue(c, id, num, int32(arg))
	case int32(ipc.GetAll):
		vals, err := ns.SemGetAll(c, id)
		if err != nil {
			return 0, err
		}
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			le.PutUint16(b[2*i:], v)
		}
		return 0, t.CopyOut(buf, b)
	case int32(ipc.SetAll):
		n, err := ns.SemNsems(id)
		if err != nil {
			return 0, err
		}
		b := make([]byte, 2*n)
		if err := t.CopyIn(buf, b); err != nil {
			return 0, err
		}
		vals := make([]uint16, n)
		for i := range vals {
			vals[i] = le.Uint16(b[2*i:])
		}
		return 0, ns.SemSetAll(c, id, vals)
	}
	return 0, unix.EINVAL
}
