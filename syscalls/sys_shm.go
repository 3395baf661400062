package syscalls

// System V shared memory: shmget(2), shmat(2), shmdt(2), shmctl(2)
// (svipc(7)); the segments are sentry/kernel/ipc's, in the caller's IPC
// namespace.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/kernel/ipc"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SHMGET, "shmget", sysShmget, Hex, Int, Oct).partial("SHM_HUGETLB: ENOMEM, as without reserved huge pages")
	register(unix.SYS_SHMAT, "shmat", sysShmat, Int, Hex, Oct)
	register(unix.SYS_SHMDT, "shmdt", sysShmdt, Hex)
	register(unix.SYS_SHMCTL, "shmctl", sysShmctl, Int, Int, Hex).partial("SHM_LOCK only marks the segment (the Sentry never swaps)")
}

// shmctl(2) commands beyond the common ones (shm.h).
const (
	shmLock    = 11
	shmUnlock  = 12
	shmStat    = 13
	shmInfo    = 14
	shmStatAny = 15
)

func sysShmget(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	ns, c := ipcCaller(t)
	id, err := ns.ShmGet(c, int32(a[0]), a[1], uint32(a[2]))
	return uintptr(id), err
}

// shmat(2): SHM_RND rounds addr down to SHMLBA (the page size on amd64),
// an unaligned addr without it is EINVAL, as is SHM_REMAP without an
// address; without SHM_REMAP the range must be free (EINVAL).
func sysShmat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, addr, flag := int32(a[0]), uintptr(a[1]), uint32(a[2])
	if id < 0 {
		return 0, unix.EINVAL
	}
	if addr != 0 {
		if addr%memfile.PageSize != 0 {
			if flag&ipc.ShmRnd == 0 {
				return 0, unix.EINVAL
			}
			addr &^= memfile.PageSize - 1
			if addr == 0 && flag&ipc.ShmRemap != 0 {
				return 0, unix.EINVAL
			}
		}
	} else if flag&ipc.ShmRemap != 0 {
		return 0, unix.EINVAL
	}
	ns, c := ipcCaller(t)
	s, err := ns.ShmAttach(c, id, flag)
	if err != nil {
		return 0, err
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	if flag&ipc.ShmRdonly != 0 {
		prot = unix.PROT_READ
	}
	if flag&ipc.ShmExec != 0 {
		prot |= unix.PROT_EXEC
	}
	o := mm.MMapOpts{
		Addr: addr, Length: uintptr(s.Size()), Prot: prot,
		// The segment's file is opened read-only for SHM_RDONLY, so
		// mprotect may not add PROT_WRITE; executing is always allowed.
		MaxProt:   prot | unix.PROT_EXEC,
		Fixed:     addr != 0 && flag&ipc.ShmRemap != 0,
		NoReplace: addr != 0 && flag&ipc.ShmRemap == 0,
		Shared:    true, Mappable: s, Name: s.MapName(),
	}
	got, err := t.MemoryManager().MMap(o)
	s.AttachDone(c, err == nil)
	if err == unix.EEXIST {
		err = unix.EINVAL
	}
	return got, err
}

func sysShmdt(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	mp, err := t.MemoryManager().UnmapSegment(uintptr(a[0]), ipc.IsShm)
	if err != nil {
		return 0, err
	}
	_, c := ipcCaller(t)
	mp.(*ipc.Shm).Detached(c)
	return 0, nil
}

// shmidDSSize is sizeof(struct shmid64_ds) on amd64.
const shmidDSSize = ipc64PermSize + 8 + 3*8 + 2*4 + 3*8

func putShmDS(t *kernel.Task, d ipc.ShmDS) []byte {
	b := make([]byte, shmidDSSize)
	putIPCPerm(t, b, d.Perm)
	le := binary.LittleEndian
	le.PutUint64(b[48:], d.Size)
	le.PutUint64(b[56:], uint64(d.Atime))
	le.PutUint64(b[64:], uint64(d.Dtime))
	le.PutUint64(b[72:], uint64(d.Ctime))
	le.PutUint32(b[80:], uint32(ipcPID(t, d.CPID)))
	le.PutUint32(b[84:], uint32(ipcPID(t, d.LPID)))
	le.PutUint64(b[88:], d.Nattch)
	return b
}

func sysShmctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	id, cmd, buf := int32(a[0]), int32(a[1]), uintptr(a[2])
	if cmd < 0 || id < 0 {
		return 0, unix.EINVAL
	}
	ns, c := ipcCaller(t)
	le := binary.LittleEndian
	switch cmd {
	case ipc.IPCInfo:
		l, maxIdx := ns.ShmInfoLimits()
		b := make([]byte, 9*8) // struct shminfo64
		for i, v := range []uint64{l.Max, l.Min, l.Mni, l.Seg, l.All} {
			le.PutUint64(b[8*i:], v)
		}
		return uintptr(maxIdx), t.CopyOut(buf, b)
	case shmInfo:
		u, maxIdx := ns.ShmInfoUsage()
		b := make([]byte, 48) // struct shm_info
		le.PutUint32(b[0:], uint32(u.UsedIDs))
		for i, v := range []uint64{u.Tot, u.RSS, u.Swp, u.SwapAttempt, u.SwapSuccess} {
			le.PutUint64(b[8+8*i:], v)
		}
		return uintptr(maxIdx), t.CopyOut(buf, b)
	case shmStat, shmStatAny:
		d, err := ns.ShmStatIndex(c, id, cmd == shmStatAny)
		if err != nil {
			return 0, err
		}
		return uintptr(d.Perm.ID), t.CopyOut(buf, putShmDS(t, d))
	case ipc.IPCStat:
		d, err := ns.ShmStat(c, id)
		if err != nil {
			return 0, err
		}
		return 0, t.CopyOut(buf, putShmDS(t, d))
	case ipc.IPCSet:
		b := make([]byte, shmidDSSize)
		if err := t.CopyIn(buf, b); err != nil {
			return 0, err
		}
		uid, gid, mode, err := ipcSetArgs(t, b)
		if err != nil {
			return 0, err
		}
		return 0, ns.ShmSet(c, id, uid, gid, mode)
	case ipc.IPCRMID:
		return 0, ns.ShmRemove(c, id)
	case shmLock, shmUnlock:
		memlock, _ := t.ThreadGroup().Limits().Get(unix.RLIMIT_MEMLOCK)
		return 0, ns.ShmLock(c, id, cmd == shmLock, memlock.Cur)
	}
	return 0, unix.EINVAL
}
