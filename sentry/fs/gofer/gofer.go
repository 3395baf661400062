// Package gofer is the filesystem the Sentry sees the container root
// through: every Inode is a FID of a gofer.Client, and open regular files
// are host descriptors the gofer donated, read and written directly with
// pread/pwrite (no round trip).
//
// Semantics and limits:
//
//   - Lookups walk one component (gofer.Client.Walk); a FID is an O_PATH
//     descriptor in the gofer process. The inode is a vfs.CacheTracker: it
//     clunks its FID (without waiting) once no dentry names it (unlinked,
//     renamed over, or evicted from the VFS's bounded dentry cache) and no
//     file is open on it, so a walk over any number of files holds a
//     bounded number of gofer descriptors. A file whose pages are mapped
//     stays cached (vfs.CachePinner), so its mappings share one page cache.
//   - Extended attributes are the host file's, through the gofer
//     (xattr.go).
//   - Stat always asks the gofer (or fstat's the inode's own host
//     descriptor when it has one), so attributes are never stale; the one
//     exception is a stat(2) whose own path walk looked the file up: it
//     takes the attributes the walk returned (vfs.LookupStater), which
//     saves a round trip per file in du, find or ls -l.
//   - mmap is served by a per-inode mm.PageCache filled with pread from a
//     host descriptor the inode opens read-only on first mmap. write(2)
//     updates cached pages (UpdateIfCached) and truncate drops them, so
//     mappings see writes made through file descriptors. Stores into
//     MAP_SHARED mappings are NOT written back to the host file, and
//     read(2) does not see them.
//   - Device nodes found in the tree open the Sentry's own devices
//     (vfs.OpenCharDevice); FIFOs get a Sentry pipe per inode
//     (vfs.NewFIFO); sockets give ENXIO. mknod can make regular files and
//     socket nodes (the names of unix sockets the Sentry binds: the gofer
//     makes a real socket node on the host as a marker, and the Sentry
//     finds the bound socket by the inode); others give EPERM.
//   - Host device numbers are remapped to Sentry anonymous devices so they
//     never collide with tmpfs/proc st_dev values.
//   - Options.ReadOnly makes every mutation EROFS (the gofer server
//     enforces it too); mount it with vfs.MountOptions{ReadOnly: true}.
package gofer

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Options configure the filesystem.
type Options struct {
	// ReadOnly refuses every mutation with EROFS.
	ReadOnly bool
	// Revalidate makes every walk ask the gofer again instead of
	// trusting the dentry cache (vfs.DynamicDirectory): for a host
	// directory that others change behind the Sentry's back, such as a
	// volume another container of the pod writes through its own gofer.
	// It costs a round trip per component walked.
	Revalidate bool
}

// Filesystem is a gofer-backed filesystem.
type Filesystem struct {
	c    *gofer.Client
	mf   *memfile.File
	opts Options

	devMu  sync.Mutex
	devMap map[uint64]uint64

	root *inode
}

// New returns the filesystem served by c (whose root is c.Root()). mf holds
// the page caches of mapped files.
func New(c *gofer.Client, mf *memfile.File, opts Options) (*Filesystem, error) {
	fs := &Filesystem{c: c, mf: mf, opts: opts, devMap: make(map[uint64]uint64)}
	st, err := c.Stat(c.Root())
	if err != nil {
		return nil, err
	}
	fs.root = fs.newInode(c.Root(), st)
	return fs, nil
}

// Root returns the root directory, to mount.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// errno converts client errors: server errnos pass through, transport
// failures become EIO.
func errno(err error) error {
	if err == nil {
		return nil
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if e == 0 {
			return unix.EIO
		}
		if _, bare := err.(unix.Errno); bare {
			return e
		}
	}
	return unix.EIO
}

// dev maps a host device number to a Sentry one.
func (fs *Filesystem) dev(host uint64) uint64 {
	fs.devMu.Lock()
	defer fs.devMu.Unlock()
	d, ok := fs.devMap[host]
	if !ok {
		d = vfs.NewAnonDev()
		fs.devMap[host] = d
	}
	return d
}

