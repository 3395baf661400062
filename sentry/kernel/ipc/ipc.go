// Package ipc implements System V IPC (svipc(7)): shared memory segments
// (shmget(2), shmat(2), shmctl(2)), semaphore sets (semget(2), semop(2),
// semctl(2)) and message queues (msgget(2), msgsnd(2), msgrcv(2),
// msgctl(2)), one set of each per IPC namespace (ipc_namespaces(7)).
//
// The package knows nothing of tasks: callers describe themselves with a
// Caller (credentials, capabilities in the namespace's owning user
// namespace, pid) and block through a Blocker. Ids follow Linux's scheme,
// index + sequence<<15 with indexes handed out cyclically, so a fresh
// namespace numbers its objects 0, 1, 2... as Linux does. Everything a
// namespace holds is guarded by its one mutex; semop's "all or nothing"
// and the queues' ordering are then simple to get right, and SysV IPC is
// rarely hot enough for that lock to matter.
package ipc

import (
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

// Linux's limits and defaults (include/uapi/linux/{shm,sem,msg}.h,
// ipc/util.h), shown in /proc/sys/kernel and returned by IPC_INFO.
const (
	// IPCMNI bounds the objects of each kind a namespace may hold (the
	// index part of an id).
	IPCMNI   = 32768
	seqShift = 15
	seqMax   = 1<<16 - 1 // INT_MAX >> seqShift, kept to the 16-bit ipc_perm.seq

	ShmMax = ^uint64(0) - 1<<24 // SHMMAX (and SHMALL, in pages)
	ShmAll = ShmMax
	ShmMin = 1
	ShmMni = 4096

	SemMsl = 32000
	SemMni = 32000
	SemMns = SemMni * SemMsl
	SemOpm = 500
	SemVmx = 32767
	SemAem = SemVmx
	SemUme = SemOpm
	SemUsz = 20
	SemMap = SemMns
	SemMnu = SemMns

	MsgMni  = 32000
	MsgMax  = 8192
	MsgMnb  = 16384
	MsgSsz  = 16
	MsgPool = MsgMni * MsgMnb / 1024 // in KiB
	MsgSeg  = 0xffff                 // (MsgPool*1024)/MsgSsz, clamped to a short
	MsgTql  = MsgMnb
	MsgMap  = MsgMnb
)

// Mode bits and flags (ipc.h, shm.h, sem.h, msg.h).
const (
	IPCPrivate = 0
	IPCCreat   = 0o1000
	IPCExcl    = 0o2000
	IPCNoWait  = 0o4000

	ShmDest   = 0o1000 // in shm_perm.mode: removed, destroyed on last detach
	ShmLocked = 0o2000 // in shm_perm.mode: SHM_LOCK

	modeMask = 0o777
)

// Caller is who makes an IPC call.
type Caller struct {
	// EUID and EGID are the caller's effective ids (kernel ids: ids in
	// the sandbox's initial user namespace).
	EUID, EGID uint32
	// InGroup reports whether gid is the caller's filesystem gid or one
	// of its supplementary groups (Linux's in_group_p).
	InGroup func(gid uint32) bool
	// Capable reports whether the caller has capability cp in the user
	// namespace that owns the IPC namespace (ns_capable(ns->user_ns, cp)).
	Capable func(cp int) bool
	// PID is the caller's process id in the sandbox's initial pid
	// namespace; views translate it (see Namespace docs).
	PID int32
}

func (c *Caller) inGroup(gid uint32) bool {
	if c.InGroup != nil {
		return c.InGroup(gid)
	}
	return c.EGID == gid
}

func (c *Caller) capable(cp int) bool {
	if c.Capable != nil {
		return c.Capable(cp)
	}
	return c.EUID == 0
}

// Perm is an object's kern_ipc_perm: key, owner, creator, mode and the
// sequence number that makes ids of reused indexes differ.
type Perm struct {
	Key                  int32
	UID, GID, CUID, CGID uint32
	Mode                 uint32
	Seq                  uint16
	ID                   int32
}

// Permission bits of ipcperms' flag argument.
const (
	mayRead  = 0o444
	mayWrite = 0o222
)

// allowed implements Linux's ipcperms: the owner or creator get the user
// bits, members of the owner's or creator's group the group bits, anyone
// else the other bits; CAP_IPC_OWNER overrides.
func (p *Perm) allowed(c *Caller, flag uint32) bool {
	requested := (flag>>6 | flag>>3 | flag) & 7
	granted := p.Mode
	switch {
	case c.EUID == p.CUID || c.EUID == p.UID:
		granted >>= 6
	case c.inGroup(p.CGID) || c.inGroup(p.GID):
		granted >>= 3
	}
	if requested&^granted&7 == 0 {
		return true
	}
	return c.capable(unix.CAP_IPC_OWNER)
}

// ownerOrAdmin is the check of IPC_SET and IPC_RMID (ipcctl_obtain_check):
// the owner, the creator or CAP_SYS_ADMIN.
func (p *Perm) ownerOrAdmin(c *Caller) bool {
	return c.EUID == p.CUID || c.EUID == p.UID || c.capable(unix.CAP_SYS_ADMIN)
}

// set applies IPC_SET's owner and mode (ipc_update_perm).
func (p *Perm) set(uid, gid, mode uint32) {
	p.UID, p.GID = uid, gid
	p.Mode = p.Mode&^modeMask | mode&modeMask
}

// object is a shm segment, a semaphore set or a message queue.
type object interface{ ipcPerm() *Perm }

// registry holds one kind of object of a namespace, by index and key.
type registry struct {
	objs    map[int32]object
	lastIdx int32
	seq     uint16
}

func newRegistry() registry { return registry{objs: make(map[int32]object), lastIdx: -1} }

// add gives o an index and id (idr_alloc_cyclic in [0, mni)): the search
// starts after the last index handed out, and the sequence number grows
// when it wraps to a lower or equal index (ipc_idr_alloc).
func (r *registry) add(o object, mni int) error {
	if len(r.objs) >= mni {
		return unix.ENOSPC
	}
	idx := int32(-1)
	for i := 1; i <= mni; i++ {
		c := (r.lastIdx + int32(i)) % int32(mni)
		if c < 0 {
			c += int32(mni)
		}
		if _, used := r.objs[c]; !used {
			idx = c
			break
		}
	}
	if idx < 0 {
		return unix.ENOSPC
	}
	if idx <= r.lastIdx {
		r.seq++
		if r.seq >= seqMax {
			r.seq = 0
		}
	}
	r.lastIdx = idx
	p := o.ipcPerm()
	p.Seq = r.seq
	p.ID = int32(r.seq)<<seqShift | idx
	r.objs[idx] = o
	return nil
}

// byID returns the object with id (index and sequence must match).
func (r *registry) byID(id int32) object {
	if id < 0 {
		return nil
	}
	o := r.objs[id&(IPCMNI-1)]
	if o == nil || o.ipcPerm().ID != id {
		return nil
	}
	return o
}

// byIndex returns the object at index idx (the *_STAT commands).
func (r *registry) byIndex(idx int32) object {
	if idx < 0 {
		return nil
	}
	return r.objs[idx]
}

func (r *registry) byKey(key int32) object {
	if key == IPCPrivate {
		return nil
	}
	for _, o := range r.objs {
		if o.ipcPerm().Key == key {
			return o
		}
	}
	return nil
}

func (r *registry) remove(o object) {
	delete(r.objs, o.ipcPerm().ID&(IPCMNI-1))
}

// maxIdx is ipc_get_maxidx: the highest index in use, or -1.
func (r *registry) maxIdx() int32 {
	m := int32(-1)
	for i := range r.objs {
		m = max(m, i)
	}
	return m
}

// sorted returns the objects by index, for /proc/sysvipc.
func (r *registry) sorted() []object {
	m := r.maxIdx()
	out := make([]object, 0, len(r.objs))
	for i := int32(0); i <= m; i++ {
		if o := r.objs[i]; o != nil {
			out = append(out, o)
		}
	}
	return out
}

// Blocker is how a call waits: the kernel's Task. Block returns
// syserr.ErrInterrupted (or another error) when a signal interrupts the
// wait, BlockUntil also unix.ETIMEDOUT at deadline.
type Blocker interface {
	Block(ch <-chan struct{}) error
	BlockUntil(ch <-chan struct{}, deadline time.Time) error
}

// Namespace is one IPC namespace's System V objects. (POSIX message
// queues live in the namespace's mqueue filesystem, sentry/fs/mqueue.)
type Namespace struct {
	mf *memfile.File
	// Owner is the user namespace that owns this one (the kernel's
	// *UserNamespace); capabilities over the objects are checked there.
	Owner any

	mu     sync.Mutex
	limits Limits
	shms   registry
	sems   registry
	msgs   registry
	// shmTot is the pages of all segments (shm_tot).
	shmTot uint64
}

// Limits are a namespace's tunables, the IPC entries of /proc/sys/kernel
// (proc(5)): shmmax, shmall, shmmni, msgmax, msgmnb, msgmni and sem's
// four values. A new namespace starts with Linux's defaults.
type Limits struct {
	ShmMax, ShmAll                 uint64
	ShmMni                         int
	MsgMax, MsgMnb, MsgMni         int
	SemMsl, SemMns, SemOpm, SemMni int
}

// DefaultLimits are Linux's defaults.
func DefaultLimits() Limits {
	return Limits{ShmMax: ShmMax, ShmAll: ShmAll, ShmMni: ShmMni, MsgMax: MsgMax, MsgMnb: MsgMnb, MsgMni: MsgMni,
		SemMsl: SemMsl, SemMns: SemMns, SemOpm: SemOpm, SemMni: SemMni}
}

// valid reports whether l is within what Linux's sysctl handlers accept:
// no negative values, at most IPCMNI objects of a kind, at most SEMOPM_FAST
// ... (the sem values as Linux bounds them: semmsl and semopm positive).
func (l Limits) valid() bool {
	for _, v := range []int{l.ShmMni, l.MsgMax, l.MsgMnb, l.MsgMni, l.SemMsl, l.SemMns, l.SemOpm, l.SemMni} {
		if v < 0 {
			return false
		}
	}
	return l.ShmMni <= IPCMNI && l.MsgMni <= IPCMNI && l.SemMni <= IPCMNI
}

// Limits returns the namespace's tunables.
func (ns *Namespace) Limits() Limits {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.limits
}

// SetLimits changes the tunables with f (a write to /proc/sys/kernel);
// values out of range are EINVAL.
func (ns *Namespace) SetLimits(f func(l *Limits)) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	l := ns.limits
	f(&l)
	if !l.valid() {
		return unix.EINVAL
	}
	ns.limits = l
	return nil
}

