package vfs

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

var anonDev = NewAnonDev()
var anonIno atomic.Uint64

// NextAnonIno returns a fresh inode number for anonymous inodes (pipes,
// eventfds, sockets...), all on one anonymous device.
func NextAnonIno() uint64 { return anonIno.Add(1) }

// AnonInode is a minimal in-memory Inode for files without a filesystem
// (pipes, eventfd, epoll, sockets): Stat reports its mode, owner, times and
// a unique inode number; SetStat changes mode, owner and times (fchmod on
// a pipe works). Everything else is InodeDefaults.
type AnonInode struct {
	InodeDefaults
	mu sync.Mutex
	st Stat
}

// NewAnonInode returns an anonymous inode with the given st_mode (type and
// permission bits, e.g. S_IFIFO|0600; Linux's anon_inode files have mode
// 0600 without a type), owned by the caller.
func NewAnonInode(ctx Context, mode uint32) *AnonInode {
	now := NowTimespec()
	var uid, gid uint32
	if ctx != nil {
		uid, gid = ctx.FSUID(), ctx.FSGID()
	}
	return &AnonInode{st: Stat{
		Dev: anonDev, Ino: NextAnonIno(), Mode: mode, Nlink: 1, UID: uid, GID: gid,
		Blksize: 4096, Atime: now, Mtime: now, Ctime: now,
	}}
}

// Stat implements Inode.Stat.
func (a *AnonInode) Stat(Context) (Stat, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st, nil
}

// SetStat implements Inode.SetStat.
func (a *AnonInode) SetStat(_ Context, s SetStat) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	applySetStat(&a.st, s)
	return nil
}

// FileType implements TypeReporter.
func (a *AnonInode) FileType() uint32 { return a.st.Mode & unix.S_IFMT }

// Touch updates the inode's times (flags: which of atime, mtime, ctime);
// pipes call it on reads and writes.
func (a *AnonInode) Touch(atime, mtime bool) {
	now := NowTimespec()
	a.mu.Lock()
	if atime {
		a.st.Atime = now
	}
	if mtime {
		a.st.Mtime = now
		a.st.Ctime = now
	}
	a.mu.Unlock()
}

// applySetStat applies s to st (mode, owner, times; not size) and updates
// ctime. Filesystems with in-memory attributes can use it.
func applySetStat(st *Stat, s SetStat) {
	if s.Valid&AttrMode != 0 {
		st.Mode = st.Mode&unix.S_IFMT | s.Mode&0o7777
	}
	if s.Valid&AttrUID != 0 {
		st.UID = s.UID
	}
	if s.Valid&AttrGID != 0 {
		st.GID = s.GID
	}
	if s.Valid&AttrAtime != 0 {
		st.Atime = s.Atime
	}
	if s.Valid&AttrMtime != 0 {
		st.Mtime = s.Mtime
	}
	st.Ctime = NowTimespec()
}

// ApplySetStat is applySetStat for filesystems: it applies the mode, owner
// and time changes of s to st and sets st.Ctime to now. Size is ignored.
func ApplySetStat(st *Stat, s SetStat) { applySetStat(st, s) }

// syntheticDir is the inode of VFS-made mount points: an empty, read-only
// directory.
type syntheticDir struct {
	ReadOnlyDirDefaults
	st Stat
}

// NewSyntheticDir returns an empty directory inode (mode 0755, root owned)
// that refuses changes; the VFS uses it for mount points missing from the
// underlying filesystem, and it is handy as an empty filesystem root.
func NewSyntheticDir() Inode {
	now := NowTimespec()
	return &syntheticDir{st: Stat{
		Dev: anonDev, Ino: NextAnonIno(), Mode: unix.S_IFDIR | 0o755, Nlink: 2,
		Blksize: 4096, Atime: now, Mtime: now, Ctime: now,
	}}
}

func (d *syntheticDir) Stat(Context) (Stat, error)             { return d.st, nil }
func (d *syntheticDir) FileType() uint32                       { return unix.S_IFDIR }
func (d *syntheticDir) Lookup(Context, string) (Inode, error)  { return nil, unix.ENOENT }
func (d *syntheticDir) Getdents(Context) ([]Dirent, error)     { return nil, nil }
func (d *syntheticDir) Open(Context, uint32) (FileImpl, error) { return nil, unix.EISDIR }