// DynamicLookup implements vfs.DynamicDirectory (Options.Revalidate).
func (i *inode) DynamicLookup() bool { return i.fs.opts.Revalidate && i.ftype == unix.S_IFDIR }

type inode struct {
	fs    *Filesystem
	fid   gofer.FID
	ftype uint32
	rdev  uint64

	// size is the last known size of a regular file, for the page cache.
	size atomic.Int64

	mu    sync.Mutex
	cache *mm.PageCache // created on first mmap
	mapFD int           // host descriptor filling cache (-1: none)
	// mapFDPlain says mapFD is the gofer's plain read-only open, so a
	// read-only open may dup it (openHost).
	mapFDPlain bool
	fifo       vfs.FIFO
	appendM    sync.Mutex // serializes O_APPEND writes

	// lookupStat is the attributes the walk that made the inode
	// returned, until taken (vfs.LookupStater) or stale (any Stat).
	lookupStat *gofer.Stat

	// names counts the dentries naming the inode and opens its open
	// regular files; when both are gone the FID is clunked, so the gofer
	// does not keep a descriptor per file ever seen (vfs.CacheTracker).
	names, opens int
	clunked      bool
}

// Cached implements vfs.CacheTracker.
func (i *inode) Cached() {
	i.mu.Lock()
	i.names++
	i.mu.Unlock()
}

// Uncached implements vfs.CacheTracker.
func (i *inode) Uncached() {
	i.mu.Lock()
	i.names--
	i.mu.Unlock()
	i.maybeClunk()
}

// PinCache implements vfs.CachePinner: a file whose pages are mapped
// stays cached, so that every mapping and later read shares one page
// cache.
func (i *inode) PinCache() bool {
	i.mu.Lock()
	c := i.cache
	i.mu.Unlock()
	return c != nil && c.Mapped()
}

// maybeClunk releases the FID once nothing can use it any more. The page
// cache and its host descriptor go too unless something maps them (an
// unlinked file's mappings may still fault pages in).
func (i *inode) maybeClunk() {
	i.mu.Lock()
	done := i.names <= 0 && i.opens == 0 && !i.clunked && i.fid != gofer.RootFID
	var cache *mm.PageCache
	mapFD := -1
	if done {
		i.clunked = true
		if i.cache != nil && !i.cache.Mapped() {
			cache, mapFD = i.cache, i.mapFD
			i.cache, i.mapFD, i.mapFDPlain = nil, -1, false
		}
	}
	i.mu.Unlock()
	if done {
		i.fs.c.ClunkNoWait(i.fid)
	}
	if cache != nil {
		cache.Release()
		unix.Close(mapFD)
	}
}

func (fs *Filesystem) newInode(fid gofer.FID, st gofer.Stat) *inode {
	i := &inode{fs: fs, fid: fid, ftype: st.Mode & unix.S_IFMT, rdev: st.Rdev, mapFD: -1}
	i.size.Store(st.Size)
	return i
}

func (i *inode) convert(st gofer.Stat) vfs.Stat {
	if i.ftype == unix.S_IFREG {
		i.size.Store(st.Size)
	}
	return vfs.Stat{
		Dev: i.fs.dev(st.Dev), Ino: st.Ino, Mode: st.Mode, Nlink: uint32(st.Nlink),
		UID: st.UID, GID: st.GID, Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atime: unix.Timespec{Sec: st.Atime.Sec, Nsec: st.Atime.Nsec},
		Mtime: unix.Timespec{Sec: st.Mtime.Sec, Nsec: st.Mtime.Nsec},
		Ctime: unix.Timespec{Sec: st.Ctime.Sec, Nsec: st.Ctime.Nsec},
	}
}

// FileType implements vfs.TypeReporter.
func (i *inode) FileType() uint32 { return i.ftype }

