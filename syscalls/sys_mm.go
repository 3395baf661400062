package syscalls

// Memory: mmap(2), munmap(2), mprotect(2), brk(2), mremap(2), madvise(2),
// msync(2), mincore(2), mlock(2) and friends, with RLIMIT_AS, RLIMIT_DATA
// and RLIMIT_MEMLOCK; and futex(2) which lives on memory too.

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
	register(unix.SYS_MREMAP, "mremap", sysMremap, Hex, Hex, Hex, Hex, Hex)
	register(unix.SYS_MADVISE, "madvise", sysMadvise, Hex, Hex, Int).partial(
		"MADV_COLLAPSE, MADV_HWPOISON, MADV_SOFT_OFFLINE and the guard-page advice: EINVAL; page-cache, THP, KSM and reclaim hints are accepted and do nothing")
	register(unix.SYS_MSYNC, "msync", sysMsync, Hex, Hex, Hex)
	register(unix.SYS_MINCORE, "mincore", sysMincore, Hex, Hex, Hex).partial(
		"a page is resident once the Sentry gave it memory: a fault maps (and so populates) up to 64 pages around it")
	register(unix.SYS_MLOCK, "mlock", sysMlock, Hex, Hex)
	register(unix.SYS_MLOCK2, "mlock2", sysMlock2, Hex, Hex, Hex)
	register(unix.SYS_MUNLOCK, "munlock", sysMunlock, Hex, Hex)
	register(unix.SYS_MLOCKALL, "mlockall", sysMlockall, Hex)
	register(unix.SYS_MUNLOCKALL, "munlockall", sysMunlockall)
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

// mmap(2) flags the Sentry looks at beyond unix's (asm-generic/mman.h).
const (
	mapType          = 0x0f
	mapSharedValid   = 0x03 // MAP_SHARED_VALIDATE
	mapDroppable     = 0x08
	mapSync          = 0x80000
	mapUninitialized = 0x4000000
	mapHugeMask      = 0x3f << 26
	// mapKnown are the flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK:
	// no file here supports MAP_SYNC).
	mapKnown = unix.MAP_SHARED | unix.MAP_PRIVATE | unix.MAP_FIXED | unix.MAP_ANONYMOUS |
		unix.MAP_DENYWRITE | unix.MAP_EXECUTABLE | mapUninitialized | unix.MAP_GROWSDOWN |
		unix.MAP_LOCKED | unix.MAP_NORESERVE | unix.MAP_POPULATE | unix.MAP_NONBLOCK |
		unix.MAP_STACK | unix.MAP_HUGETLB | unix.MAP_32BIT | mapFixedNoreplace | mapHugeMask
	// mmapMinAddr is vm.mmap_min_addr: lower fixed mappings need
	// CAP_SYS_RAWIO.
	mmapMinAddr = 65536
	// maxFileSize is MAX_LFS_FILESIZE: a file mapping may not reach past it.
	maxFileSize = 1<<63 - 1
)

// memLimits are t's memory limits as the address space applies them.
func memLimits(t *kernel.Task) *mm.Limits {
	l := t.MemoryLimits()
	return &mm.Limits{AS: l.AS, Data: l.Data, MemLock: l.MemLock, CanLock: t.HasCapability(unix.CAP_IPC_LOCK)}
}

// mmap(2) as Linux checks it (mm/mmap.c do_mmap, ksys_mmap_pgoff): a
// mapping type (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, which
// refuses unknown flags with EOPNOTSUPP, or MAP_DROPPABLE for anonymous
// memory, kept here like private memory), an aligned offset (EINVAL) that
// keeps a file mapping below the largest file size (EOVERFLOW), a non-zero
// length (EINVAL) that fits the address space (ENOMEM). Unknown protection
// bits are ignored, as in Linux. MAP_HUGETLB: ENOMEM for memory (no huge
// pages are reserved), EINVAL for a file that is not on hugetlbfs.
func sysMmap(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	addr, length, prot, flags, fd, off := uintptr(a[0]), uintptr(a[1]), int(a[2])&7, int(a[3]), int32(a[4]), int64(a[5])
	anon := flags&unix.MAP_ANONYMOUS != 0
	shared := false
	switch flags & mapType {
	case unix.MAP_SHARED:
		shared = true
	case mapSharedValid:
		if anon {
			return 0, unix.EINVAL // do_mmap: no such type for memory
		}
		if flags&^mapKnown != 0 {
			return 0, unix.EOPNOTSUPP
		}
		shared = true
	case unix.MAP_PRIVATE:
	case mapDroppable:
		if !anon {
			return 0, unix.EINVAL
		}
	default:
		return 0, unix.EINVAL
	}
	if off%4096 != 0 {
		return 0, unix.EINVAL
	}
	if length == 0 {
		return 0, unix.EINVAL
	}
	fixed := flags&(unix.MAP_FIXED|mapFixedNoreplace) != 0
	if fixed && addr < mmapMinAddr && !t.HasCapability(unix.CAP_SYS_RAWIO) {
		return 0, unix.EPERM // security_mmap_addr
	}
	limits := memLimits(t)
	if flags&unix.MAP_LOCKED != 0 && !limits.CanLock && limits.MemLock < 4096 {
		return 0, unix.EPERM // can_do_mlock
	}
	o := mm.MMapOpts{
		Addr: addr, Length: length, Prot: prot, Offset: off, Shared: shared,
		Fixed:     flags&unix.MAP_FIXED != 0,
		NoReplace: flags&mapFixedNoreplace != 0,
		Stack:     flags&unix.MAP_GROWSDOWN != 0,
		Locked:    flags&unix.MAP_LOCKED != 0,
		Below2G:   flags&unix.MAP_32BIT != 0,
		Populate:  flags&unix.MAP_POPULATE != 0,
		Limits:    limits,
	}
	if anon {
		if flags&unix.MAP_HUGETLB != 0 {
			return 0, unsupported(t, "mmap(MAP_HUGETLB)", unix.ENOMEM)
		}
		if shared {
			if o.Stack {
				return 0, unix.EINVAL
			}
			o.Mappable = mm.NewAnonymousMappable(t.Kernel().MF, int64(length))
			o.Name = "/dev/zero (deleted)"
		}
		o.Offset = 0
	} else {
		m, maxProt, err := fileMapping(t, fd, shared, prot, &o)
		if err != nil {
			return 0, err
		}
		if flags&unix.MAP_HUGETLB != 0 {
			return 0, unix.EINVAL
		}
		rl := int64(pageUp(length))
		if off < 0 || rl < 0 || off > maxFileSize-rl {
			return 0, unix.EOVERFLOW // file_mmap_ok
		}
		o.Mappable, o.MaxProt = m, maxProt
	}
	if o.Stack && o.Name == "" {
		o.Name = "[stack]"
	}
	return t.MemoryManager().MMap(o)
}

