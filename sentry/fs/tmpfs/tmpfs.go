// Package tmpfs is the Sentry's in-memory filesystem: directories, regular
// files whose data lives in the memory file (an mm.PageCache without a
// backing store, which is also what mmap maps), symlinks, hard links, FIFOs
// (through vfs.NewFIFO), device nodes (opened through vfs.OpenCharDevice)
// and socket nodes (which cannot be opened: ENXIO).
//
// Unlinked files keep their data while they are open; the pages are freed
// at the last close, or, if the file was ever mmap'ed, when the garbage
// collector finds the file unreachable from both the tree and every
// mapping.
//
// Permission checks and umask are the VFS's job; tmpfs only stores modes
// and ownership (new files are owned by ctx.FSUID and ctx.FSGID, or the
// directory's group when it has S_ISGID).
//
// Also: extended attributes in memory (xattr.go), O_TMPFILE files
// (Tmpfile), and memfd seals (seals.go).
package tmpfs

import (
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// maxFileSize bounds file sizes (EFBIG beyond), well below what the memory
// file can hold anyway.
const maxFileSize = math.MaxInt64 / 2

// bogoDirentSize is the st_size contribution of one directory entry, as
// Linux's tmpfs reports.
const bogoDirentSize = 20

// shortSymlinkLen is Linux's SHORT_SYMLINK_LEN: longer symlink targets
// (counting the NUL) take a data page.
const shortSymlinkLen = 128

// blocksPerPage is st_blocks (512-byte units) per page.
const blocksPerPage = memfile.PageSize / 512

// Options configure a new filesystem.
type Options struct {
	// Mode is the root directory's permission bits (default 01777 when
	// zero; use RootModeSet to force 0).
	Mode uint32
	// UID and GID own the root directory.
	UID, GID uint32
	// MaxSize bounds the file data (size=), in bytes rounded up to
	// pages; 0 means no limit. As in Linux, only allocated pages count:
	// holes, and truncating a file up, cost nothing.
	MaxSize int64
	// MaxInodes bounds the number of inodes (nr_inodes=), the root
	// included; each extra hard link takes one too, as in Linux. 0 means
	// no limit.
	MaxInodes uint64
}

// Filesystem is one tmpfs instance.
type Filesystem struct {
	mf      *memfile.File
	dev     uint64
	nextIno atomic.Uint64
	// pages counts (and bounds) the data pages of every file.
	pages  *mm.PageQuota
	inodes *inodeQuota
	// mu protects the namespace: directory entries, link counts and
	// directory parent pointers. Lock order: mu before inode.mu.
	mu   sync.Mutex
	root *inode
}

// New returns a new, empty tmpfs whose files keep their data in mf.
func New(mf *memfile.File, opts Options) *Filesystem {
	fs := &Filesystem{mf: mf, dev: vfs.NewAnonDev(),
		pages:  mm.NewPageQuota((max(opts.MaxSize, 0) + memfile.PageSize - 1) / memfile.PageSize),
		inodes: &inodeQuota{max: opts.MaxInodes},
	}
	mode := opts.Mode
	if mode == 0 {
		mode = 0o1777
	}
	fs.inodes.used.Store(1) // the root's, even if MaxInodes is 1
	fs.root = fs.newInode(unix.S_IFDIR|mode&0o7777, opts.UID, opts.GID)
	fs.root.nlink = 2
	fs.root.entries = make(map[string]*inode)
	return fs
}

// Root returns the root directory, to mount.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Dev returns the filesystem's device number (st_dev).
func (fs *Filesystem) Dev() uint64 { return fs.dev }

// inodeQuota counts the inode slots in use (nr_inodes=).
type inodeQuota struct {
	max  uint64 // 0: no limit
	used atomic.Uint64
}

// reserve takes a slot, or fails with ENOSPC.
func (q *inodeQuota) reserve() error {
	for {
		u := q.used.Load()
		if q.max > 0 && u >= q.max {
			return unix.ENOSPC
		}
		if q.used.CompareAndSwap(u, u+1) {
			return nil
		}
	}
}

func (q *inodeQuota) release() { q.used.Add(^uint64(0)) }

type inode struct {
	fs    *Filesystem
	ino   uint64
	ftype uint32 // S_IFMT bits, immutable

	// mu protects the attributes below and the file data size changes.
	mu        sync.Mutex
	mode      uint32
	uid, gid  uint32
	nlink     uint32 // also written under fs.mu
	rdev      uint64
	atime     unix.Timespec
	mtime     unix.Timespec
	ctime     unix.Timespec
	opens     int  // open regular file descriptions
	mapped    bool // Mappable was handed out
	dataFreed bool
	data      *fileData         // regular files
	entries   map[string]*inode // directories (fs.mu)
	parent    *inode            // directories (fs.mu)
	target    string            // symlinks
	// targetPage says the target takes a data page, as a long one
	// does in Linux's tmpfs (counted in the filesystem's size).
	targetPage bool
	fifo       vfs.FIFO // FIFOs
	xattrs     vfs.XattrStore
	// seals are the memfd seals (seals.go); only a memfd made with
	// MFD_ALLOW_SEALING is sealable, the rest reads as F_SEAL_SEAL.
	seals    uint32
	sealable bool
	// linkable is an O_TMPFILE file (without O_EXCL) not linked yet:
	// linkat may give it a name (Linux's I_LINKABLE).
	linkable bool
}

// fileData is a regular file's contents. size is separately allocated so
// the page cache's Size closure does not keep the mappable wrapper alive
// (see mappable).
type fileData struct {
	size  *atomic.Int64
	cache *mm.PageCache
	m     *mappable
}

// mappable is what mmap gets: when it and the inode are unreachable, a
// cleanup frees the cached pages (mappings hold their own references)
// and the inode's slot.
type mappable struct{ pc *mm.PageCache }

// evictee is what that cleanup frees.
type evictee struct {
	pc     *mm.PageCache
	inodes *inodeQuota
}

// TranslatePage implements mm.Mappable.
func (m *mappable) TranslatePage(off int64) (int64, error) { return m.pc.TranslatePage(off) }

func (fs *Filesystem) newInode(mode, uid, gid uint32) *inode {
	now := vfs.NowTimespec()
	i := &inode{fs: fs, ino: fs.nextIno.Add(1), ftype: mode & unix.S_IFMT, mode: mode, uid: uid, gid: gid, nlink: 1,
		atime: now, mtime: now, ctime: now}
	if mode&unix.S_IFMT == unix.S_IFREG {
		size := new(atomic.Int64)
		i.data = &fileData{size: size, cache: &mm.PageCache{MF: fs.mf, Size: size.Load, Quota: fs.pages}}
	}
	return i
}

// newChild creates an inode owned by the caller for a new entry of dir,
// or fails with ENOSPC when the filesystem is out of inodes.
func (dir *inode) newChild(ctx vfs.Context, mode uint32) (*inode, error) {
	if err := dir.fs.inodes.reserve(); err != nil {
		return nil, err
	}
	gid := ctx.FSGID()
	dir.mu.Lock()
	if dir.mode&unix.S_ISGID != 0 {
		gid = dir.gid
		if mode&unix.S_IFMT == unix.S_IFDIR {
			mode |= unix.S_ISGID
		}
	}
	dir.mu.Unlock()
	return dir.fs.newInode(mode, ctx.FSUID(), gid), nil
}

func (i *inode) isDir() bool { return i.ftype == unix.S_IFDIR }

// FileType implements vfs.TypeReporter.
func (i *inode) FileType() uint32 { return i.ftype }

// Stat implements vfs.Inode.
func (i *inode) Stat(vfs.Context) (vfs.Stat, error) {
	if i.isDir() {
		// Directory size depends on the entries (fs.mu).
		i.fs.mu.Lock()
		defer i.fs.mu.Unlock()
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	st := vfs.Stat{
		Dev: i.fs.dev, Ino: i.ino, Mode: i.mode, Nlink: i.nlink, UID: i.uid, GID: i.gid,
		Rdev: i.rdev, Blksize: memfile.PageSize, Atime: i.atime, Mtime: i.mtime, Ctime: i.ctime,
	}
	switch i.ftype {
	case unix.S_IFREG:
		st.Size = i.data.size.Load()
		st.Blocks = i.data.cache.CachedPages() * blocksPerPage
	case unix.S_IFDIR:
		st.Size = int64(len(i.entries)+2) * bogoDirentSize
	case unix.S_IFLNK:
		st.Size = int64(len(i.target))
		if i.targetPage {
			st.Blocks = blocksPerPage
		}
	}
	return st, nil
}

// SetStat implements vfs.Inode.
func (i *inode) SetStat(ctx vfs.Context, s vfs.SetStat) error {
	if s.Valid&vfs.AttrSize != 0 {
		switch i.ftype {
		case unix.S_IFREG:
			if err := i.truncate(s.Size); err != nil {
				return err
			}
		case unix.S_IFDIR:
			return unix.EISDIR
		default:
			return unix.EINVAL
		}
	}
	if s.Valid&^vfs.AttrSize == 0 {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if s.Valid&vfs.AttrMode != 0 && i.seals&unix.F_SEAL_EXEC != 0 && (i.mode^s.Mode)&0o111 != 0 {
		return unix.EPERM
	}
	st := vfs.Stat{Mode: i.mode, UID: i.uid, GID: i.gid, Atime: i.atime, Mtime: i.mtime}
	vfs.ApplySetStat(&st, s)
	i.mode, i.uid, i.gid, i.atime, i.mtime, i.ctime = st.Mode, st.UID, st.GID, st.Atime, st.Mtime, st.Ctime
	return nil
}

// truncate sets a regular file's size.
func (i *inode) truncate(size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	if size > maxFileSize {
		return unix.EFBIG
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	old := i.data.size.Load()
	if err := i.checkResizeLocked(old, size); err != nil {
		return err
	}
	if size < old {
		i.data.size.Store(size)
		i.data.cache.Truncate(size)
	} else if size > old {
		// Growing allocates nothing (the new range is a hole), but the
		// tail of the old last page may hold bytes written past end of
		// file through a mapping.
		i.data.cache.ZeroTail(old)
		i.data.size.Store(size)
	}
	if size != old {
		now := vfs.NowTimespec()
		i.mtime, i.ctime = now, now
	}
	return nil
}

// maybeFreeLocked frees the data and the inode slot of an unlinked,
// closed, unmapped file (i.mu held).
func (i *inode) maybeFreeLocked() {
	if i.data == nil || i.nlink != 0 || i.opens != 0 || i.dataFreed {
		return
	}
	if i.mapped {
		return // freed by the mappable's cleanup
	}
	i.dataFreed = true
	i.data.cache.Release()
	i.fs.inodes.release()
}

// evictLocked gives back what a non-regular inode holds once its last
// link is gone (i.mu held): Linux frees it when the last reference goes,
// which for these is the last link as far as the quotas can tell.
func (i *inode) evictLocked() {
	if i.targetPage {
		i.targetPage = false
		i.fs.pages.Uncharge(1)
	}
	i.fs.inodes.release()
}

// Open implements vfs.Inode.
func (i *inode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	switch i.ftype {
	case unix.S_IFREG:
		if flags&unix.O_TRUNC != 0 && flags&unix.O_ACCMODE != unix.O_RDONLY {
			if err := i.truncate(0); err != nil {
				return nil, err
			}
		}
		return i.openReg(), nil
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	case unix.S_IFLNK:
		return nil, unix.ELOOP
	case unix.S_IFCHR:
		return vfs.OpenCharDevice(ctx, i.rdev, flags)
	case unix.S_IFIFO:
		return i.fifo.Open(ctx, flags)
	default:
		return nil, unix.ENXIO
	}
}

func (i *inode) openReg() *regFile {
	i.mu.Lock()
	i.opens++
	i.mu.Unlock()
	return &regFile{i: i}
}

// Lookup implements vfs.Inode.
func (i *inode) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if !i.isDir() {
		return nil, unix.ENOTDIR
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if c := i.entries[name]; c != nil {
		return c, nil
	}
	return nil, unix.ENOENT
}

// checkNewEntry validates a new name in dir (fs.mu held).
func (i *inode) checkNewEntryLocked(name string) error {
	if !i.isDir() {
		return unix.ENOTDIR
	}
	if i.nlink == 0 {
		return unix.ENOENT
	}
	if len(name) > vfs.NameMax {
		return unix.ENAMETOOLONG
	}
	if _, ok := i.entries[name]; ok {
		return unix.EEXIST
	}
	return nil
}

// addEntryLocked links c as name in dir and updates times (fs.mu held).
func (i *inode) addEntryLocked(name string, c *inode) {
	i.entries[name] = c
	i.touchDir()
}

func (i *inode) touchDir() {
	now := vfs.NowTimespec()
	i.mu.Lock()
	i.mtime, i.ctime = now, now
	i.mu.Unlock()
}

// Create implements vfs.Inode.
func (i *inode) Create(ctx vfs.Context, name string, flags uint32, mode uint32) (vfs.Inode, vfs.FileImpl, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkNewEntryLocked(name); err != nil {
		return nil, nil, err
	}
	c, err := i.newChild(ctx, unix.S_IFREG|mode&0o7777)
	if err != nil {
		return nil, nil, err
	}
	i.addEntryLocked(name, c)
	return c, c.openReg(), nil
}

// Tmpfile implements vfs.TmpfileCreator (open(2) with O_TMPFILE): a
// regular file in no directory, st_nlink 0, freed when closed unless
// linkat gives it a name (only without O_EXCL).
func (i *inode) Tmpfile(ctx vfs.Context, mode, flags uint32) (vfs.Inode, vfs.FileImpl, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if !i.isDir() {
		return nil, nil, unix.ENOTDIR
	}
	if i.nlink == 0 {
		return nil, nil, unix.ENOENT
	}
	c, err := i.newChild(ctx, unix.S_IFREG|mode&0o7777)
	if err != nil {
		return nil, nil, err
	}
	c.nlink = 0
	c.linkable = flags&unix.O_EXCL == 0
	return c, c.openReg(), nil
}

// Mkdir implements vfs.Inode.
func (i *inode) Mkdir(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkNewEntryLocked(name); err != nil {
		return nil, err
	}
	c, err := i.newChild(ctx, unix.S_IFDIR|mode&0o7777)
	if err != nil {
		return nil, err
	}
	c.nlink = 2
	c.entries = make(map[string]*inode)
	c.parent = i
	i.addEntryLocked(name, c)
	i.mu.Lock()
	i.nlink++
	i.mu.Unlock()
	return c, nil
}

// Mknod implements vfs.Inode. FIFOs need a pipe implementation
// (vfs.SetFIFOFactory), else EPERM.
func (i *inode) Mknod(ctx vfs.Context, name string, mode uint32, dev uint64) (vfs.Inode, error) {
	var fifo vfs.FIFO
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFSOCK:
	case unix.S_IFIFO:
		if fifo = vfs.NewFIFO(); fifo == nil {
			return nil, unix.EPERM
		}
	default:
		return nil, unix.EINVAL
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkNewEntryLocked(name); err != nil {
		return nil, err
	}
	c, err := i.newChild(ctx, mode)
	if err != nil {
		return nil, err
	}
	c.fifo = fifo
	if t := mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
		c.rdev = dev
	}
	i.addEntryLocked(name, c)
	return c, nil
}

// Symlink implements vfs.Inode.
func (i *inode) Symlink(ctx vfs.Context, name, target string) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkNewEntryLocked(name); err != nil {
		return nil, err
	}
	if len(target) >= vfs.PathMax {
		return nil, unix.ENAMETOOLONG
	}
	// Linux keeps targets of up to shortSymlinkLen bytes (with the NUL)
	// in the inode and longer ones in a data page.
	long := len(target)+1 > shortSymlinkLen
	if long {
		if err := i.fs.pages.Charge(1); err != nil {
			return nil, err
		}
	}
	c, err := i.newChild(ctx, unix.S_IFLNK|0o777)
	if err != nil {
		if long {
			i.fs.pages.Uncharge(1)
		}
		return nil, err
	}
	c.target = target
	c.targetPage = long
	i.addEntryLocked(name, c)
	return c, nil
}

// Link implements vfs.Inode.
func (i *inode) Link(_ vfs.Context, name string, target vfs.Inode) error {
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return unix.EXDEV
	}
	if t.isDir() {
		return unix.EPERM
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkNewEntryLocked(name); err != nil {
		return err
	}
	t.mu.Lock()
	if t.nlink == 0 && !t.linkable {
		t.mu.Unlock()
		return unix.ENOENT
	}
	// Each link takes an inode slot (its dentry costs memory in Linux),
	// but an O_TMPFILE file's first name uses the slot it has.
	if t.nlink > 0 {
		if err := i.fs.inodes.reserve(); err != nil {
			t.mu.Unlock()
			return err
		}
	}
	t.linkable = false
	t.nlink++
	t.ctime = vfs.NowTimespec()
	t.mu.Unlock()
	i.addEntryLocked(name, t)
	return nil
}

// Unlink implements vfs.Inode.
func (i *inode) Unlink(_ vfs.Context, name string) error {
	if !i.isDir() {
		return unix.ENOTDIR
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	c := i.entries[name]
	if c == nil {
		return unix.ENOENT
	}
	if c.isDir() {
		return unix.EISDIR
	}
	delete(i.entries, name)
	i.touchDir()
	c.dropLink()
	return nil
}

// dropLink decrements a non-directory's link count (fs.mu held).
func (c *inode) dropLink() {
	c.mu.Lock()
	if c.nlink > 1 {
		c.fs.inodes.release() // the slot Link took
	}
	c.nlink--
	c.ctime = vfs.NowTimespec()
	if c.ftype == unix.S_IFREG {
		c.maybeFreeLocked()
	} else if c.nlink == 0 {
		c.evictLocked()
	}
	c.mu.Unlock()
}

// Rmdir implements vfs.Inode.
func (i *inode) Rmdir(_ vfs.Context, name string) error {
	if !i.isDir() {
		return unix.ENOTDIR
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	c := i.entries[name]
	if c == nil {
		return unix.ENOENT
	}
	if !c.isDir() {
		return unix.ENOTDIR
	}
	if len(c.entries) != 0 {
		return unix.ENOTEMPTY
	}
	delete(i.entries, name)
	i.touchDir()
	i.mu.Lock()
	i.nlink--
	i.mu.Unlock()
	c.mu.Lock()
	c.nlink = 0
	c.ctime = vfs.NowTimespec()
	c.evictLocked()
	c.mu.Unlock()
	c.parent = nil
	return nil
}

// Rename implements vfs.Inode.
func (i *inode) Rename(_ vfs.Context, oldName string, newDir vfs.Inode, newName string) error {
	nd, ok := newDir.(*inode)
	if !ok || nd.fs != i.fs {
		return unix.EXDEV
	}
	if !i.isDir() || !nd.isDir() {
		return unix.ENOTDIR
	}
	if len(newName) > vfs.NameMax {
		return unix.ENAMETOOLONG
	}
	fs := i.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	src := i.entries[oldName]
	if src == nil {
		return unix.ENOENT
	}
	if nd.nlink == 0 {
		return unix.ENOENT
	}
	dst := nd.entries[newName]
	if dst == src {
		return nil
	}
	if src.isDir() {
		for a := nd; a != nil; a = a.parent {
			if a == src {
				return unix.EINVAL
			}
		}
	}
	if dst != nil {
		switch {
		case src.isDir() && !dst.isDir():
			return unix.ENOTDIR
		case !src.isDir() && dst.isDir():
			return unix.EISDIR
		case dst.isDir() && len(dst.entries) != 0:
			return unix.ENOTEMPTY
		}
	}
	delete(i.entries, oldName)
	if dst != nil {
		if dst.isDir() {
			dst.mu.Lock()
			dst.nlink = 0
			dst.evictLocked()
			dst.mu.Unlock()
			dst.parent = nil
			nd.mu.Lock()
			nd.nlink--
			nd.mu.Unlock()
		} else {
			dst.dropLink()
		}
	}
	nd.entries[newName] = src
	if src.isDir() && nd != i {
		src.parent = nd
		i.mu.Lock()
		i.nlink--
		i.mu.Unlock()
		nd.mu.Lock()
		nd.nlink++
		nd.mu.Unlock()
	}
	i.touchDir()
	if nd != i {
		nd.touchDir()
	}
	src.mu.Lock()
	src.ctime = vfs.NowTimespec()
	src.mu.Unlock()
	return nil
}

// Getdents implements vfs.Inode: entries sorted by name.
func (i *inode) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	if !i.isDir() {
		return nil, unix.ENOTDIR
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	out := make([]vfs.Dirent, 0, len(i.entries))
	for name, c := range i.entries {
		out = append(out, vfs.Dirent{Name: name, Ino: c.ino, Type: uint8(c.ftype >> 12)})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// Readlink implements vfs.Inode.
func (i *inode) Readlink(vfs.Context) (string, error) {
	if i.ftype != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	i.mu.Lock()
	i.atime = vfs.NowTimespec()
	i.mu.Unlock()
	return i.target, nil
}

// StatFS implements vfs.StatFSer: the limits and what is left of them;
// without a limit, the memory file's capacity and free space, and a
// nominal inode count.
func (i *inode) StatFS(vfs.Context) (vfs.StatFS, error) {
	fs := i.fs
	const total = 1 << 36 / memfile.PageSize
	blocks, free := uint64(total), uint64(total)
	if max := fs.pages.Max(); max > 0 {
		blocks, free = uint64(max), uint64(max-min(fs.pages.Used(), max))
	} else if fs.mf != nil {
		used := uint64(fs.mf.InUse() / memfile.PageSize)
		if used < free {
			free -= used
		} else {
			free = 0
		}
	}
	files, ffree := uint64(1<<20), 1<<20-fs.nextIno.Load()%(1<<20)
	if max := fs.inodes.max; max > 0 {
		files, ffree = max, max-min(fs.inodes.used.Load(), max)
	}
	return vfs.StatFS{
		Type: vfs.TmpfsMagic, Bsize: memfile.PageSize, Blocks: blocks, Bfree: free, Bavail: free,
		Files: files, Ffree: ffree, Namelen: vfs.NameMax, Frsize: memfile.PageSize,
		Fsid: [2]int32{int32(fs.dev), int32(fs.dev >> 32)},
	}, nil
}

// mappableLocked returns the file's Mappable (i.mu held).
func (i *inode) mappableLocked() mm.Mappable {
	if i.data.m == nil {
		m := &mappable{pc: i.data.cache}
		// The cleanup's argument must not reach the mappable (the
		// filesystem would, through the tree, while the file is linked).
		runtime.AddCleanup(m, func(e evictee) {
			e.pc.Release()
			e.inodes.release()
		}, evictee{i.data.cache, i.fs.inodes})
		i.data.m = m
	}
	i.mapped = true
	return i.data.m
}

var _ vfs.Inode = (*inode)(nil)