// TakeLookupStat implements vfs.LookupStater: the VFS asks for it when the
// path operation that walked to the file stats it.
func (i *inode) TakeLookupStat() (vfs.Stat, bool) {
	i.mu.Lock()
	st := i.lookupStat
	i.lookupStat = nil
	i.mu.Unlock()
	if st == nil {
		return vfs.Stat{}, false
	}
	return i.convert(*st), true
}

// Stat implements vfs.Inode.
func (i *inode) Stat(vfs.Context) (vfs.Stat, error) {
	var hs unix.Stat_t
	i.mu.Lock()
	// Under the lock: maybeClunk closes mapFD, and the number could be
	// reused by another file.
	local := i.mapFD >= 0 && unix.Fstat(i.mapFD, &hs) == nil
	i.lookupStat = nil
	i.mu.Unlock()
	if local {
		return i.convert(gofer.StatFromUnix(&hs)), nil
	}
	st, err := i.fs.c.Stat(i.fid)
	if err != nil {
		return vfs.Stat{}, errno(err)
	}
	return i.convert(st), nil
}

// SetStat implements vfs.Inode.
func (i *inode) SetStat(_ vfs.Context, s vfs.SetStat) error {
	if i.fs.opts.ReadOnly {
		return unix.EROFS
	}
	var a gofer.Attr
	if s.Valid&vfs.AttrMode != 0 {
		a.Mask |= gofer.AttrMode
		a.Mode = s.Mode & 0o7777
	}
	if s.Valid&vfs.AttrUID != 0 {
		a.Mask |= gofer.AttrUID
		a.UID = s.UID
	}
	if s.Valid&vfs.AttrGID != 0 {
		a.Mask |= gofer.AttrGID
		a.GID = s.GID
	}
	if s.Valid&vfs.AttrSize != 0 {
		if s.Size < 0 {
			return unix.EINVAL
		}
		a.Mask |= gofer.AttrSize
		a.Size = uint64(s.Size)
	}
	if s.Valid&vfs.AttrAtime != 0 {
		a.Mask |= gofer.AttrAtime
		a.Atime = gofer.Timespec{Sec: s.Atime.Sec, Nsec: s.Atime.Nsec}
	}
	if s.Valid&vfs.AttrMtime != 0 {
		a.Mask |= gofer.AttrMtime
		a.Mtime = gofer.Timespec{Sec: s.Mtime.Sec, Nsec: s.Mtime.Nsec}
	}
	if err := i.fs.c.SetAttr(i.fid, a); err != nil {
		return errno(err)
	}
	if s.Valid&vfs.AttrSize != 0 {
		i.truncated(s.Size)
	}
	return nil
}

// truncated updates the cache after the file's size was set.
func (i *inode) truncated(size int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.size.Store(size)
	if i.cache != nil {
		i.cache.Truncate(size)
	}
}

// openFlags are the open flags passed to the gofer: O_APPEND is emulated
// (so pwrite keeps its meaning) and O_NONBLOCK is the Sentry's business.
const openFlags = unix.O_ACCMODE | unix.O_TRUNC | unix.O_DSYNC | unix.O_SYNC | unix.O_NOATIME

// Open implements vfs.Inode.
func (i *inode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	switch i.ftype {
	case unix.S_IFREG:
		if i.fs.opts.ReadOnly && (flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
			return nil, unix.EROFS
		}
		fd, err := i.openHost(int(flags & openFlags))
		if err != nil {
			return nil, err
		}
		if flags&unix.O_TRUNC != 0 && flags&unix.O_ACCMODE != unix.O_RDONLY {
			i.truncated(0)
		}
		i.mu.Lock()
		i.opens++
		i.mu.Unlock()
		return &regFile{i: i, fd: fd}, nil
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	case unix.S_IFLNK:
		return nil, unix.ELOOP
	case unix.S_IFCHR:
		return vfs.OpenCharDevice(ctx, i.rdev, flags)
	case unix.S_IFIFO:
		i.mu.Lock()
		if i.fifo == nil {
			i.fifo = vfs.NewFIFO()
		}
		f := i.fifo
		i.mu.Unlock()
		if f == nil {
			return nil, unix.ENXIO
		}
		return f.Open(ctx, flags)
	default:
		return nil, unix.ENXIO
	}
}

