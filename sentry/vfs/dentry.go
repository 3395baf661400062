package vfs

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Dentry is a name in the VFS's cache of the directory tree: one Inode
// reached through one (parent, name) pair. The VFS creates dentries as paths
// are walked. A dentry is reference counted (see dcache.go): open files,
// working and root directories, mounts, children and path walks in progress
// hold references; a dentry nothing refers to stays cached on an LRU list
// and is evicted when the list grows past its bound (the filesystem's Inode,
// and what it holds such as a gofer FID, is then let go). Unlinked or
// renamed-over dentries are dropped from their parent and marked dead, but
// survive as long as something refers to them.
//
// Inodes must be comparable with == (use pointer types): the VFS compares
// them for DynamicDirectory revalidation, hard link checks and locks.
type Dentry struct {
	inode Inode
	ftype uint32 // S_IFMT bits, cached at creation (a file's type never changes)
	v     *VirtualFilesystem

	// parent and name are protected by VirtualFilesystem.nameMu. The
	// root of a filesystem has parent nil. A dentry holds a reference on
	// its parent for as long as it exists.
	parent *Dentry
	name   string

	// dirMu serializes the lookups that miss the cache and every
	// namespace change in this directory, and protects children.
	dirMu    sync.Mutex
	children map[string]*Dentry

	dead      atomic.Bool  // unlinked, rmdir'ed, replaced by a rename or evicted
	uncached  atomic.Bool  // CacheTracker.Uncached was called
	mounts    atomic.Int32 // number of mounts whose mount point this is
	isRoot    bool         // the root of a filesystem (parent nil, forever)
	synthetic bool         // a VFS-made mount point the filesystem doesn't know
	tmpfile   bool         // an O_TMPFILE file that linkat may give a name
	opens     atomic.Int32 // open file descriptions of this dentry (for IN_DELETE_SELF)

	// lookupOp is the path operation whose lookup made the dentry (see
	// LookupStater); set before the dentry is published.
	lookupOp uint64

	// refs counts the references (see dcache.go).
	refs atomic.Int64
	// The LRU links and state, protected by VirtualFilesystem.lruMu.
	lruPrev, lruNext *Dentry
	inLRU            bool
	destroyed        bool
}

// CacheTracker is implemented by inodes that hold resources (such as a
// gofer FID) only while the dentry cache names them: Cached is called for
// each dentry made for the inode, Uncached when that dentry is dropped
// (unlinked, renamed over, found stale, evicted). Open files keep their own
// hold.
type CacheTracker interface {
	Cached()
	Uncached()
}

// CachePinner is implemented by inodes that must stay in the dentry cache
// even when no reference is left, while PinCache reports true: a gofer file
// whose pages are mapped (a new Inode for it would have a new, incoherent
// page cache).
type CachePinner interface {
	PinCache() bool
}

// newDentry returns a dentry with one reference, owned by the caller. It
// takes a reference on parent (which the caller must hold one on).
func (v *VirtualFilesystem) newDentry(parent *Dentry, name string, inode Inode, ftype uint32) *Dentry {
	if ct, ok := inode.(CacheTracker); ok {
		ct.Cached()
	}
	d := &Dentry{inode: inode, ftype: ftype, v: v, parent: parent, name: name, isRoot: parent == nil}
	d.refs.Store(1)
	if parent != nil {
		parent.IncRef()
	}
	return d
}

// Inode returns the dentry's inode.
func (d *Dentry) Inode() Inode { return d.inode }

// FileType returns the S_IFMT bits of the dentry's inode.
func (d *Dentry) FileType() uint32 { return d.ftype }

// IsDir reports whether d is a directory.
func (d *Dentry) IsDir() bool { return d.ftype == unix.S_IFDIR }

// IsSymlink reports whether d is a symbolic link.
func (d *Dentry) IsSymlink() bool { return d.ftype == unix.S_IFLNK }

// IsDead reports whether d has been unlinked, removed or renamed over.
func (d *Dentry) IsDead() bool { return d.dead.Load() }

// fileType finds the type bits of inode.
func fileType(ctx Context, inode Inode) (uint32, error) {
	if t, ok := inode.(TypeReporter); ok {
		return t.FileType() & unix.S_IFMT, nil
	}
	st, err := inode.Stat(ctx)
	if err != nil {
		return 0, err
	}
	return st.Mode & unix.S_IFMT, nil
}

// isDynamic reports whether dir's entries must be revalidated on each walk.
func isDynamic(dir Inode) bool {
	dd, ok := dir.(DynamicDirectory)
	return ok && dd.DynamicLookup()
}

