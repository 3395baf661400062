package syscalls

// Memory: mmap(2), munmap(2), mprotect(2), brk(2), mremap(2), madvise(2),
// msync(2), mlock(2) and friends, and futex(2) which lives on memory too.

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_MMAP, "mmap", sysMmap, Hex, Hex, Hex, Hex, FD, Hex)
	register(unix.SYS_MUNMAP, "munmap", sysMunmap, Hex, Hex)
	register(unix.SYS_MPROTECT, "mprotect", sysMprotect, Hex, Hex, Hex)
	register(unix.SYS_BRK, "brk", sysBrk, Hex)
	register(unix.SYS_MREMAP, "mremap", sysMremap, Hex, Hex, Hex, Hex, Hex).partial("MREMAP_DONTUNMAP: EINVAL")
	register(unix.SYS_MADVISE, "madvise", sysMadvise, Hex, Hex, Int)
	register(unix.SYS_MSYNC, "msync", sysMsync, Hex, Hex, Hex)
	register(unix.SYS_MLOCK, "mlock", sysMlock, Hex, Hex)
	register(unix.SYS_MUNLOCK, "munlock", sysMlock, Hex, Hex)
	register(unix.SYS_MLOCKALL, "mlockall", sysMlockall, Hex)
	register(unix.SYS_MUNLOCKALL, "munlockall", sysMlockall)
	register(unix.SYS_FUTEX, "futex", sysFutex, Hex, Int, Int, Hex, Hex, Int).partial("priority-inheritance operations: ENOSYS")
	register(unix.SYS_SET_ROBUST_LIST, "set_robust_list", sysSetRobustList, Hex, Int)
	register(unix.SYS_GET_ROBUST_LIST, "get_robust_list", sysGetRobustList, Int, Hex, Hex)
}

const mapFixedNoreplace = 0x100000

// futex(2) operations (linux/futex.h).
const (
	futexWait          = 0
	futexWake          = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivateFlag   = 128
	futexClockRealtime = 256
)

func sysMmap(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	addr, length, prot, flags, fd, off := uintptr(a[0]), uintptr(a[1]), int(a[2]), int(a[3]), int32(a[4]), int64(a[5])
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC) != 0 {
		return 0, unix.EINVAL
	}
	shared := false
	switch flags & 0x3 {
	case unix.MAP_SHARED, 0x3: // MAP_SHARED_VALIDATE
		shared = true
	case unix.MAP_PRIVATE:
	default:
		return 0, unix.EINVAL
	}
	if off%4096 != 0 {
		return 0, unix.EINVAL
	}
	o := mm.MMapOpts{
		Addr: addr, Length: length, Prot: prot, Offset: off, Shared: shared,
		Fixed:     flags&unix.MAP_FIXED != 0,
		NoReplace: flags&mapFixedNoreplace != 0,
	}
	if flags&unix.MAP_ANONYMOUS != 0 {
		if shared {
			o.Mappable = mm.NewAnonymousMappable(t.Kernel().MF, int64(length))
			o.Offset = 0
			o.Name = "/dev/zero (deleted)"
		}
	} else {
		m, maxProt, err := fileMapping(t, fd, shared, prot, &o)
		if err != nil {
			return 0, err
		}
		o.Mappable, o.MaxProt = m, maxProt
	}
	if flags&unix.MAP_GROWSDOWN != 0 && o.Name == "" {
		o.Name = "[stack]"
	}
	return t.MemoryManager().MMap(o)
}

func sysMunmap(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Munmap(uintptr(a[0]), uintptr(a[1]))
}

func sysMprotect(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	prot := int(a[2])
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|unix.PROT_GROWSDOWN|unix.PROT_GROWSUP) != 0 {
		return 0, unix.EINVAL
	}
	return 0, t.MemoryManager().Mprotect(uintptr(a[0]), uintptr(a[1]), prot&7)
}

func sysBrk(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return t.MemoryManager().Brk(uintptr(a[0])), nil
}

func sysMremap(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := int(a[3])
	if flags&^(unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP) != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MREMAP_DONTUNMAP != 0 {
		return 0, unsupported(t, "mremap(MREMAP_DONTUNMAP)", unix.EINVAL)
	}
	return t.MemoryManager().Mremap(uintptr(a[0]), uintptr(a[1]), uintptr(a[2]),
		flags&unix.MREMAP_MAYMOVE != 0, flags&unix.MREMAP_FIXED != 0, uintptr(a[4]))
}

func sysMadvise(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Madvise(uintptr(a[0]), uintptr(a[1]), int(a[2]))
}

// msync(2): shared mappings write straight into the file's page cache, so
// there is nothing to flush that write(2) would not also see.
func sysMsync(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0]%4096 != 0 || a[2]&^(unix.MS_ASYNC|unix.MS_SYNC|unix.MS_INVALIDATE) != 0 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// mlock(2) family: Sentry memory is never swapped out by the Sentry, so
// locking has nothing to do beyond argument checks.
func sysMlock(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, nil
}

