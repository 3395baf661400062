package ipc

import (
	"fmt"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

// Shm is a shared memory segment (shmget(2)). Its pages live in the
// memory file, in a page cache like a tmpfs file's, and are allocated when
// first touched; it is an mm.Mappable that counts the mappings made of it
// (shm_nattch), so attachments inherited by fork(2) and dropped by exit,
// execve or munmap(2) count as in Linux.
type Shm struct {
	ns    *Namespace
	perm  Perm
	size  uint64
	cache *mm.PageCache

	atime, dtime, ctime int64
	cpid, lpid          int32
	// nattch counts the vmas mapping the segment; attaching counts the
	// shmat(2) calls between their checks and their mmap, which keep a
	// removed segment alive meanwhile (Linux bumps shm_nattch the same
	// way).
	nattch, attaching int64
	destroyed         bool
}

func (s *Shm) ipcPerm() *Perm { return &s.perm }

// TranslatePage implements mm.Mappable.
func (s *Shm) TranslatePage(off int64) (int64, error) { return s.cache.TranslatePage(off) }

// PageCache lets the memory manager find the segment's pages.
func (s *Shm) PageCache() *mm.PageCache { return s.cache }

// CountMappings implements mm.MappingCounter: a mapping that goes (exit,
// execve, munmap) counts as a detach by pid, as Linux's shm_close does;
// the segment goes when it was removed (IPC_RMID) and its last mapping
// goes.
func (s *Shm) CountMappings(delta int, pid int32) {
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	s.nattch += int64(delta)
	if pid != 0 {
		if delta < 0 {
			s.dtime = now()
		} else {
			s.atime = now()
		}
		s.lpid = pid
	}
	s.maybeDestroyLocked()
}

// Size is the segment size shmget was given.
func (s *Shm) Size() uint64 { return s.size }

// ID is the segment's identifier.
func (s *Shm) ID() int32 { return s.perm.ID }

// MapName is how /proc/PID/maps names a mapping of the segment, as Linux
// does (the segment's file in the hidden shm mount is unlinked).
func (s *Shm) MapName() string { return fmt.Sprintf("/SYSV%08x (deleted)", uint32(s.perm.Key)) }

func (s *Shm) maybeDestroyLocked() {
	if s.destroyed || s.nattch > 0 || s.attaching > 0 || s.perm.Mode&ShmDest == 0 {
		return
	}
	s.destroyed = true
	if s.ns.shms.byID(s.perm.ID) == s {
		s.ns.shms.remove(s)
	}
	s.ns.shmTot -= pages(s.size)
	// Every mapping is gone (the memory manager unmaps before it counts
	// a mapping out), so no one can reach the pages any more.
	s.cache.Release()
}

func pages(size uint64) uint64 { return (size + memfile.PageSize - 1) / memfile.PageSize }

// IsShm reports whether mp is a shared memory segment, and its size: the
// test mm.MemoryManager.UnmapSegment needs for shmdt(2).
func IsShm(mp mm.Mappable) (int64, bool) {
	s, ok := mp.(*Shm)
	if !ok {
		return 0, false
	}
	return int64(s.size), true
}

// ShmGet implements shmget(2).
func (ns *Namespace) ShmGet(c *Caller, key int32, size uint64, flag uint32) (int32, error) {
	if flag&ShmHugeTLB != 0 {
		// Like a kernel with no huge pages reserved (vm.nr_hugepages 0).
		return 0, unix.ENOMEM
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.get(c, getParams{
		reg: &ns.shms, mni: ns.limits.ShmMni, key: key, flag: flag,
		check: func(o object) error {
			if o.(*Shm).size < size {
				return unix.EINVAL
			}
			return nil
		},
		create: func(p Perm) (object, error) {
			if size < ShmMin || size > ns.limits.ShmMax {
				return nil, unix.EINVAL
			}
			n := pages(size)
			if ns.shmTot+n < ns.shmTot || ns.shmTot+n > ns.limits.ShmAll {
				return nil, unix.ENOSPC
			}
			rounded := int64(n * memfile.PageSize)
			s := &Shm{ns: ns, perm: p, size: size, ctime: now(), cpid: c.PID,
				cache: &mm.PageCache{MF: ns.mf, Size: func() int64 { return rounded }}}
			ns.shmTot += n
			return s, nil
		},
	})
}

// shmLocked finds segment id (EINVAL: none, as Linux answers for an id
// whose index is free or whose sequence is stale).
func (ns *Namespace) shmLocked(id int32) (*Shm, error) {
	o := ns.shms.byID(id)
	if o == nil {
		return nil, unix.EINVAL
	}
	return o.(*Shm), nil
}

// Attach flags (shm.h).
const (
	ShmRdonly = 0o10000
	ShmRnd    = 0o20000
	ShmRemap  = 0o40000
	ShmExec   = 0o100000

	// ShmHugeTLB is shmget's SHM_HUGETLB.
	ShmHugeTLB = 0o4000
)

// ShmAttach is the first half of shmat(2): it checks the caller's
// permissions for flag (read, and write unless SHM_RDONLY; EACCES) and
// returns the segment, which stays alive until AttachDone even if it is
// removed meanwhile. The caller then maps it and calls AttachDone.
func (ns *Namespace) ShmAttach(c *Caller, id int32, flag uint32) (*Shm, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.shmLocked(id)
	if err != nil {
		return nil, err
	}
	want := uint32(mayRead)
	if flag&ShmRdonly == 0 {
		want |= mayWrite
	}
	if flag&ShmExec != 0 {
		want |= 0o111
	}
	if !s.perm.allowed(c, want) {
		return nil, unix.EACCES
	}
	s.attaching++
	return s, nil
}

// AttachDone ends a ShmAttach; mapped says whether the mapping was made
// (then shm_atime and shm_lpid change).
func (s *Shm) AttachDone(c *Caller, mapped bool) {
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	s.attaching--
	if mapped {
		s.atime, s.lpid = now(), c.PID
	}
	s.maybeDestroyLocked()
}

// Detached records a shmdt(2) of s (shm_dtime, shm_lpid).
func (s *Shm) Detached(c *Caller) {
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	s.dtime, s.lpid = now(), c.PID
}

// ShmDS is a segment's struct shmid64_ds.
type ShmDS struct {
	Perm                Perm
	Size                uint64
	Atime, Dtime, Ctime int64
	CPID, LPID          int32
	Nattch              uint64
	// RSS is the pages the segment holds (for /proc/sysvipc/shm).
	RSS uint64
}

func (s *Shm) dsLocked() ShmDS {
	return ShmDS{Perm: s.perm, Size: s.size, Atime: s.atime, Dtime: s.dtime, Ctime: s.ctime,
		CPID: s.cpid, LPID: s.lpid, Nattch: uint64(max(s.nattch, 0)), RSS: uint64(s.cache.CachedPages())}
}

// ShmStat implements IPC_STAT: read permission.
func (ns *Namespace) ShmStat(c *Caller, id int32) (ShmDS, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.shmLocked(id)
	if err != nil {
		return ShmDS{}, err
	}
	if !s.perm.allowed(c, mayRead) {
		return ShmDS{}, unix.EACCES
	}
	return s.dsLocked(), nil
}

// ShmStatIndex implements SHM_STAT and (anyPerm) SHM_STAT_ANY: idx is an
// index, the result carries the full id.
func (ns *Namespace) ShmStatIndex(c *Caller, idx int32, anyPerm bool) (ShmDS, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	o := ns.shms.byIndex(idx)
	if o == nil {
		return ShmDS{}, unix.EINVAL
	}
	s := o.(*Shm)
	if !anyPerm && !s.perm.allowed(c, mayRead) {
		return ShmDS{}, unix.EACCES
	}
	return s.dsLocked(), nil
}

// ShmSet implements IPC_SET: the owner, the creator or CAP_SYS_ADMIN may
// change the owner and the permission bits.
func (ns *Namespace) ShmSet(c *Caller, id int32, uid, gid, mode uint32) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.shmLocked(id)
	if err != nil {
		return err
	}
	if !s.perm.ownerOrAdmin(c) {
		return unix.EPERM
	}
	s.perm.set(uid, gid, mode)
	s.ctime = now()
	return nil
}

// ShmRemove implements IPC_RMID: the segment is destroyed now if nothing
// maps it, else marked SHM_DEST and destroyed at its last detach; either
// way its key is free at once (it reads IPC_PRIVATE).
func (ns *Namespace) ShmRemove(c *Caller, id int32) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.shmLocked(id)
	if err != nil {
		return err
	}
	if !s.perm.ownerOrAdmin(c) {
		return unix.EPERM
	}
	ns.shmRMIDLocked(s)
	return nil
}

