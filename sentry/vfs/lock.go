package vfs

import (
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// Advisory file locks, kept in the Sentry (the host never sees them):
//
//   - POSIX record locks (fcntl F_SETLK, F_SETLKW, F_GETLK) are owned by an
//     FDTable, like Linux's files_struct ownership: threads sharing a table
//     share locks, a forked child does not inherit them, and closing any
//     descriptor of a file drops the table's locks on that file.
//   - open file description locks (fcntl F_OFD_SETLK, F_OFD_SETLKW,
//     F_OFD_GETLK) are record locks owned by an open file description, as
//     flock(2) locks are: they conflict with POSIX locks and with those of
//     other descriptions, are inherited across fork (the description is
//     shared) and go with the description's last reference. F_GETLK and
//     F_OFD_GETLK report them with l_pid -1.
//   - flock(2) locks are owned by an open file description and released
//     with its last reference.
//
// All are per Inode. There is no deadlock detection (F_SETLKW never gives
// EDEADLK).

// lockOwner owns record locks: an *FDTable (POSIX locks) or a
// *FileDescription (OFD locks).
type lockOwner any

type posixLock struct {
	owner      lockOwner
	pid        int32
	typ        int16 // F_RDLCK or F_WRLCK
	start, end int64 // [start, end); end is math.MaxInt64 for "to EOF"
}

type inodeLocks struct {
	posix  []posixLock
	flocks map[*FileDescription]int16 // LOCK_SH or LOCK_EX
	// changed is closed (and replaced) whenever a lock is released, to
	// wake blocked lockers.
	changed chan struct{}
}

var lockTable struct {
	mu sync.Mutex
	m  map[Inode]*inodeLocks
}

// locksOf returns the lock state of inode, creating it (lockTable.mu held).
func locksOf(inode Inode) *inodeLocks {
	if lockTable.m == nil {
		lockTable.m = make(map[Inode]*inodeLocks)
	}
	l := lockTable.m[inode]
	if l == nil {
		l = &inodeLocks{flocks: make(map[*FileDescription]int16), changed: make(chan struct{})}
		lockTable.m[inode] = l
	}
	return l
}

func (l *inodeLocks) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// gc forgets an inode without locks (lockTable.mu held).
func gcLocks(inode Inode, l *inodeLocks) {
	if len(l.posix) == 0 && len(l.flocks) == 0 {
		delete(lockTable.m, inode)
	}
}

// Flock is struct flock: a lock request or the answer of F_GETLK.
type Flock struct {
	Type   int16 // F_RDLCK, F_WRLCK, F_UNLCK
	Whence int16 // SEEK_SET, SEEK_CUR, SEEK_END
	Start  int64
	Len    int64
	Pid    int32
}

// lockRange converts a Flock to [start, end) using fd's position or size.
func (fd *FileDescription) lockRange(ctx Context, fl *Flock) (int64, int64, error) {
	var base int64
	switch fl.Whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = fd.Offset()
	case unix.SEEK_END:
		st, err := fd.inode.Stat(ctx)
		if err != nil {
			return 0, 0, err
		}
		base = st.Size
	default:
		return 0, 0, unix.EINVAL
	}
	start := base + fl.Start
	var end int64
	switch {
	case fl.Len > 0:
		end = start + fl.Len
		if end < start {
			return 0, 0, unix.EOVERFLOW
		}
	case fl.Len == 0:
		end = math.MaxInt64
	default:
		end = start
		start += fl.Len
	}
	if start < 0 {
		return 0, 0, unix.EINVAL
	}
	return start, end, nil
}

func conflicts(a posixLock, owner lockOwner, typ int16, start, end int64) bool {
	return a.owner != owner && a.start < end && start < a.end && (a.typ == unix.F_WRLCK || typ == unix.F_WRLCK)
}

// TestPOSIXLock implements F_GETLK: it returns the first lock that would
// block fl for owner, or fl with Type F_UNLCK.
func (fd *FileDescription) TestPOSIXLock(ctx Context, owner *FDTable, fl Flock) (Flock, error) {
	return fd.testLock(ctx, owner, fl)
}

// TestOFDLock implements F_OFD_GETLK: fl.Pid must be 0 (EINVAL).
func (fd *FileDescription) TestOFDLock(ctx Context, fl Flock) (Flock, error) {
	if fl.Pid != 0 {
		return Flock{}, unix.EINVAL
	}
	return fd.testLock(ctx, fd, fl)
}

func (fd *FileDescription) testLock(ctx Context, owner lockOwner, fl Flock) (Flock, error) {
	if fd.IsPath() {
		return Flock{}, unix.EBADF
	}
	if fl.Type != unix.F_RDLCK && fl.Type != unix.F_WRLCK {
		return Flock{}, unix.EINVAL
	}
	start, end, err := fd.lockRange(ctx, &fl)
	if err != nil {
		return Flock{}, err
	}
	lockTable.mu.Lock()
	defer lockTable.mu.Unlock()
	if l := lockTable.m[fd.inode]; l != nil {
		for _, p := range l.posix {
			if conflicts(p, owner, fl.Type, start, end) {
				out := Flock{Type: p.typ, Whence: unix.SEEK_SET, Start: p.start, Pid: p.pid}
				if p.end != math.MaxInt64 {
					out.Len = p.end - p.start
				}
				return out, nil
			}
		}
	}
	fl.Type = unix.F_UNLCK
	return fl, nil
}