// LookupStater is implemented by inodes that know their attributes from
// the lookup that made them (a gofer walk returns them). When a path
// operation's own lookup made the dentry it then stats, the VFS takes
// them instead of asking again: they are as fresh as the operation.
type LookupStater interface {
	// TakeLookupStat returns the attributes of the lookup, once.
	TakeLookupStat() (Stat, bool)
}

// lookupChildLocked returns the dentry of parent's child name, from the
// cache or through Inode.Lookup, with a reference the caller owns.
// parent.dirMu must be held. name is a normal component (not "", "." or
// "..").
func (v *VirtualFilesystem) lookupChildLocked(ctx Context, parent *Dentry, name string) (*Dentry, error) {
	return v.lookupChildOp(ctx, parent, name, 0)
}

// lookupChildOp is lookupChildLocked for path operation op (0: none), which
// a dentry made by Inode.Lookup records.
func (v *VirtualFilesystem) lookupChildOp(ctx Context, parent *Dentry, name string, op uint64) (*Dentry, error) {
	if parent.dead.Load() {
		return nil, unix.ENOENT
	}
	c := parent.children[name]
	if c != nil && (c.synthetic || !isDynamic(parent.inode)) {
		c.IncRef()
		return c, nil
	}
	inode, err := parent.inode.Lookup(ctx, name)
	if err != nil {
		if c != nil && err == unix.ENOENT && c.mounts.Load() == 0 {
			v.dropChildLocked(parent, name, c)
		}
		return nil, err
	}
	if c != nil && sameInode(c.inode, inode) {
		// The fresh inode is not kept: let it release what it holds.
		if ct, ok := inode.(CacheTracker); ok && inode != c.inode {
			ct.Cached()
			ct.Uncached()
		}
		c.IncRef()
		return c, nil
	}
	ftype, err := fileType(ctx, inode)
	if err != nil {
		return nil, err
	}
	d := v.newDentry(parent, name, inode, ftype)
	d.lookupOp = op
	if c != nil {
		v.dropChildLocked(parent, name, c)
	}
	v.addChildLocked(parent, name, d)
	return d, nil
}

// lookupChild is lookupChildOp taking parent.dirMu.
func (v *VirtualFilesystem) lookupChild(ctx Context, parent *Dentry, name string, op uint64) (*Dentry, error) {
	parent.dirMu.Lock()
	defer parent.dirMu.Unlock()
	return v.lookupChildOp(ctx, parent, name, op)
}

// addChildLocked caches d as parent's child name (parent.dirMu held).
func (v *VirtualFilesystem) addChildLocked(parent *Dentry, name string, d *Dentry) {
	if parent.children == nil {
		parent.children = make(map[string]*Dentry)
	}
	parent.children[name] = d
}

// dropChildLocked removes d from parent's cache and marks it dead
// (parent.dirMu held). A dentry nothing refers to is destroyed by the
// cache (dcache.go).
func (v *VirtualFilesystem) dropChildLocked(parent *Dentry, name string, d *Dentry) {
	if parent.children[name] == d {
		delete(parent.children, name)
	}
	d.dead.Store(true)
	d.release()
	if d.refs.Load() == 0 {
		// Unused (on the LRU list or pinned off it): nothing will drop
		// a reference to destroy it.
		v.dentryUnused(d)
	}
}

// release tells d's inode that d no longer names it (once).
func (d *Dentry) release() {
	if !d.uncached.Swap(true) {
		if ct, ok := d.inode.(CacheTracker); ok {
			ct.Uncached()
		}
	}
}

// newChildLocked caches a freshly created inode as parent's child name; the
// new dentry's reference is the caller's.
func (v *VirtualFilesystem) newChildLocked(ctx Context, parent *Dentry, name string, inode Inode) (*Dentry, error) {
	ftype, err := fileType(ctx, inode)
	if err != nil {
		return nil, err
	}
	d := v.newDentry(parent, name, inode, ftype)
	if old := parent.children[name]; old != nil {
		v.dropChildLocked(parent, name, old)
	}
	v.addChildLocked(parent, name, d)
	return d, nil
}

// childLocked reports parent's child name (parent.dirMu held), consulting
// the filesystem on a cache miss: nil without error if there is none, else
// with a reference the caller owns.
func (v *VirtualFilesystem) childLocked(ctx Context, parent *Dentry, name string) (*Dentry, error) {
	d, err := v.lookupChildLocked(ctx, parent, name)
	if err == unix.ENOENT {
		return nil, nil
	}
	return d, err
}

// sameInode compares inodes, treating non-comparable dynamic types as
// different instead of panicking.
func sameInode(a, b Inode) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}