func (ns *Namespace) shmRMIDLocked(s *Shm) {
	s.perm.Mode |= ShmDest
	s.perm.Key = IPCPrivate
	s.maybeDestroyLocked()
}

// ShmLock implements SHM_LOCK and SHM_UNLOCK: pages are never swapped in
// the Sentry, so only the SHM_LOCKED mode bit changes. Without
// CAP_IPC_LOCK the caller must own or have created the segment and, to
// lock, have a nonzero RLIMIT_MEMLOCK (memlock), else EPERM.
func (ns *Namespace) ShmLock(c *Caller, id int32, lock bool, memlock uint64) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.shmLocked(id)
	if err != nil {
		return err
	}
	if !c.capable(unix.CAP_IPC_LOCK) {
		if c.EUID != s.perm.UID && c.EUID != s.perm.CUID {
			return unix.EPERM
		}
		if lock && memlock == 0 {
			return unix.EPERM
		}
	}
	if lock {
		s.perm.Mode |= ShmLocked
	} else {
		s.perm.Mode &^= ShmLocked
	}
	return nil
}

// ShmLimits is struct shminfo64 (IPC_INFO).
type ShmLimits struct{ Max, Min, Mni, Seg, All uint64 }

// ShmInfoLimits implements IPC_INFO: the limits, and the highest index in
// use (0 if none) as the call's result.
func (ns *Namespace) ShmInfoLimits() (ShmLimits, int32) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	l := ns.limits
	return ShmLimits{Max: l.ShmMax, Min: ShmMin, Mni: uint64(l.ShmMni), Seg: ShmMni, All: l.ShmAll}, max(ns.shms.maxIdx(), 0)
}

// ShmUsage is struct shm_info (SHM_INFO).
type ShmUsage struct {
	UsedIDs     int32
	Tot, RSS    uint64
	Swp         uint64
	SwapAttempt uint64
	SwapSuccess uint64
}

// ShmInfoUsage implements SHM_INFO: segments, pages reserved and resident
// (nothing is ever swapped), and the highest index in use.
func (ns *Namespace) ShmInfoUsage() (ShmUsage, int32) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	u := ShmUsage{UsedIDs: int32(len(ns.shms.objs)), Tot: ns.shmTot}
	for _, o := range ns.shms.objs {
		u.RSS += uint64(o.(*Shm).cache.CachedPages())
	}
	return u, max(ns.shms.maxIdx(), 0)
}

// Segments lists every segment, by index, for /proc/sysvipc/shm.
func (ns *Namespace) Segments() []ShmDS {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var out []ShmDS
	for _, o := range ns.shms.sorted() {
		out = append(out, o.(*Shm).dsLocked())
	}
	return out
}
