package ipc

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// SemSet is a semaphore set (semget(2)).
type SemSet struct {
	ns    *Namespace
	perm  Perm
	sems  []semaphore
	ctime int64
	// waiters are the semop(2) calls sleeping on the set, for GETNCNT and
	// GETZCNT; changed is closed (and replaced) whenever a value changes
	// or the set goes, waking them all to try again.
	waiters map[*semWaiter]struct{}
	changed chan struct{}
	// undos are the undo lists holding adjustments for this set.
	undos map[*UndoList]struct{}
	dead  bool
}

type semaphore struct {
	val   int32
	pid   int32 // sempid: the last process that changed it
	otime int64
}

// semWaiter is a sleeping semop: the semaphore its first blocking
// operation is on, and whether that operation waits for zero.
type semWaiter struct {
	num  int
	zero bool
}

func (s *SemSet) ipcPerm() *Perm { return &s.perm }

func (s *SemSet) wakeLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// SemOp is one struct sembuf.
type SemOp struct {
	Num  uint16
	Op   int16
	Flag int16
}

// SEM_UNDO, for SemOp.Flag (sem.h).
const SemUndo = 0x1000

// UndoList is a process's semaphore adjustments (struct sem_undo_list):
// what SEM_UNDO operations must give back when the process exits.
// Processes made with CLONE_SYSVSEM share one; the kernel applies it
// (Exit) when the last of them exits or unshares it.
type UndoList struct {
	mu  sync.Mutex
	adj map[*SemSet][]int32
}

// NewUndoList returns an empty undo list.
func NewUndoList() *UndoList { return &UndoList{adj: make(map[*SemSet][]int32)} }

// Exit applies and forgets every adjustment (exit_sem): each semaphore
// gets its adjustment added, clamped to [0, SEMVMX], and pid as sempid.
func (u *UndoList) Exit(pid int32) {
	u.mu.Lock()
	sets := make([]*SemSet, 0, len(u.adj))
	for s := range u.adj {
		sets = append(sets, s)
	}
	u.mu.Unlock()
	for _, s := range sets {
		ns := s.ns
		ns.mu.Lock()
		u.mu.Lock()
		adj := u.adj[s]
		delete(u.adj, s)
		u.mu.Unlock()
		if !s.dead && adj != nil {
			delete(s.undos, u)
			changed := false
			for i, a := range adj {
				if a == 0 {
					continue
				}
				v := s.sems[i].val + a
				v = min(max(v, 0), SemVmx)
				s.sems[i].val, s.sems[i].pid = v, pid
				changed = true
			}
			if changed {
				s.ctime = now()
				s.wakeLocked()
			}
		}
		ns.mu.Unlock()
	}
}

// SemGet implements semget(2).
func (ns *Namespace) SemGet(c *Caller, key int32, nsems int32, flag uint32) (int32, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if nsems < 0 || int(nsems) > ns.limits.SemMsl {
		return 0, unix.EINVAL
	}
	return ns.get(c, getParams{
		reg: &ns.sems, mni: ns.limits.SemMni, key: key, flag: flag,
		check: func(o object) error {
			if int(nsems) > len(o.(*SemSet).sems) {
				return unix.EINVAL
			}
			return nil
		},
		create: func(p Perm) (object, error) {
			if nsems == 0 {
				return nil, unix.EINVAL
			}
			if ns.usedSemsLocked()+int(nsems) > ns.limits.SemMns {
				return nil, unix.ENOSPC
			}
			return &SemSet{ns: ns, perm: p, sems: make([]semaphore, nsems), ctime: now(),
				waiters: make(map[*semWaiter]struct{}), changed: make(chan struct{}),
				undos: make(map[*UndoList]struct{})}, nil
		},
	})
}

func (ns *Namespace) usedSemsLocked() int {
	n := 0
	for _, o := range ns.sems.objs {
		n += len(o.(*SemSet).sems)
	}
	return n
}

