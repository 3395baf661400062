package vfs

import (
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// This file adds to the interfaces of interfaces.go: default
// implementations to embed, and optional extensions found by type
// assertion. Nothing here changes an existing interface.

// InodeDefaults gives every Inode method except Stat the errno Linux returns
// when the operation does not apply: directory operations give ENOTDIR,
// Readlink EINVAL, Open ENXIO, SetStat EPERM. Embed it and override what
// the inode supports.
type InodeDefaults struct{}

// SetStat implements Inode.SetStat.
func (InodeDefaults) SetStat(Context, SetStat) error { return unix.EPERM }

// Open implements Inode.Open.
func (InodeDefaults) Open(Context, uint32) (FileImpl, error) { return nil, unix.ENXIO }

// Lookup implements Inode.Lookup.
func (InodeDefaults) Lookup(Context, string) (Inode, error) { return nil, unix.ENOTDIR }

// Create implements Inode.Create.
func (InodeDefaults) Create(Context, string, uint32, uint32) (Inode, FileImpl, error) {
	return nil, nil, unix.ENOTDIR
}

// Mkdir implements Inode.Mkdir.
func (InodeDefaults) Mkdir(Context, string, uint32) (Inode, error) { return nil, unix.ENOTDIR }

// Mknod implements Inode.Mknod.
func (InodeDefaults) Mknod(Context, string, uint32, uint64) (Inode, error) {
	return nil, unix.ENOTDIR
}

// Symlink implements Inode.Symlink.
func (InodeDefaults) Symlink(Context, string, string) (Inode, error) { return nil, unix.ENOTDIR }

// Link implements Inode.Link.
func (InodeDefaults) Link(Context, string, Inode) error { return unix.ENOTDIR }

// Unlink implements Inode.Unlink.
func (InodeDefaults) Unlink(Context, string) error { return unix.ENOTDIR }

// Rmdir implements Inode.Rmdir.
func (InodeDefaults) Rmdir(Context, string) error { return unix.ENOTDIR }

// Rename implements Inode.Rename.
func (InodeDefaults) Rename(Context, string, Inode, string) error { return unix.ENOTDIR }

// Getdents implements Inode.Getdents.
func (InodeDefaults) Getdents(Context) ([]Dirent, error) { return nil, unix.ENOTDIR }

// Readlink implements Inode.Readlink.
func (InodeDefaults) Readlink(Context) (string, error) { return "", unix.EINVAL }

// ReadOnlyDirDefaults is InodeDefaults for directories whose entries the
// application cannot change (procfs): mutations give EPERM (EACCES would
// also be Linux-like; proc gives EPERM/ENOENT depending on the case).
type ReadOnlyDirDefaults struct{ InodeDefaults }

// Create implements Inode.Create.
func (ReadOnlyDirDefaults) Create(Context, string, uint32, uint32) (Inode, FileImpl, error) {
	return nil, nil, unix.EACCES
}

// Mkdir implements Inode.Mkdir.
func (ReadOnlyDirDefaults) Mkdir(Context, string, uint32) (Inode, error) { return nil, unix.EACCES }

// Mknod implements Inode.Mknod.
func (ReadOnlyDirDefaults) Mknod(Context, string, uint32, uint64) (Inode, error) {
	return nil, unix.EACCES
}

// Symlink implements Inode.Symlink.
func (ReadOnlyDirDefaults) Symlink(Context, string, string) (Inode, error) {
	return nil, unix.EACCES
}

// Link implements Inode.Link.
func (ReadOnlyDirDefaults) Link(Context, string, Inode) error { return unix.EACCES }

// Unlink implements Inode.Unlink.
func (ReadOnlyDirDefaults) Unlink(Context, string) error { return unix.EACCES }

// Rmdir implements Inode.Rmdir.
func (ReadOnlyDirDefaults) Rmdir(Context, string) error { return unix.EACCES }

// Rename implements Inode.Rename.
func (ReadOnlyDirDefaults) Rename(Context, string, Inode, string) error { return unix.EACCES }

// NoIoctl gives a FileImpl an Ioctl that answers ENOTTY to everything.
type NoIoctl struct{}

// Ioctl implements FileImpl.Ioctl.
func (NoIoctl) Ioctl(Context, UserMemory, uint32, uint64) (uint64, error) { return 0, unix.ENOTTY }

// AlwaysReady gives a FileImpl the readiness of a regular file: always
// readable and writable, never notifying (nothing ever changes).
type AlwaysReady struct{}

// Readiness implements waiter.Waitable.
func (AlwaysReady) Readiness(mask waiter.EventMask) waiter.EventMask {
	return mask & (waiter.EventIn | waiter.EventOut | waiter.EventRdNorm | waiter.EventWrNorm)
}

// EventRegister implements waiter.Waitable.
func (AlwaysReady) EventRegister(*waiter.Entry) {}

// EventUnregister implements waiter.Waitable.
func (AlwaysReady) EventUnregister(*waiter.Entry) {}

// NoRelease gives a FileImpl an empty Release.
type NoRelease struct{}

// Release implements FileImpl.Release.
func (NoRelease) Release() {}

// Optional Inode extensions, found by type assertion.
type (
	// TypeReporter inodes report their file type (the S_IFMT bits of
	// st_mode, which never change) without the cost of a full Stat. The
	// VFS asks it once per dentry; filesystems whose Stat is a remote
	// call (gofer) should implement it.
	TypeReporter interface {
		FileType() uint32
	}

	// DynamicDirectory is implemented by directories whose entries change
	// without the VFS's knowledge (procfs: /proc/<pid> comes and goes).
	// When DynamicLookup returns true the VFS calls Lookup on every walk
	// through the directory instead of trusting its dentry cache; a cached
	// dentry (and anything mounted on it) is kept only while Lookup keeps
	// returning the same Inode (== comparison), so return stable Inode
	// values for entries that should stay mountable.
	DynamicDirectory interface {
		DynamicLookup() bool
	}

	// MagicLinker is implemented by symlinks that resolve to a location
	// chosen by the inode rather than by their text: procfs's
	// /proc/<pid>/{exe,cwd,root,fd/N}. When following such a link the VFS
	// uses the returned location and ignores Readlink (which still gives
	// the text readlink(2) shows). Returning an error fails the walk. The
	// returned location carries a reference that the VFS owns (take one
	// with VirtualDentry.IncRef, FSContext.CwdRef, GetDentry or
	// AnonymousDentry).
	MagicLinker interface {
		FollowMagicLink(ctx Context) (VirtualDentry, error)
	}

	// StatFSer inodes report statfs(2) for their filesystem. Others get
	// a generic answer (Type 0, Bsize 4096, Namelen 255).
	StatFSer interface {
		StatFS(ctx Context) (StatFS, error)
	}

	// InodeSyncer inodes flush their data for fsync on an O_PATH-less
	// file without a Syncer FileImpl, and for syncfs.
	InodeSyncer interface {
		SyncInode(ctx Context) error
	}
)

// Optional FileImpl extensions, in addition to Seeker, Mapper, Syncer and
// Truncater (interfaces.go).
type (
	// AppendWriter files implement O_APPEND writes atomically: Append
	// writes src at the current end of file and returns the number of
	// bytes written and the end offset after the write (the new file
	// position). Files with a position that do not implement it get
	// O_APPEND emulated with Inode.Stat followed by Write.
	AppendWriter interface {
		Append(ctx Context, src []byte, nonblock bool) (n int, end int64, err error)
	}

	// SeekHandler files implement lseek(2) themselves because their
	// position lives elsewhere (a host file description). The VFS passes
	// off = -1 to their Read and Write and does not keep a position for
	// them; pread/pwrite on them give ESPIPE unless they also implement
	// Seeker with Seekable() true.
	SeekHandler interface {
		Seek(ctx Context, off int64, whence int) (int64, error)
	}

	// Allocator files implement fallocate(2). mode is the fallocate mode
	// (0 allocates and extends the size); others may give EOPNOTSUPP.
	Allocator interface {
		Allocate(ctx Context, mode uint32, off, length int64) error
	}
)

// StatFS is the result of statfs(2).
type StatFS struct {
	Type    uint64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Fsid    [2]int32
	Namelen int64
	Frsize  int64
	Flags   int64 // ST_* mount flags; the VFS ORs in ST_RDONLY for read-only mounts
}

// FIFO is a named pipe's shared state. Filesystems that hold FIFO inodes
// (tmpfs, the gofer filesystem) create one per FIFO inode with NewFIFO and
// delegate Inode.Open to it; Open implements open(2) on a FIFO including
// its blocking rules (O_RDONLY waits for a writer unless O_NONBLOCK, ...).
type FIFO interface {
	Open(ctx Context, flags uint32) (FileImpl, error)
}

var fifoFactory atomic.Pointer[func() FIFO]

// SetFIFOFactory installs the constructor of named pipes; sentry/fs/pipe
// calls it from init. Until then mknod(S_IFIFO) gives EPERM.
func SetFIFOFactory(f func() FIFO) { fifoFactory.Store(&f) }

// NewFIFO returns a new named pipe state, or nil if no pipe implementation
// is linked in (callers then fail with EPERM).
func NewFIFO() FIFO {
	if f := fifoFactory.Load(); f != nil {
		return (*f)()
	}
	return nil
}

// DeviceOpener opens a character device: the FileImpl of one open(2).
type DeviceOpener func(ctx Context, flags uint32) (FileImpl, error)

var devices struct {
	mu sync.RWMutex
	m  map[uint64]DeviceOpener
}

// RegisterCharDevice makes character device (major, minor) openable from
// any filesystem's device inodes (tmpfs's /dev, mknod'ed nodes...).
func RegisterCharDevice(major, minor uint32, open DeviceOpener) {
	devices.mu.Lock()
	defer devices.mu.Unlock()
	if devices.m == nil {
		devices.m = make(map[uint64]DeviceOpener)
	}
	devices.m[MakeDev(major, minor)] = open
}

// OpenCharDevice opens the character device rdev (stat(2) encoding); ENXIO
// if no such device is registered.
func OpenCharDevice(ctx Context, rdev uint64, flags uint32) (FileImpl, error) {
	devices.mu.RLock()
	open := devices.m[rdev]
	devices.mu.RUnlock()
	if open == nil {
		return nil, unix.ENXIO
	}
	return open(ctx, flags)
}

var anonMinor atomic.Uint32

// NewAnonDev returns a fresh device number (major 0, like Linux's
// anonymous block devices) for a filesystem instance's st_dev.
func NewAnonDev() uint64 {
	return MakeDev(UnnamedMajor, anonMinor.Add(1)+16)
}
