package syscalls

// What the System V IPC families (sys_shm.go, sys_sem.go, sys_msg.go)
// share: struct ipc64_perm and the caller's views of ids.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/kernel/ipc"
	"golang.org/x/sys/unix"
)

// ipc64PermSize is sizeof(struct ipc64_perm) on amd64: key, uid, gid,
// cuid, cgid, mode (4 bytes each), seq, padding, two unused longs.
const ipc64PermSize = 48

// putIPCPerm writes p into b as struct ipc64_perm, with the owner and
// creator ids as t's user namespace sees them (from_kuid_munged).
func putIPCPerm(t *kernel.Task, b []byte, p ipc.Perm) {
	ns := t.UserNamespace()
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(p.Key))
	le.PutUint32(b[4:], ns.ViewUID(p.UID))
	le.PutUint32(b[8:], ns.ViewGID(p.GID))
	le.PutUint32(b[12:], ns.ViewUID(p.CUID))
	le.PutUint32(b[16:], ns.ViewGID(p.CGID))
	le.PutUint32(b[20:], p.Mode)
	le.PutUint16(b[24:], p.Seq)
}

// ipcSetArgs reads IPC_SET's owner and mode from a struct ipc64_perm at
// the start of b, mapping the ids into kernel ids through t's user
// namespace (EINVAL for unmapped ones, as ipc_update_perm's callers do).
func ipcSetArgs(t *kernel.Task, b []byte) (uid, gid, mode uint32, err error) {
	ns := t.UserNamespace()
	le := binary.LittleEndian
	uid, ok1 := ns.MapUID(le.Uint32(b[4:]))
	gid, ok2 := ns.MapGID(le.Uint32(b[8:]))
	if !ok1 || !ok2 {
		return 0, 0, 0, unix.EINVAL
	}
	return uid, gid, le.Uint32(b[20:]), nil
}

// ipcCaller describes t for its IPC namespace.
func ipcCaller(t *kernel.Task) (*kernel.IPCNamespace, *ipc.Caller) {
	ns := t.IPCNamespace()
	return ns, t.IPCCaller(ns)
}

// ipcPID returns a pid an IPC object recorded as t sees it.
func ipcPID(t *kernel.Task, pid int32) int32 { return t.ViewPID(pid) }