func (ns *Namespace) semLocked(id int32) (*SemSet, error) {
	o := ns.sems.byID(id)
	if o == nil {
		return nil, unix.EINVAL
	}
	return o.(*SemSet), nil
}

// SemTimedOp implements semop(2) and semtimedop(2): the operations apply
// all at once or not at all; while one cannot, the call sleeps (EAGAIN
// with IPC_NOWAIT in its flag, or when deadline, if set, passes; EINTR
// when a signal interrupts it, EIDRM when the set is removed). undo
// returns the caller's undo list, made on first use by SEM_UNDO.
func (ns *Namespace) SemTimedOp(c *Caller, b Blocker, id int32, ops []SemOp, undo func() *UndoList, deadline *time.Time) error {
	if len(ops) < 1 {
		return unix.EINVAL
	}
	if len(ops) > ns.Limits().SemOpm {
		return unix.E2BIG
	}
	if id < 0 {
		return unix.EINVAL
	}
	maxNum, alter, undos := 0, false, false
	for _, op := range ops {
		maxNum = max(maxNum, int(op.Num))
		if op.Op != 0 {
			alter = true
		}
		if op.Flag&SemUndo != 0 {
			undos = true
		}
	}
	var ul *UndoList
	if undos {
		ul = undo()
	}
	ns.mu.Lock()
	s, err := ns.semLocked(id)
	if err != nil {
		ns.mu.Unlock()
		return err
	}
	if maxNum >= len(s.sems) {
		ns.mu.Unlock()
		return unix.EFBIG
	}
	want := uint32(mayRead)
	if alter {
		want = mayWrite
	}
	if !s.perm.allowed(c, want) {
		ns.mu.Unlock()
		return unix.EACCES
	}
	for {
		if s.dead {
			ns.mu.Unlock()
			return unix.EIDRM
		}
		blocked, err := s.tryLocked(ops, ul, c.PID)
		if err != nil || blocked == nil {
			ns.mu.Unlock()
			return err
		}
		if blocked.nowait {
			ns.mu.Unlock()
			return unix.EAGAIN
		}
		w := &semWaiter{num: blocked.num, zero: blocked.zero}
		s.waiters[w] = struct{}{}
		ch := s.changed
		ns.mu.Unlock()
		var berr error
		if deadline != nil {
			berr = b.BlockUntil(ch, *deadline)
		} else {
			berr = b.Block(ch)
		}
		ns.mu.Lock()
		delete(s.waiters, w)
		if berr == unix.ETIMEDOUT {
			ns.mu.Unlock()
			return unix.EAGAIN
		}
		if berr != nil {
			// semop is never restarted after a signal (signal(7)).
			ns.mu.Unlock()
			return unix.EINTR
		}
	}
}

// blockedOn says which operation of a semop would block.
type blockedOn struct {
	num    int
	zero   bool
	nowait bool
}

// tryLocked is perform_atomic_semop: it applies ops in order to a copy of
// the values; if one would block, nothing changes and the answer says
// which; a value past SEMVMX, or an undo adjustment out of range, is
// ERANGE. On success the values, sempids, otime and undo adjustments are
// committed and sleepers woken.
func (s *SemSet) tryLocked(ops []SemOp, ul *UndoList, pid int32) (*blockedOn, error) {
	vals := make([]int32, len(s.sems))
	for i := range s.sems {
		vals[i] = s.sems[i].val
	}
	var adj []int32
	if ul != nil {
		ul.mu.Lock()
		defer ul.mu.Unlock()
		adj = make([]int32, len(s.sems))
		copy(adj, ul.adj[s])
	}
	for _, op := range ops {
		n := int(op.Num)
		cur := vals[n]
		if op.Op == 0 {
			if cur != 0 {
				return &blockedOn{num: n, zero: true, nowait: op.Flag&IPCNoWait != 0}, nil
			}
			continue
		}
		res := cur + int32(op.Op)
		if res < 0 {
			return &blockedOn{num: n, nowait: op.Flag&IPCNoWait != 0}, nil
		}
		if res > SemVmx {
			return nil, unix.ERANGE
		}
		if op.Flag&SemUndo != 0 {
			u := adj[n] - int32(op.Op)
			if u < -SemAem-1 || u > SemAem {
				return nil, unix.ERANGE
			}
			adj[n] = u
		}
		vals[n] = res
	}
	t := now()
	for _, op := range ops {
		n := int(op.Num)
		s.sems[n].val, s.sems[n].pid = vals[n], pid
		s.sems[n].otime = t
	}
	if ul != nil {
		ul.adj[s] = adj
		s.undos[ul] = struct{}{}
	}
	for _, op := range ops {
		if op.Op != 0 {
			s.wakeLocked()
			break
		}
	}
	return nil, nil
}