// SetPOSIXLock implements F_SETLK (block false) and F_SETLKW (block true)
// for owner (the caller's FDTable; pid is reported by F_GETLK). A read lock
// needs fd open for reading, a write lock for writing (EBADF). A conflict
// gives EAGAIN, or waits (interruptibly) with block.
func (fd *FileDescription) SetPOSIXLock(ctx Context, owner *FDTable, pid int32, fl Flock, block bool) error {
	return fd.setLock(ctx, owner, pid, fl, block)
}

// SetOFDLock implements F_OFD_SETLK and F_OFD_SETLKW: a record lock owned
// by fd itself. fl.Pid must be 0 (EINVAL).
func (fd *FileDescription) SetOFDLock(ctx Context, fl Flock, block bool) error {
	if fl.Pid != 0 {
		return unix.EINVAL
	}
	return fd.setLock(ctx, fd, -1, fl, block)
}

func (fd *FileDescription) setLock(ctx Context, owner lockOwner, pid int32, fl Flock, block bool) error {
	switch fl.Type {
	case unix.F_RDLCK:
		if !fd.IsReadable() {
			return unix.EBADF
		}
	case unix.F_WRLCK:
		if !fd.IsWritable() {
			return unix.EBADF
		}
	case unix.F_UNLCK:
		if fd.IsPath() {
			return unix.EBADF
		}
	default:
		return unix.EINVAL
	}
	start, end, err := fd.lockRange(ctx, &fl)
	if err != nil {
		return err
	}
	for {
		lockTable.mu.Lock()
		l := locksOf(fd.inode)
		blocked := false
		if fl.Type != unix.F_UNLCK {
			for _, p := range l.posix {
				if conflicts(p, owner, fl.Type, start, end) {
					blocked = true
					break
				}
			}
		}
		if !blocked {
			l.posix = carve(l.posix, owner, start, end)
			if fl.Type != unix.F_UNLCK {
				l.posix = append(l.posix, posixLock{owner: owner, pid: pid, typ: fl.Type, start: start, end: end})
			}
			l.wake()
			gcLocks(fd.inode, l)
			lockTable.mu.Unlock()
			return nil
		}
		ch := l.changed
		lockTable.mu.Unlock()
		if !block {
			return unix.EAGAIN
		}
		if err := ctx.Block(ch); err != nil {
			return err
		}
	}
}

// carve removes owner's locks from [start, end), splitting those that
// straddle it.
func carve(locks []posixLock, owner lockOwner, start, end int64) []posixLock {
	out := locks[:0:0]
	for _, p := range locks {
		if p.owner != owner || p.end <= start || end <= p.start {
			out = append(out, p)
			continue
		}
		if p.start < start {
			q := p
			q.end = start
			out = append(out, q)
		}
		if end < p.end {
			q := p
			q.start = end
			out = append(out, q)
		}
	}
	return out
}

// releaseOFDLocks drops fd's OFD locks (its last reference).
func releaseOFDLocks(fd *FileDescription) { releasePOSIX(fd, fd.inode) }

// releasePOSIX drops owner's record locks on inode (for POSIX locks: any
// close of the file).
func releasePOSIX(owner lockOwner, inode Inode) {
	if inode == nil {
		return
	}
	lockTable.mu.Lock()
	defer lockTable.mu.Unlock()
	l := lockTable.m[inode]
	if l == nil {
		return
	}
	n := len(l.posix)
	l.posix = carve(l.posix, owner, 0, math.MaxInt64)
	if len(l.posix) != n {
		l.wake()
	}
	gcLocks(inode, l)
}

// Flock implements flock(2): op is LOCK_SH, LOCK_EX or LOCK_UN, optionally
// with LOCK_NB (then a conflict gives EWOULDBLOCK instead of waiting).
// Converting a lock first releases the old one, like Linux.
func (fd *FileDescription) Flock(ctx Context, op int) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	nb := op&unix.LOCK_NB != 0
	op &^= unix.LOCK_NB
	var typ int16
	switch op {
	case unix.LOCK_SH, unix.LOCK_EX:
		typ = int16(op)
	case unix.LOCK_UN:
		releaseFlock(fd)
		return nil
	default:
		return unix.EINVAL
	}
	for {
		lockTable.mu.Lock()
		l := locksOf(fd.inode)
		if cur, ok := l.flocks[fd]; ok && cur != typ {
			delete(l.flocks, fd)
			l.wake()
		}
		blocked := false
		for o, t := range l.flocks {
			if o != fd && (t == unix.LOCK_EX || typ == unix.LOCK_EX) {
				blocked = true
				break
			}
		}
		if !blocked {
			l.flocks[fd] = typ
			lockTable.mu.Unlock()
			return nil
		}
		ch := l.changed
		gcLocks(fd.inode, l)
		lockTable.mu.Unlock()
		if nb {
			return unix.EWOULDBLOCK
		}
		if err := ctx.Block(ch); err != nil {
			return err
		}
	}
}

// releaseFlock drops fd's flock(2) lock.
func releaseFlock(fd *FileDescription) {
	if fd.inode == nil {
		return
	}
	lockTable.mu.Lock()
	defer lockTable.mu.Unlock()
	l := lockTable.m[fd.inode]
	if l == nil {
		return
	}
	if _, ok := l.flocks[fd]; ok {
		delete(l.flocks, fd)
		l.wake()
	}
	gcLocks(fd.inode, l)
}
