package vfs

import (
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// settableFlags are the status flags F_SETFL may change.
const settableFlags = unix.O_APPEND | unix.O_NONBLOCK | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME

// keptFlags are the open(2) flags a FileDescription remembers.
const keptFlags = unix.O_ACCMODE | settableFlags | unix.O_PATH | unix.O_DSYNC | unix.O_SYNC

// FileDescription is an open file description: what open(2) creates and
// dup(2) and fork share. It is reference counted (IncRef/DecRef); the
// FileImpl is released with the last reference.
//
// A FileDescription has a position if its FileImpl implements Seeker with
// Seekable() true; then Read/Write use and advance it (under a mutex, so
// concurrent reads through one description are serialized like Linux's
// f_pos_lock) and PRead/PWrite are allowed. Otherwise Read/Write pass
// offset -1 and PRead/PWrite give ESPIPE.
type FileDescription struct {
	impl  FileImpl
	vd    VirtualDentry // zero for anonymous files
	inode Inode
	name  string // path shown for anonymous files
	v     *VirtualFilesystem

	refs  atomic.Int64
	flags atomic.Uint32

	seekable bool
	seeker   SeekHandler
	dir      *dirState // non-nil for directories

	offMu sync.Mutex
	off   int64

	// countedWriter: a writable open of a regular file by path, counted
	// for execve's ETXTBSY (textbusy.go) until released.
	countedWriter bool
}

// NewFileDescription returns a new open file description (one reference)
// for impl. It is how pipes, eventfd, epoll, sockets and other files
// without a path are made: inode is what fstat/fchmod/fchown act on (use
// NewAnonInode), name is what /proc/self/fd shows ("pipe:[42]",
// "anon_inode:[eventfd]"). flags are the open(2)-style flags: access mode
// and status flags (O_NONBLOCK, O_APPEND...).
func NewFileDescription(impl FileImpl, flags uint32, inode Inode, name string) *FileDescription {
	fd := &FileDescription{impl: impl, inode: inode, name: name}
	fd.init(flags)
	return fd
}

// newFileDescription makes the description of a file opened by path.
// It takes a reference on vd.
func (v *VirtualFilesystem) newFileDescription(impl FileImpl, flags uint32, vd VirtualDentry) *FileDescription {
	fd := &FileDescription{impl: impl, vd: vd, inode: vd.Dentry.inode, v: v}
	fd.init(flags)
	vd.IncRef()
	vd.Dentry.opens.Add(1)
	if vd.Dentry.ftype == unix.S_IFREG && fd.IsWritable() {
		fd.countedWriter = true
		addWriter(fd.inode, 1)
	}
	return fd
}

func (fd *FileDescription) init(flags uint32) {
	fd.refs.Store(1)
	fd.flags.Store(flags & keptFlags)
	if s, ok := fd.impl.(Seeker); ok && s.Seekable() {
		fd.seekable = true
	}
	if s, ok := fd.impl.(SeekHandler); ok {
		fd.seeker = s
	}
	if d, ok := fd.impl.(*dirFile); ok {
		fd.dir = &d.state
	}
}

// releaseHook is called with every FileDescription whose last reference
// goes, before anything of it is released (see SetReleaseHook).
var releaseHook atomic.Pointer[func(*FileDescription)]

// SetReleaseHook installs fn to be called when the last reference to any
// FileDescription goes, before its flock(2) locks and its FileImpl are
// released, like Linux's eventpoll_release in __fput: sentry/fs/epoll
// installs its FileReleased from init so that epoll instances drop their
// watches on a file that is released. There is one hook; nil removes it.
// fn runs on the goroutine of the last DecRef, which may hold the locks of
// whoever dropped that reference (an FD table's, ...), so it must not call
// back into them; it must not take references on fd.
func SetReleaseHook(fn func(*FileDescription)) {
	if fn == nil {
		releaseHook.Store(nil)
		return
	}
	releaseHook.Store(&fn)
}

// IncRef takes a reference.
func (fd *FileDescription) IncRef() { fd.refs.Add(1) }

// DecRef drops a reference; the last one calls the release hook (epoll
// drops its watches on fd), then releases flock(2) locks and the FileImpl.
func (fd *FileDescription) DecRef() {
	switch n := fd.refs.Add(-1); {
	case n == 0:
		if h := releaseHook.Load(); h != nil {
			(*h)(fd)
		}
		releaseFlock(fd)
		releaseOFDLocks(fd)
		if fd.countedWriter {
			addWriter(fd.inode, -1)
		}
		if fd.vd.Ok() && fd.v != nil {
			fd.v.closed(fd)
		}
		fd.impl.Release()
		if fd.vd.Ok() {
			fd.vd.DecRef()
		}
	case n < 0:
		panic("vfs: FileDescription over-released")
	}
}

// Impl returns the filesystem's part of the file (for type assertions by
// e.g. epoll, or by the socket layer to recognize its own files).
func (fd *FileDescription) Impl() FileImpl { return fd.impl }

// Inode returns the file's inode.
func (fd *FileDescription) Inode() Inode { return fd.inode }

// VirtualDentry returns where the file was opened: zero for anonymous
// files, a dentry of the hidden mount of AnonymousDentry for an anonymous
// file reopened through /proc/<pid>/fd/N.
func (fd *FileDescription) VirtualDentry() VirtualDentry { return fd.vd }

// IsDir reports whether fd is an open directory.
func (fd *FileDescription) IsDir() bool { return fd.dir != nil }

// IsPath reports whether fd was opened with O_PATH.
func (fd *FileDescription) IsPath() bool { return fd.flags.Load()&unix.O_PATH != 0 }

// IsReadable reports whether fd was opened for reading.
func (fd *FileDescription) IsReadable() bool {
	f := fd.flags.Load()
	return f&unix.O_PATH == 0 && (f&unix.O_ACCMODE == unix.O_RDONLY || f&unix.O_ACCMODE == unix.O_RDWR)
}

// IsWritable reports whether fd was opened for writing.
func (fd *FileDescription) IsWritable() bool {
	f := fd.flags.Load()
	return f&unix.O_PATH == 0 && (f&unix.O_ACCMODE == unix.O_WRONLY || f&unix.O_ACCMODE == unix.O_RDWR)
}

// StatusFlags returns the flags F_GETFL reports: access mode, status flags
// and O_LARGEFILE.
func (fd *FileDescription) StatusFlags() uint32 {
	f := fd.flags.Load()
	if f&unix.O_PATH != 0 {
		return f
	}
	return f | OLargeFile
}

// SetStatusFlags implements F_SETFL: only O_APPEND, O_NONBLOCK, O_ASYNC,
// O_DIRECT and O_NOATIME change; other bits are ignored.
func (fd *FileDescription) SetStatusFlags(flags uint32) {
	for {
		old := fd.flags.Load()
		nf := old&^settableFlags | flags&settableFlags
		if fd.flags.CompareAndSwap(old, nf) {
			return
		}
	}
}

// SetNonblocking sets or clears O_NONBLOCK (FIONBIO).
func (fd *FileDescription) SetNonblocking(nb bool) {
	f := fd.flags.Load() & settableFlags &^ unix.O_NONBLOCK
	if nb {
		f |= unix.O_NONBLOCK
	}
	fd.SetStatusFlags(f)
}

func (fd *FileDescription) nonblock() bool { return fd.flags.Load()&unix.O_NONBLOCK != 0 }

// Seekable reports whether the file has a position (PRead/PWrite allowed).
func (fd *FileDescription) Seekable() bool { return fd.seekable }

// Read reads at the file position (advancing it), or from the stream.
func (fd *FileDescription) Read(ctx Context, dst []byte) (int, error) {
	if !fd.IsReadable() {
		return 0, unix.EBADF
	}
	if !fd.seekable {
		n, err := fd.impl.Read(ctx, dst, -1, fd.nonblock())
		fd.event(n, InAccess)
		return n, err
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.impl.Read(ctx, dst, fd.off, fd.nonblock())
	if n > 0 {
		fd.off += int64(n)
	}
	fd.event(n, InAccess)
	return n, err
}

// event reports an inotify event on the file after n bytes of I/O.
func (fd *FileDescription) event(n int, mask uint32) {
	if n > 0 && fd.v != nil && fd.vd.Ok() && fd.v.watching() {
		fd.v.inodeEvent(fd.vd.Dentry, mask)
	}
}

// PRead reads at off without using the position (pread64).
func (fd *FileDescription) PRead(ctx Context, dst []byte, off int64) (int, error) {
	if !fd.IsReadable() {
		return 0, unix.EBADF
	}
	if fd.dir != nil {
		return 0, unix.EISDIR
	}
	if !fd.seekable {
		return 0, unix.ESPIPE
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := fd.impl.Read(ctx, dst, off, fd.nonblock())
	fd.event(n, InAccess)
	return n, err
}

// Write writes at the file position (advancing it), at the end of file for
// O_APPEND, or to the stream.
func (fd *FileDescription) Write(ctx Context, src []byte) (int, error) {
	if !fd.IsWritable() {
		return 0, unix.EBADF
	}
	if !fd.seekable {
		n, err := fd.impl.Write(ctx, src, -1, fd.nonblock())
		fd.event(n, InModify)
		return n, err
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	if fd.flags.Load()&unix.O_APPEND != 0 {
		n, end, err := fd.appendWrite(ctx, src)
		if n > 0 || err == nil {
			fd.off = end
		}
		fd.event(n, InModify)
		return n, err
	}
	lim, err := fd.limitWrite(ctx, fd.off, len(src)) // RLIMIT_FSIZE (fsize.go)
	if err != nil {
		return 0, err
	}
	n, err := fd.impl.Write(ctx, src[:lim], fd.off, fd.nonblock())
	if n > 0 {
		fd.off += int64(n)
	}
	fd.event(n, InModify)
	return n, err
}

func (fd *FileDescription) appendWrite(ctx Context, src []byte) (int, int64, error) {
	if _, ok := fileSizeLimit(ctx); ok {
		// RLIMIT_FSIZE (fsize.go) at the current end of file.
		if st, err := fd.inode.Stat(ctx); err == nil {
			lim, err := fd.limitWrite(ctx, st.Size, len(src))
			if err != nil {
				return 0, st.Size, err
			}
			src = src[:lim]
		}
	}
	if aw, ok := fd.impl.(AppendWriter); ok {
		return aw.Append(ctx, src, fd.nonblock())
	}
	st, err := fd.inode.Stat(ctx)
	if err != nil {
		return 0, 0, err
	}
	n, err := fd.impl.Write(ctx, src, st.Size, fd.nonblock())
	return n, st.Size + int64(n), err
}

// PWrite writes at off without using the position (pwrite64). Like Linux,
// a file opened with O_APPEND appends regardless of off.
func (fd *FileDescription) PWrite(ctx Context, src []byte, off int64) (int, error) {
	if !fd.IsWritable() {
		return 0, unix.EBADF
	}
	if !fd.seekable {
		return 0, unix.ESPIPE
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	if fd.flags.Load()&unix.O_APPEND != 0 {
		n, _, err := fd.appendWrite(ctx, src)
		fd.event(n, InModify)
		return n, err
	}
	lim, err := fd.limitWrite(ctx, off, len(src)) // RLIMIT_FSIZE (fsize.go)
	if err != nil {
		return 0, err
	}
	n, err := fd.impl.Write(ctx, src[:lim], off, fd.nonblock())
	fd.event(n, InModify)
	return n, err
}

// Seek implements lseek(2).
func (fd *FileDescription) Seek(ctx Context, off int64, whence int) (int64, error) {
	if fd.IsPath() {
		return 0, unix.EBADF
	}
	if fd.seeker != nil {
		return fd.seeker.Seek(ctx, off, whence)
	}
	if !fd.seekable {
		return 0, unix.ESPIPE
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	var n int64
	switch whence {
	case unix.SEEK_SET:
		n = off
	case unix.SEEK_CUR:
		n = fd.off + off
	case unix.SEEK_END, unix.SEEK_DATA, unix.SEEK_HOLE:
		if fd.dir != nil {
			return 0, unix.EINVAL
		}
		st, err := fd.inode.Stat(ctx)
		if err != nil {
			return 0, err
		}
		switch whence {
		case unix.SEEK_END:
			n = st.Size + off
		case unix.SEEK_DATA:
			if off < 0 {
				return 0, unix.EINVAL
			}
			if off >= st.Size {
				return 0, unix.ENXIO
			}
			n = off
		case unix.SEEK_HOLE:
			if off < 0 {
				return 0, unix.EINVAL
			}
			if off >= st.Size {
				return 0, unix.ENXIO
			}
			n = st.Size
		}
	default:
		return 0, unix.EINVAL
	}
	if n < 0 {
		return 0, unix.EINVAL
	}
	if (whence == unix.SEEK_CUR && off > 0 && n < fd.off) || (whence == unix.SEEK_END && off > 0 && n < 0) {
		return 0, unix.EOVERFLOW
	}
	if fd.dir != nil && n != fd.off {
		fd.dir.seeked(n)
	}
	fd.off = n
	return n, nil
}

// Offset returns the current file position (for /proc/self/fdinfo).
func (fd *FileDescription) Offset() int64 {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	return fd.off
}

// Stat returns the file's attributes (fstat).
func (fd *FileDescription) Stat(ctx Context) (Stat, error) {
	return fd.inode.Stat(ctx)
}

// SetStat changes the file's attributes (fchmod, fchown, futimens,
// ftruncate by size) with the same permission rules as the path-based
// VirtualFilesystem.SetStat.
func (fd *FileDescription) SetStat(ctx Context, s SetStat) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	ro := fd.vd.Ok() && fd.vd.Mount.ReadOnly()
	if err := setStat(ctx, fd.inode, ro, s); err != nil {
		return err
	}
	if fd.v != nil && fd.vd.Ok() {
		fd.v.inodeEvent(fd.vd.Dentry, setStatEvents(s))
	}
	return nil
}

// Truncate implements ftruncate(2).
func (fd *FileDescription) Truncate(ctx Context, size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	if !fd.IsWritable() {
		if fd.IsPath() {
			return unix.EBADF
		}
		return unix.EINVAL
	}
	if fd.dir != nil {
		return unix.EINVAL
	}
	if fd.vd.Ok() && fd.vd.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := limitTruncate(ctx, fd.inode, size); err != nil { // RLIMIT_FSIZE
		return err
	}
	if err := fd.truncate(ctx, size); err != nil {
		return err
	}
	fd.event(1, InModify)
	return nil
}

func (fd *FileDescription) truncate(ctx Context, size int64) error {
	if t, ok := fd.impl.(Truncater); ok {
		return t.Truncate(ctx, size)
	}
	st, err := fd.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return unix.EINVAL
	}
	return fd.inode.SetStat(ctx, SetStat{Valid: AttrSize, Size: size})
}

// Allocate implements fallocate(2).
func (fd *FileDescription) Allocate(ctx Context, mode uint32, off, length int64) error {
	if off < 0 || length <= 0 {
		return unix.EINVAL
	}
	if !fd.IsWritable() {
		return unix.EBADF
	}
	if fd.dir != nil {
		return unix.EISDIR
	}
	if fd.vd.Ok() && fd.vd.Mount.ReadOnly() {
		return unix.EROFS
	}
	a, ok := fd.impl.(Allocator)
	if !ok {
		if fd.seekable {
			return unix.EOPNOTSUPP
		}
		return unix.ESPIPE
	}
	const keepSize, punchHole = 1, 2 // FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
	if mode&(keepSize|punchHole) == 0 {
		if err := limitTruncate(ctx, fd.inode, off+length); err != nil { // RLIMIT_FSIZE
			return err
		}
	}
	if err := a.Allocate(ctx, mode, off, length); err != nil {
		return err
	}
	fd.event(1, InModify)
	return nil
}

// Sync implements fsync(2) and fdatasync(2).
func (fd *FileDescription) Sync(ctx Context) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	if s, ok := fd.impl.(Syncer); ok {
		return s.Sync()
	}
	if s, ok := fd.inode.(InodeSyncer); ok {
		return s.SyncInode(ctx)
	}
	return nil
}

// Ioctl passes an ioctl to the FileImpl (the syscall layer handles
// FIONBIO, FIOCLEX, FIONCLEX and FIOASYNC itself).
func (fd *FileDescription) Ioctl(ctx Context, io UserMemory, cmd uint32, arg uint64) (uint64, error) {
	if fd.IsPath() {
		return 0, unix.EBADF
	}
	return fd.impl.Ioctl(ctx, io, cmd, arg)
}

// Mappable returns what mmap maps for this file; ENODEV if the file
// cannot be mapped. The caller checks access (EACCES for a shared writable
// mapping of a file not open for writing).
func (fd *FileDescription) Mappable() (mm.Mappable, error) {
	if fd.IsPath() {
		return nil, unix.EBADF
	}
	if m, ok := fd.impl.(Mapper); ok {
		if mp := m.Mappable(); mp != nil {
			return mp, nil
		}
	}
	return nil, unix.ENODEV
}

// Readiness implements waiter.Waitable (poll, select, epoll).
func (fd *FileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	if fd.IsPath() {
		return waiter.EventHUp & mask
	}
	return fd.impl.Readiness(mask)
}

// EventRegister implements waiter.Waitable.
func (fd *FileDescription) EventRegister(e *waiter.Entry) { fd.impl.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (fd *FileDescription) EventUnregister(e *waiter.Entry) { fd.impl.EventUnregister(e) }

// PathName returns the path /proc/self/fd shows for fd: the absolute path
// (with " (deleted)" for unlinked files) or the anonymous name.
func (fd *FileDescription) PathName() string {
	if !fd.vd.Ok() || fd.v == nil {
		return fd.name
	}
	return fd.v.PathName(fd.vd)
}

// PathNameFrom is PathName relative to a task's root.
func (fd *FileDescription) PathNameFrom(root VirtualDentry) string {
	if !fd.vd.Ok() || fd.v == nil {
		return fd.name
	}
	return fd.v.PathNameFrom(root, fd.vd)
}

var _ waiter.Waitable = (*FileDescription)(nil)
