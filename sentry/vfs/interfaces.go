package vfs

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Context is what filesystems need from the calling task. kernel.Task
// implements it.
type Context interface {
	// Block waits until ch is readable or a signal interrupts the task
	// (then it returns syserr.ErrInterrupted, which the caller returns).
	Block(ch <-chan struct{}) error
	// BlockTimeout is Block with a timeout; it returns unix.ETIMEDOUT
	// when d elapses. d < 0 means no timeout.
	BlockTimeout(ch <-chan struct{}, d time.Duration) error
	// FSUID and FSGID are the ids used for file permission checks and new
	// file ownership.
	FSUID() uint32
	FSGID() uint32
	// ProcessID is the caller's thread group id, for /proc/self.
	ProcessID() int32
}

// Stat is the attributes of an inode, the union of what stat(2) and
// statx(2) report.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Mode    uint32 // file type and permission bits, as st_mode
	Nlink   uint32
	UID     uint32
	GID     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	Atime   unix.Timespec
	Mtime   unix.Timespec
	Ctime   unix.Timespec
}

// SetStat says which attributes SetStat changes (the Valid mask uses
// Linux's ATTR_* bits below).
type SetStat struct {
	Valid uint32
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  int64
	Atime unix.Timespec // Nsec may be UTIME_NOW
	Mtime unix.Timespec
}

// SetStat.Valid bits.
const (
	AttrMode  = 1 << 0
	AttrUID   = 1 << 1
	AttrGID   = 1 << 2
	AttrSize  = 1 << 3
	AttrAtime = 1 << 4
	AttrMtime = 1 << 5
)

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8 // DT_*
}

// Inode is a file in some filesystem. Methods that don't apply to the
// inode's type return the errno Linux would (ENOTDIR for directory
// operations on a non-directory, EINVAL for Readlink on a non-symlink...);
// embed InodeDefaults for that.
type Inode interface {
	Stat(ctx Context) (Stat, error)
	SetStat(ctx Context, s SetStat) error
	// Open returns the implementation of a new open file description.
	// flags are the open(2) flags (access mode, O_TRUNC, O_APPEND, ...).
	Open(ctx Context, flags uint32) (FileImpl, error)

	// Directory operations. name is a single path component, never "."
	// or "..".
	Lookup(ctx Context, name string) (Inode, error)
	Create(ctx Context, name string, flags uint32, mode uint32) (Inode, FileImpl, error)
	Mkdir(ctx Context, name string, mode uint32) (Inode, error)
	Mknod(ctx Context, name string, mode uint32, dev uint64) (Inode, error)
	Symlink(ctx Context, name, target string) (Inode, error)
	Link(ctx Context, name string, target Inode) error
	Unlink(ctx Context, name string) error
	Rmdir(ctx Context, name string) error
	Rename(ctx Context, oldName string, newDir Inode, newName string) error
	Getdents(ctx Context) ([]Dirent, error)

	// Readlink returns a symlink's target.
	Readlink(ctx Context) (string, error)
}

// FileImpl is the filesystem-specific part of an open file.
type FileImpl interface {
	waiter.Waitable
	// Read reads into dst at off (off is -1 for files without a position,
	// e.g. pipes). It blocks through ctx unless nonblock.
	Read(ctx Context, dst []byte, off int64, nonblock bool) (int, error)
	Write(ctx Context, src []byte, off int64, nonblock bool) (int, error)
	// Ioctl handles ioctl(2) requests; arg is the raw argument. io gives
	// access to the caller's memory for request structs.
	Ioctl(ctx Context, io UserMemory, cmd uint32, arg uint64) (uint64, error)
	// Release is called when the last reference to the open file goes.
	Release()
}

// UserMemory copies to and from the calling task's memory (for ioctl).
type UserMemory interface {
	CopyIn(addr uintptr, dst []byte) error
	CopyOut(addr uintptr, src []byte) error
}

// Optional FileImpl extensions, found by type assertion.
type (
	// Seeker files have a position (regular files, directories,
	// devices); lseek on others gives ESPIPE.
	Seeker interface {
		// Seekable reports whether lseek is allowed.
		Seekable() bool
	}
	// Mapper files can be mmap'ed.
	Mapper interface {
		Mappable() mm.Mappable
	}
	// Syncer files have host state to flush (fsync).
	Syncer interface {
		Sync() error
	}
	// Truncater files support ftruncate.
	Truncater interface {
		Truncate(ctx Context, size int64) error
	}
)