func sysMlockall(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0]&^(unix.MCL_CURRENT|unix.MCL_FUTURE|unix.MCL_ONFAULT) != 0 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// futex(2): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP and the BITSET
// variants; PI futexes are not implemented (ENOSYS).
func sysFutex(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	addr, op, val, timeout, addr2, val3 := uintptr(a[0]), int(a[1]), uint32(a[2]), uintptr(a[3]), uintptr(a[4]), uint32(a[5])
	private := op&futexPrivateFlag != 0
	realtime := op&futexClockRealtime != 0
	cmd := op &^ (futexPrivateFlag | futexClockRealtime)
	switch cmd {
	case futexWait, futexWaitBitset:
		bitset := ^uint32(0)
		if cmd == futexWaitBitset {
			bitset = val3
		}
		var deadline time.Time
		if timeout != 0 {
			d, err := copyInTimespec(t, timeout)
			if err != nil {
				return 0, err
			}
			if cmd == futexWait {
				deadline = time.Now().Add(d) // relative
			} else {
				clock := int32(unix.CLOCK_MONOTONIC)
				if realtime {
					clock = unix.CLOCK_REALTIME
				}
				now, _ := clockNow(t, clock)
				deadline = time.Now().Add(d - time.Duration(now.Nano()))
			}
		}
		err := t.FutexWait(addr, private, val, bitset, deadline)
		if err == unix.ETIMEDOUT {
			return 0, unix.ETIMEDOUT
		}
		return 0, err
	case futexWake:
		n, err := t.FutexWake(addr, private, int(int32(val)), ^uint32(0))
		return uintptr(n), err
	case futexWakeBitset:
		n, err := t.FutexWake(addr, private, int(int32(val)), val3)
		return uintptr(n), err
	case futexRequeue, futexCmpRequeue:
		if int32(val) < 0 || int32(uint32(timeout)) < 0 {
			return 0, unix.EINVAL
		}
		n, err := t.FutexRequeue(addr, addr2, private, int(int32(val)), int(int32(uint32(timeout))),
			cmd == futexCmpRequeue, val3)
		return uintptr(n), err
	case futexWakeOp:
		n, err := t.FutexWakeOp(addr, addr2, private, int(int32(val)), int(int32(uint32(timeout))), val3)
		return uintptr(n), err
	}
	return 0, unsupported(t, "futex(PI or unknown op)", unix.ENOSYS)
}

func sysSetRobustList(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[1] != 24 {
		return 0, unix.EINVAL
	}
	t.SetRobustList(uintptr(a[0]))
	return 0, nil
}

func sysGetRobustList(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	target := t
	if pid := int32(a[0]); pid != 0 {
		if target = t.Kernel().TaskByTID(kernel.ThreadID(pid)); target == nil {
			return 0, unix.ESRCH
		}
	}
	var b [8]byte
	putUint64(b[:], uint64(target.RobustList()))
	if err := t.CopyOut(uintptr(a[1]), b[:]); err != nil {
		return 0, err
	}
	putUint64(b[:], 24)
	return 0, t.CopyOut(uintptr(a[2]), b[:])
}

// writeSealer is implemented by files whose seals forbid shared writable
// mappings (tmpfs memfds with F_SEAL_WRITE or F_SEAL_FUTURE_WRITE).
type writeSealer interface{ WriteSealed() bool }

// fileMapping returns what mmap of fd maps: the file's Mappable and the
// protections the open mode (and memfd seals) allow; it sets o's name,
// device and inode for /proc/self/maps.
func fileMapping(t *kernel.Task, fd int32, shared bool, prot int, o *mm.MMapOpts) (mm.Mappable, int, error) {
	f, err := t.FDTable().GetFile(fd)
	if err != nil {
		return nil, 0, err
	}
	defer f.DecRef()
	if !f.IsReadable() {
		return nil, 0, unix.EACCES
	}
	m, err := f.Mappable()
	if err != nil {
		return nil, 0, err
	}
	maxProt := unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
	if shared && !f.IsWritable() {
		maxProt &^= unix.PROT_WRITE
	}
	if ws, ok := f.Impl().(writeSealer); ok && shared && ws.WriteSealed() {
		// memfd_check_seals_mmap: no shared writable mapping, now or
		// through mprotect later.
		if prot&unix.PROT_WRITE != 0 {
			return nil, 0, unix.EPERM
		}
		maxProt &^= unix.PROT_WRITE
	}
	// What /proc/PID/maps shows of the mapping.
	o.Name = f.PathName()
	if st, err := f.Stat(t); err == nil {
		o.Dev, o.Ino = st.Dev, st.Ino
	}
	return m, maxProt, nil
}