// openHost returns a new host descriptor of the regular file, opened
// with flags. A plain read-only open of a file whose page cache has its
// descriptor dups that one instead of asking the gofer: it is read-only
// too, and the Sentry reads at explicit offsets, so the shared file
// offset is never used. Every execve opens its program so, and a gofer
// round trip costs ~140 µs here (cross-CPU wake-ups, mostly).
func (i *inode) openHost(flags int) (int, error) {
	if flags == unix.O_RDONLY {
		i.mu.Lock()
		fd, err := -1, error(unix.EBADF)
		if i.mapFD >= 0 && i.mapFDPlain {
			fd, err = unix.FcntlInt(uintptr(i.mapFD), unix.F_DUPFD_CLOEXEC, 0)
		}
		i.mu.Unlock()
		if err == nil {
			return fd, nil
		}
	}
	fd, err := i.fs.c.Open(i.fid, flags)
	if err != nil {
		return -1, errno(err)
	}
	return fd, nil
}

func (i *inode) isDir() bool { return i.ftype == unix.S_IFDIR }

// Lookup implements vfs.Inode.
func (i *inode) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if !i.isDir() {
		return nil, unix.ENOTDIR
	}
	fid, st, err := i.fs.c.Walk(i.fid, name)
	if err != nil {
		return nil, errno(err)
	}
	c := i.fs.newInode(fid, st)
	c.lookupStat = &st
	return c, nil
}

func (i *inode) checkMutation() error {
	if !i.isDir() {
		return unix.ENOTDIR
	}
	if i.fs.opts.ReadOnly {
		return unix.EROFS
	}
	return nil
}

// Create implements vfs.Inode.
func (i *inode) Create(ctx vfs.Context, name string, flags uint32, mode uint32) (vfs.Inode, vfs.FileImpl, error) {
	if err := i.checkMutation(); err != nil {
		return nil, nil, err
	}
	fid, st, fd, err := i.fs.c.Create(i.fid, name, int(flags&openFlags|unix.O_EXCL), mode&0o7777, ctx.FSUID(), ctx.FSGID())
	if err != nil {
		return nil, nil, errno(err)
	}
	c := i.fs.newInode(fid, st)
	c.opens++ // not shared yet: no lock needed
	return c, &regFile{i: c, fd: fd}, nil
}

// Mkdir implements vfs.Inode.
func (i *inode) Mkdir(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	if err := i.checkMutation(); err != nil {
		return nil, err
	}
	fid, st, err := i.fs.c.Mkdir(i.fid, name, mode&0o7777, ctx.FSUID(), ctx.FSGID())
	if err != nil {
		return nil, errno(err)
	}
	return i.fs.newInode(fid, st), nil
}

// Mknod implements vfs.Inode: regular files and socket nodes (EPERM
// otherwise).
func (i *inode) Mknod(ctx vfs.Context, name string, mode uint32, _ uint64) (vfs.Inode, error) {
	if err := i.checkMutation(); err != nil {
		return nil, err
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFSOCK:
		fid, st, err := i.fs.c.MknodSocket(i.fid, name, mode&0o777, ctx.FSUID(), ctx.FSGID())
		if err != nil {
			return nil, errno(err)
		}
		return i.fs.newInode(fid, st), nil
	default:
		return nil, unix.EPERM
	}
	fid, st, fd, err := i.fs.c.Create(i.fid, name, unix.O_RDONLY|unix.O_EXCL, mode&0o7777, ctx.FSUID(), ctx.FSGID())
	if err != nil {
		return nil, errno(err)
	}
	unix.Close(fd)
	return i.fs.newInode(fid, st), nil
}