// NewNamespace returns an empty IPC namespace whose shared memory lives
// in mf, owned by the user namespace owner.
func NewNamespace(mf *memfile.File, owner any) *Namespace {
	return &Namespace{mf: mf, Owner: owner, limits: DefaultLimits(), shms: newRegistry(), sems: newRegistry(), msgs: newRegistry()}
}

// now is the clock of the objects' time stamps (seconds).
var now = func() int64 { return time.Now().Unix() }

// Release destroys every object of ns (the namespace's last user is
// gone): segments still attached stay until their last detach, as with
// IPC_RMID (Linux's shm_destroy_orphaned on namespace exit).
func (ns *Namespace) Release() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, o := range ns.shms.sorted() {
		ns.shmRMIDLocked(o.(*Shm))
	}
	for _, o := range ns.sems.sorted() {
		ns.semRemoveLocked(o.(*SemSet))
	}
	for _, o := range ns.msgs.sorted() {
		ns.msgRemoveLocked(o.(*MsgQueue))
	}
}

// getParams are what ipcget needs of one kind of object.
type getParams struct {
	reg  *registry
	mni  int
	key  int32
	flag uint32
	// check verifies an existing object against the request (size,
	// nsems) before the permission check: EINVAL.
	check func(o object) error
	// create makes a new object with the caller's ids and flag's mode.
	create func(p Perm) (object, error)
}

