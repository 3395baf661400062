package syscalls

// System V message queues: msgget(2), msgsnd(2), msgrcv(2), msgctl(2)
// (svipc(7)), in the caller's IPC namespace.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/kernel/ipc"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_MSGGET, "msgget", sysMsgget, Hex, Oct)
	register(unix.SYS_MSGSND, "msgsnd", sysMsgsnd, Int, Hex, Int, Oct)
	register(unix.SYS_MSGRCV, "msgrcv", sysMsgrcv, Int, Hex, Int, Int, Oct)
	register(unix.SYS_MSGCTL, "msgctl", sysMsgctl, Int, Int, Hex)
}

// msgctl(2) commands beyond the common ones (msg.h).
const (
	msgStat    = 11
	msgInfo    = 12
	msgStatAny = 13
)

func sysMsgget(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns, c := ipcCaller(t)
	id, err := ns.MsgGet(c, int32(a[0]), uint32(a[1]))
	return uintptr(id), err
}

// msgsnd(2): struct msgbuf is a long mtype followed by msgsz bytes.
func sysMsgsnd(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, msgp, size, flag := int32(a[0]), uintptr(a[1]), int64(a[2]), uint32(a[3])
	var typ [8]byte
	if err := t.CopyIn(msgp, typ[:]); err != nil {
		return 0, err
	}
	ns, c := ipcCaller(t)
	if size > int64(ns.Limits().MsgMax) || size < 0 || id < 0 {
		return 0, unix.EINVAL
	}
	data := make([]byte, size)
	if err := t.CopyIn(msgp+8, data); err != nil {
		return 0, err
	}
	return 0, ns.MsgSend(c, t, id, int64(binary.LittleEndian.Uint64(typ[:])), data, flag)
}

// msgrcv(2) returns the bytes copied into mtext.
func sysMsgrcv(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, msgp, size, typ, flag := int32(a[0]), uintptr(a[1]), int64(a[2]), int64(a[3]), uint32(a[4])
	ns, c := ipcCaller(t)
	if flag&ipc.MsgCopy != 0 {
		size = min(size, int64(ns.Limits().MsgMax))
	}
	mtype, data, err := ns.MsgReceive(c, t, id, size, typ, flag)
	if err != nil {
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(mtype))
	if err := t.CopyOut(msgp, b[:]); err != nil {
		return 0, err
	}
	return uintptr(len(data)), t.CopyOut(msgp+8, data)
}

// msqidDSSize is sizeof(struct msqid64_ds) on amd64.
const msqidDSSize = ipc64PermSize + 6*8 + 2*4 + 2*8

func putMsgDS(t *kernel.Task, d ipc.MsgDS) []byte {
	b := make([]byte, msqidDSSize)
	putIPCPerm(t, b, d.Perm)
	le := binary.LittleEndian
	for i, v := range []uint64{uint64(d.Stime), uint64(d.Rtime), uint64(d.Ctime), d.Cbytes, d.Qnum, d.Qbytes} {
		le.PutUint64(b[48+8*i:], v)
	}
	le.PutUint32(b[96:], uint32(ipcPID(t, d.LSPID)))
	le.PutUint32(b[100:], uint32(ipcPID(t, d.LRPID)))
	return b
}

func sysMsgctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, cmd, buf := int32(a[0]), int32(a[1]), uintptr(a[2])
	if cmd < 0 || id < 0 {
		return 0, unix.EINVAL
	}
	ns, c := ipcCaller(t)
	le := binary.LittleEndian
	switch cmd {
	case ipc.IPCInfo, msgInfo:
		l, maxIdx := ns.MsgInfo(cmd == msgInfo)
		b := make([]byte, 32) // struct msginfo
		for i, v := range []int32{l.Pool, l.Map, l.Max, l.Mnb, l.Mni, l.Ssz, l.Tql} {
			le.PutUint32(b[4*i:], uint32(v))
		}
		le.PutUint16(b[28:], l.Seg)
		return uintptr(maxIdx), t.CopyOut(buf, b)
	case msgStat, msgStatAny:
		d, err := ns.MsgStatIndex(c, id, cmd == msgStatAny)
		if err != nil {
			return 0, err
		}
		return uintptr(d.Perm.ID), t.CopyOut(buf, putMsgDS(t, d))
	case ipc.IPCStat:
		d, err := ns.MsgStat(c, id)
		if err != nil {
			return 0, err
		}
		return 0, t.CopyOut(buf, putMsgDS(t, d))
	case ipc.IPCSet:
		b := make([]byte, msqidDSSize)
		if err := t.CopyIn(buf, b); err != nil {
			return 0, err
		}
		uid, gid, mode, err := ipcSetArgs(t, b)
		if err != nil {
			return 0, err
		}
		return 0, ns.MsgSet(c, id, uid, gid, mode, le.Uint64(b[88:]))
	case ipc.IPCRMID:
		return 0, ns.MsgRemove(c, id)
	}
	return 0, unix.EINVAL
}