func pageUp(n uintptr) uintptr { return (n + 4095) &^ 4095 }

func sysMunmap(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Munmap(uintptr(a[0]), uintptr(a[1]))
}

// mprotect(2): PROT_SEM is accepted (x86's arch_validate_prot);
// PROT_GROWSDOWN only on a stack, where the change extends down to the
// stack's start (glibc makes the stack executable this way); PROT_GROWSUP
// never (x86 has no upward stacks).
func sysMprotect(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	addr, length, prot := uintptr(a[0]), uintptr(a[1]), int(a[2])
	const protSem = 0x8
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|protSem|unix.PROT_GROWSDOWN) != 0 {
		return 0, unix.EINVAL
	}
	m := t.MemoryManager()
	if prot&unix.PROT_GROWSDOWN != 0 {
		start, ok := m.StackStart(addr)
		if !ok || addr%4096 != 0 {
			return 0, unix.EINVAL
		}
		length += addr - start
		addr = start
	}
	return 0, m.MprotectLimited(addr, length, prot&7, memLimits(t))
}

func sysBrk(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return t.MemoryManager().BrkLimited(uintptr(a[0]), memLimits(t)), nil
}

// mremap(2): see mm.MemoryManager.Mremap.
func sysMremap(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := int(a[3])
	if flags&^(unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP) != 0 {
		return 0, unix.EINVAL
	}
	return t.MemoryManager().Mremap(uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), mm.MremapOpts{
		MayMove:   flags&unix.MREMAP_MAYMOVE != 0,
		Fixed:     flags&unix.MREMAP_FIXED != 0,
		DontUnmap: flags&unix.MREMAP_DONTUNMAP != 0,
		NewAddr:   uintptr(a[4]),
		Limits:    memLimits(t),
	})
}

// madvise(2): see mm.MemoryManager.Madvise. MADV_HWPOISON and
// MADV_SOFT_OFFLINE answer EINVAL as a kernel without memory failure
// handling does; the guard-page advice (MADV_GUARD_INSTALL, Linux 6.13)
// and MADV_COLLAPSE are EINVAL too.
func sysMadvise(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	advice := int(a[2])
	err := t.MemoryManager().Madvise(uintptr(a[0]), uintptr(a[1]), advice)
	if err == unix.EINVAL && advice >= mm.MadvCollapse {
		return 0, unsupported(t, "madvise("+itoa(uint64(advice))+")", err)
	}
	return 0, err
}

func sysMsync(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Msync(uintptr(a[0]), uintptr(a[1]), int(a[2]))
}

func sysMlock(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Mlock(uintptr(a[0]), uintptr(a[1]), false, memLimits(t))
}

// mlock2(2): MLOCK_ONFAULT is the only flag.
func sysMlock2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	const mlockOnfault = 1
	if a[2]&^mlockOnfault != 0 {
		return 0, unix.EINVAL
	}
	return 0, t.MemoryManager().Mlock(uintptr(a[0]), uintptr(a[1]), a[2] != 0, memLimits(t))
}

func sysMunlock(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Munlock(uintptr(a[0]), uintptr(a[1]))
}

func sysMlockall(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().Mlockall(int(a[0]), memLimits(t))
}

func sysMunlockall(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	t.MemoryManager().Munlockall()
	return 0, nil
}

// mincore(2): see mm.MemoryManager.Mincore.
func sysMincore(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	vec, err := t.MemoryManager().Mincore(uintptr(a[0]), uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	if len(vec) == 0 {
		return 0, nil
	}
	return 0, t.CopyOut(uintptr(a[2]), vec)
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
		var err error
		if target, err = t.LookupTask(kernel.ThreadID(pid)); err != nil {
			return 0, err
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