// get implements ipcget (ipc/util.c): IPC_PRIVATE always creates; a key
// finds its object or, with IPC_CREAT, creates one; IPC_CREAT|IPC_EXCL
// fails with EEXIST on an existing key; an existing object must pass
// check and the permission check of flag's mode bits (EACCES).
func (ns *Namespace) get(c *Caller, gp getParams) (int32, error) {
	if gp.key != IPCPrivate {
		if o := gp.reg.byKey(gp.key); o != nil {
			if gp.flag&IPCCreat != 0 && gp.flag&IPCExcl != 0 {
				return 0, unix.EEXIST
			}
			if gp.check != nil {
				if err := gp.check(o); err != nil {
					return 0, err
				}
			}
			if !o.ipcPerm().allowed(c, gp.flag&modeMask) {
				return 0, unix.EACCES
			}
			return o.ipcPerm().ID, nil
		}
		if gp.flag&IPCCreat == 0 {
			return 0, unix.ENOENT
		}
	}
	if len(gp.reg.objs) >= gp.mni {
		return 0, unix.ENOSPC
	}
	o, err := gp.create(Perm{Key: gp.key, UID: c.EUID, GID: c.EGID, CUID: c.EUID, CGID: c.EGID, Mode: gp.flag & modeMask})
	if err != nil {
		return 0, err
	}
	if err := gp.reg.add(o, gp.mni); err != nil {
		return 0, err
	}
	return o.ipcPerm().ID, nil
}

// PermView is an object's permissions as IPC_STAT and /proc show them.
type PermView = Perm

// ctlCommon are the commands every kind accepts.
const (
	IPCRMID = 0
	IPCSet  = 1
	IPCStat = 2
	IPCInfo = 3
)