// Symlink implements vfs.Inode.
func (i *inode) Symlink(ctx vfs.Context, name, target string) (vfs.Inode, error) {
	if err := i.checkMutation(); err != nil {
		return nil, err
	}
	fid, st, err := i.fs.c.Symlink(i.fid, name, target, ctx.FSUID(), ctx.FSGID())
	if err != nil {
		return nil, errno(err)
	}
	return i.fs.newInode(fid, st), nil
}

// Link implements vfs.Inode.
func (i *inode) Link(_ vfs.Context, name string, target vfs.Inode) error {
	if err := i.checkMutation(); err != nil {
		return err
	}
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return unix.EXDEV
	}
	return errno(i.fs.c.Link(i.fid, name, t.fid))
}

// Unlink implements vfs.Inode.
func (i *inode) Unlink(_ vfs.Context, name string) error {
	if err := i.checkMutation(); err != nil {
		return err
	}
	return errno(i.fs.c.Unlink(i.fid, name, 0))
}

// Rmdir implements vfs.Inode.
func (i *inode) Rmdir(_ vfs.Context, name string) error {
	if err := i.checkMutation(); err != nil {
		return err
	}
	return errno(i.fs.c.Unlink(i.fid, name, unix.AT_REMOVEDIR))
}

// Rename implements vfs.Inode.
func (i *inode) Rename(_ vfs.Context, oldName string, newDir vfs.Inode, newName string) error {
	if err := i.checkMutation(); err != nil {
		return err
	}
	nd, ok := newDir.(*inode)
	if !ok || nd.fs != i.fs {
		return unix.EXDEV
	}
	return errno(i.fs.c.Rename(i.fid, oldName, nd.fid, newName))
}

// Getdents implements vfs.Inode.
func (i *inode) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	if !i.isDir() {
		return nil, unix.ENOTDIR
	}
	ents, err := i.fs.c.Getdents(i.fid)
	if err != nil {
		return nil, errno(err)
	}
	out := make([]vfs.Dirent, len(ents))
	for k, e := range ents {
		out[k] = vfs.Dirent{Name: e.Name, Ino: e.Ino, Type: e.Type}
	}
	return out, nil
}

// Readlink implements vfs.Inode.
func (i *inode) Readlink(vfs.Context) (string, error) {
	if i.ftype != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	t, err := i.fs.c.Readlink(i.fid)
	return t, errno(err)
}

// StatFS implements vfs.StatFSer. The protocol has no statfs: report a
// large, mostly free filesystem.
func (i *inode) StatFS(vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{
		Type: vfs.V9fsMagic, Bsize: 4096, Blocks: 1 << 28, Bfree: 1 << 27, Bavail: 1 << 27,
		Files: 1 << 24, Ffree: 1 << 23, Namelen: vfs.NameMax, Frsize: 4096,
	}, nil
}

// mappable returns the inode's page cache, opening the host descriptor
// that fills it. fallback is a readable descriptor to dup if the gofer
// refuses a read-only open (-1 if none).
func (i *inode) mappable(fallback int) (mm.Mappable, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cache != nil {
		return i.cache, nil
	}
	fd, err := i.fs.c.Open(i.fid, unix.O_RDONLY)
	plain := err == nil
	if err != nil {
		if fallback < 0 {
			return nil, errno(err)
		}
		// The mapping file's own descriptor: maybe writable, maybe with
		// O_SYNC, so never handed to another open.
		if fd, err = unix.FcntlInt(uintptr(fallback), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return nil, errno(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		i.size.Store(st.Size)
	}
	i.mapFD, i.mapFDPlain = fd, plain
	i.cache = &mm.PageCache{
		MF:   i.fs.mf,
		Size: i.size.Load,
		Fill: func(dst []byte, off int64) (int, error) { return preadFull(fd, dst, off) },
	}
	return i.cache, nil
}

// preadFull reads as much of dst as the file has at off.
func preadFull(fd int, dst []byte, off int64) (int, error) {
	n := 0
	for n < len(dst) {
		m, err := unix.Pread(fd, dst[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

var _ vfs.Inode = (*inode)(nil)