// SemDS is a set's struct semid64_ds.
type SemDS struct {
	Perm         Perm
	Otime, Ctime int64
	Nsems        uint64
}

func (s *SemSet) dsLocked() SemDS {
	d := SemDS{Perm: s.perm, Ctime: s.ctime, Nsems: uint64(len(s.sems))}
	for _, m := range s.sems {
		d.Otime = max(d.Otime, m.otime)
	}
	return d
}

// semForRead finds set id and checks want (EINVAL, EACCES).
func (ns *Namespace) semCheckedLocked(c *Caller, id int32, want uint32) (*SemSet, error) {
	s, err := ns.semLocked(id)
	if err != nil {
		return nil, err
	}
	if !s.perm.allowed(c, want) {
		return nil, unix.EACCES
	}
	return s, nil
}

// SemStat implements IPC_STAT.
func (ns *Namespace) SemStat(c *Caller, id int32) (SemDS, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semCheckedLocked(c, id, mayRead)
	if err != nil {
		return SemDS{}, err
	}
	return s.dsLocked(), nil
}

// SemStatIndex implements SEM_STAT and (anyPerm) SEM_STAT_ANY.
func (ns *Namespace) SemStatIndex(c *Caller, idx int32, anyPerm bool) (SemDS, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	o := ns.sems.byIndex(idx)
	if o == nil {
		return SemDS{}, unix.EINVAL
	}
	s := o.(*SemSet)
	if !anyPerm && !s.perm.allowed(c, mayRead) {
		return SemDS{}, unix.EACCES
	}
	return s.dsLocked(), nil
}

// SemSet implements IPC_SET.
func (ns *Namespace) SemSetPerm(c *Caller, id int32, uid, gid, mode uint32) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semLocked(id)
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

// SemRemove implements IPC_RMID: sleepers get EIDRM.
func (ns *Namespace) SemRemove(c *Caller, id int32) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semLocked(id)
	if err != nil {
		return err
	}
	if !s.perm.ownerOrAdmin(c) {
		return unix.EPERM
	}
	ns.semRemoveLocked(s)
	return nil
}

func (ns *Namespace) semRemoveLocked(s *SemSet) {
	s.dead = true
	ns.sems.remove(s)
	for u := range s.undos {
		u.mu.Lock()
		delete(u.adj, s)
		u.mu.Unlock()
	}
	s.undos = nil
	s.wakeLocked()
}

// SemCmd is a semctl(2) command on semaphore values.
type SemCmd int

// semctl(2) commands (sem.h).
const (
	GetPID  SemCmd = 11
	GetVal  SemCmd = 12
	GetAll  SemCmd = 13
	GetNCnt SemCmd = 14
	GetZCnt SemCmd = 15
	SetVal  SemCmd = 16
	SetAll  SemCmd = 17
)

// SemGetValue implements GETVAL, GETPID, GETNCNT and GETZCNT of semaphore
// num: read permission (EACCES), then num in range (EINVAL).
func (ns *Namespace) SemGetValue(c *Caller, id int32, num int32, cmd SemCmd) (int32, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semCheckedLocked(c, id, mayRead)
	if err != nil {
		return 0, err
	}
	if num < 0 || int(num) >= len(s.sems) {
		return 0, unix.EINVAL
	}
	switch cmd {
	case GetVal:
		return s.sems[num].val, nil
	case GetPID:
		return s.sems[num].pid, nil
	case GetNCnt, GetZCnt:
		n := int32(0)
		for w := range s.waiters {
			if w.num == int(num) && w.zero == (cmd == GetZCnt) {
				n++
			}
		}
		return n, nil
	}
	return 0, unix.EINVAL
}

