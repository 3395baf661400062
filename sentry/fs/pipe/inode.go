package pipe

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	// Named pipes created by mknod(S_IFIFO)/mkfifo in any filesystem.
	vfs.SetFIFOFactory(func() vfs.FIFO { return NewPipe(true) })
}

// pipefsDev is st_dev of anonymous pipes (Linux's pipefs instance).
var pipefsDev = sync.OnceValue(vfs.NewAnonDev)

var nextIno atomic.Uint64

// Inode is the inode of an anonymous pipe, for fstat(2) on either end and
// for opening /proc/<pid>/fd/N of a pipe (which opens the same pipe, like
// a FIFO that never blocks).
type Inode struct {
	vfs.InodeDefaults
	p   *Pipe
	ino uint64

	mu       sync.Mutex
	mode     uint32
	uid, gid uint32
	atime    unix.Timespec
	mtime    unix.Timespec
	ctime    unix.Timespec
}

var (
	_ vfs.Inode        = (*Inode)(nil)
	_ vfs.TypeReporter = (*Inode)(nil)
)

// NewInode returns the inode of the anonymous pipe p, owned by the
// caller's filesystem ids.
func NewInode(ctx vfs.Context, p *Pipe) *Inode {
	now := timespecNow()
	return &Inode{
		p:     p,
		ino:   nextIno.Add(1),
		mode:  0o600,
		uid:   ctx.FSUID(),
		gid:   ctx.FSGID(),
		atime: now, mtime: now, ctime: now,
	}
}

func timespecNow() unix.Timespec {
	return unix.NsecToTimespec(time.Now().UnixNano())
}

// Pipe returns the pipe of the inode.
func (i *Inode) Pipe() *Pipe { return i.p }

// FileType implements vfs.TypeReporter.
func (i *Inode) FileType() uint32 { return unix.S_IFIFO }

// Stat implements vfs.Inode.Stat.
func (i *Inode) Stat(vfs.Context) (vfs.Stat, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return vfs.Stat{
		Dev:     pipefsDev(),
		Ino:     i.ino,
		Mode:    unix.S_IFIFO | i.mode,
		Nlink:   1,
		UID:     i.uid,
		GID:     i.gid,
		Blksize: pageSize,
		Atime:   i.atime,
		Mtime:   i.mtime,
		Ctime:   i.ctime,
	}, nil
}

// SetStat implements vfs.Inode.SetStat (fchmod, fchown, futimens on a
// pipe fd work on Linux).
func (i *Inode) SetStat(ctx vfs.Context, s vfs.SetStat) error {
	if s.Valid&vfs.AttrSize != 0 {
		return unix.EINVAL
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if s.Valid&(vfs.AttrMode|vfs.AttrUID|vfs.AttrGID) != 0 && ctx.FSUID() != 0 && ctx.FSUID() != i.uid {
		return unix.EPERM
	}
	now := timespecNow()
	if s.Valid&vfs.AttrMode != 0 {
		i.mode = s.Mode & 0o7777
	}
	if s.Valid&vfs.AttrUID != 0 {
		i.uid = s.UID
	}
	if s.Valid&vfs.AttrGID != 0 {
		i.gid = s.GID
	}
	if s.Valid&vfs.AttrAtime != 0 {
		i.atime = resolveTime(s.Atime, now)
	}
	if s.Valid&vfs.AttrMtime != 0 {
		i.mtime = resolveTime(s.Mtime, now)
	}
	i.ctime = now
	return nil
}

func resolveTime(t, now unix.Timespec) unix.Timespec {
	if t.Nsec == unix.UTIME_NOW {
		return now
	}
	return t
}

// Open implements vfs.Inode.Open: reopening an anonymous pipe (through
// /proc/<pid>/fd/N) gives a new file description on the same pipe.
func (i *Inode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	return i.p.Open(ctx, flags)
}
