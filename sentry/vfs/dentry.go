package vfs

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Dentry is a name in the VFS's cache of the directory tree: one Inode
// reached through one (parent, name) pair. The VFS creates dentries as paths
// are walked and keeps them for the life of the sandbox (there is no
// eviction: a filesystem's Inodes stay referenced while their dentry is
// cached); unlinked or renamed-over dentries are dropped from their parent
// and marked dead, but survive as long as open files or working directories
// use them.
//
// Inodes must be comparable with == (use pointer types): the VFS compares
// them for DynamicDirectory revalidation, hard link checks and locks.
type Dentry struct {
	inode Inode
	ftype uint32 // S_IFMT bits, cached at creation (a file's type never changes)

	// parent and name are protected by VirtualFilesystem.nameMu. The
	// root of a filesystem has parent nil.
	parent *Dentry
	name   string

	// dirMu serializes the lookups that miss the cache and every
	// namespace change in this directory, and protects children.
	dirMu    sync.Mutex
	children map[string]*Dentry

	dead      atomic.Bool  // unlinked, rmdir'ed or replaced by a rename
	mounts    atomic.Int32 // number of mounts whose mount point this is
	synthetic bool         // a VFS-made mount point the filesystem doesn't know
}

// CacheTracker is implemented by inodes that hold resources (such as a
// gofer FID) only while the dentry cache names them: Cached is called for
// each dentry made for the inode, Uncached when that dentry is dropped
// (unlinked, renamed over, found stale). Open files keep their own hold.
type CacheTracker interface {
	Cached()
	Uncached()
}

func newDentry(parent *Dentry, name string, inode Inode, ftype uint32) *Dentry {
	if ct, ok := inode.(CacheTracker); ok {
		ct.Cached()
	}
	return &Dentry{inode: inode, ftype: ftype, parent: parent, name: name}
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

// lookupChildLocked returns the dentry of parent's child name, from the
// cache or through Inode.Lookup. parent.dirMu must be held. name is a
// normal component (not "", "." or "..").
func (v *VirtualFilesystem) lookupChildLocked(ctx Context, parent *Dentry, name string) (*Dentry, error) {
	if parent.dead.Load() {
		return nil, unix.ENOENT
	}
	c := parent.children[name]
	if c != nil && (c.synthetic || !isDynamic(parent.inode)) {
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
		return c, nil
	}
	ftype, err := fileType(ctx, inode)
	if err != nil {
		return nil, err
	}
	d := newDentry(parent, name, inode, ftype)
	if c != nil {
		v.dropChildLocked(parent, name, c)
	}
	v.addChildLocked(parent, name, d)
	return d, nil
}

// lookupChild is lookupChildLocked taking parent.dirMu.
func (v *VirtualFilesystem) lookupChild(ctx Context, parent *Dentry, name string) (*Dentry, error) {
	parent.dirMu.Lock()
	defer parent.dirMu.Unlock()
	return v.lookupChildLocked(ctx, parent, name)
}

// addChildLocked caches d as parent's child name (parent.dirMu held).
func (v *VirtualFilesystem) addChildLocked(parent *Dentry, name string, d *Dentry) {
	if parent.children == nil {
		parent.children = make(map[string]*Dentry)
	}
	parent.children[name] = d
}

// dropChildLocked removes d from parent's cache and marks it dead.
func (v *VirtualFilesystem) dropChildLocked(parent *Dentry, name string, d *Dentry) {
	if parent.children[name] == d {
		delete(parent.children, name)
	}
	if !d.dead.Swap(true) {
		if ct, ok := d.inode.(CacheTracker); ok {
			ct.Uncached()
		}
	}
}

// newChildLocked caches a freshly created inode as parent's child name.
func (v *VirtualFilesystem) newChildLocked(ctx Context, parent *Dentry, name string, inode Inode) (*Dentry, error) {
	ftype, err := fileType(ctx, inode)
	if err != nil {
		return nil, err
	}
	d := newDentry(parent, name, inode, ftype)
	if old := parent.children[name]; old != nil {
		v.dropChildLocked(parent, name, old)
	}
	v.addChildLocked(parent, name, d)
	return d, nil
}

// childExistsLocked reports whether parent has a child name (parent.dirMu
// held), consulting the filesystem on a cache miss.
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