// SemSetValue implements SETVAL: the value must be in [0, SEMVMX]
// (ERANGE, checked first as Linux does), num in range (EINVAL), then
// write permission (EACCES). Undo adjustments of the semaphore are
// cleared, and sleepers retry.
func (ns *Namespace) SemSetValue(c *Caller, id int32, num int32, val int32) error {
	if val < 0 || val > SemVmx {
		return unix.ERANGE
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semLocked(id)
	if err != nil {
		return err
	}
	if num < 0 || int(num) >= len(s.sems) {
		return unix.EINVAL
	}
	if !s.perm.allowed(c, mayWrite) {
		return unix.EACCES
	}
	for u := range s.undos {
		u.mu.Lock()
		if a := u.adj[s]; a != nil {
			a[num] = 0
		}
		u.mu.Unlock()
	}
	s.sems[num].val, s.sems[num].pid = val, c.PID
	s.ctime = now()
	s.wakeLocked()
	return nil
}

// SemNsems returns the size of set id, for GETALL and SETALL to size
// their buffer (EINVAL if there is no such set).
func (ns *Namespace) SemNsems(id int32) (int, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semLocked(id)
	if err != nil {
		return 0, err
	}
	return len(s.sems), nil
}

// SemGetAll implements GETALL.
func (ns *Namespace) SemGetAll(c *Caller, id int32) ([]uint16, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semCheckedLocked(c, id, mayRead)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, len(s.sems))
	for i, m := range s.sems {
		out[i] = uint16(m.val)
	}
	return out, nil
}

// SemSetAll implements SETALL: every value must be at most SEMVMX
// (ERANGE); all undo adjustments of the set are cleared.
func (ns *Namespace) SemSetAll(c *Caller, id int32, vals []uint16) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s, err := ns.semCheckedLocked(c, id, mayWrite)
	if err != nil {
		return err
	}
	if len(vals) != len(s.sems) {
		return unix.EINVAL
	}
	for _, v := range vals {
		if v > SemVmx {
			return unix.ERANGE
		}
	}
	for u := range s.undos {
		u.mu.Lock()
		delete(u.adj, s)
		u.mu.Unlock()
	}
	s.undos = make(map[*UndoList]struct{})
	for i, v := range vals {
		s.sems[i].val, s.sems[i].pid = int32(v), c.PID
	}
	s.ctime = now()
	s.wakeLocked()
	return nil
}

// SemLimits is struct seminfo.
type SemLimits struct {
	Map, Mni, Mns, Mnu, Msl, Opm, Ume, Usz, Vmx, Aem int32
}

// SemInfo implements IPC_INFO and (usage) SEM_INFO, which reports the
// sets in use as semusz and the semaphores in them as semaem; the result
// is the highest index in use.
func (ns *Namespace) SemInfo(usage bool) (SemLimits, int32) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	lim := ns.limits
	l := SemLimits{Map: int32(lim.SemMns), Mni: int32(lim.SemMni), Mns: int32(lim.SemMns), Mnu: int32(lim.SemMns),
		Msl: int32(lim.SemMsl), Opm: int32(lim.SemOpm), Ume: int32(lim.SemOpm), Usz: SemUsz, Vmx: SemVmx, Aem: SemAem}
	if usage {
		l.Usz = int32(len(ns.sems.objs))
		l.Aem = int32(ns.usedSemsLocked())
	}
	return l, max(ns.sems.maxIdx(), 0)
}

// SemSets lists every set, by index, for /proc/sysvipc/sem.
func (ns *Namespace) SemSets() []SemDS {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var out []SemDS
	for _, o := range ns.sems.sorted() {
		out = append(out, o.(*SemSet).dsLocked())
	}
	return out
}
