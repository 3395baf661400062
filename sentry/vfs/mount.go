package vfs

import (
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

// MountOptions describe a mount.
type MountOptions struct {
	// ReadOnly makes every mutation through the mount fail with EROFS
	// (creating, removing, renaming, linking, changing attributes, and
	// opening regular files or directories for writing or with O_TRUNC).
	ReadOnly bool
	// NoExec makes execute permission checks (OpenExecutable) fail with
	// EACCES.
	NoExec bool
	// NoSuid and NoDev are shown in /proc/mounts only: the Sentry never
	// honours set-user-ID bits and never opens host devices, on any
	// mount.
	NoSuid, NoDev bool
	// FSType is the filesystem type shown in /proc/mounts ("tmpfs",
	// "proc", "9p", ...). Source is the mount source ("none", "tmpfs").
	FSType string
	Source string
}

// Mount is a filesystem tree (rooted at an Inode) attached at a dentry of
// another mount. The root mount has no parent.
type Mount struct {
	id     uint64
	root   *Dentry
	opts   MountOptions
	parent *Mount  // nil for the root mount and detached mounts
	point  *Dentry // mount point dentry in parent
	// anon marks the hidden mount of anonymous dentries (see
	// AnonymousDentry): its dentries show their name as their path.
	anon bool
	// ns is the mount namespace the mount is in (mountns.go); nil for
	// the hidden mount.
	ns *MountNamespace
	// ro and noexec are opts' ReadOnly and NoExec, which a remount
	// changes.
	ro, noexec atomic.Bool
}

// Root returns the root dentry of the mounted filesystem.
func (m *Mount) Root() *Dentry { return m.root }

// ID returns the mount's unique id (for /proc/self/mountinfo).
func (m *Mount) ID() uint64 { return m.id }

// Options returns the options m was mounted with (as remounted since).
func (m *Mount) Options() MountOptions {
	o := m.opts
	o.ReadOnly, o.NoExec = m.ro.Load(), m.noexec.Load()
	return o
}

// ReadOnly reports whether m is a read-only mount.
func (m *Mount) ReadOnly() bool { return m.ro.Load() }

// VirtualDentry is a location in the VFS: a dentry as seen through a mount.
// The zero value means "none".
type VirtualDentry struct {
	Mount  *Mount
	Dentry *Dentry
}

// Ok reports whether vd is set.
func (vd VirtualDentry) Ok() bool { return vd.Mount != nil && vd.Dentry != nil }

// Inode returns vd's inode.
func (vd VirtualDentry) Inode() Inode { return vd.Dentry.inode }

type mountKey struct {
	parent *Mount
	point  *Dentry
}

// VirtualFilesystem is the mount tree and the dentry cache of one sandbox.
// It implements path resolution and every path-based operation; see doc.go.
type VirtualFilesystem struct {
	mf *memfile.File

	// nameMu protects Dentry.parent and Dentry.name. It is held only
	// briefly, never across filesystem calls.
	nameMu sync.RWMutex
	// renameMu serializes renames (so they can lock two directories
	// without deadlock and check for loops).
	renameMu sync.Mutex

	mountMu sync.RWMutex
	mounts  map[mountKey][]*Mount // stacked mounts, topmost last
	all     []*Mount              // in mount order
	root    *Mount
	nextID  atomic.Uint64

	// anonMount is the hidden mount of anonymous dentries, made on first
	// use; it is in neither mounts nor all.
	anonOnce  sync.Once
	anonMount *Mount

	// lruMu protects the list of unused dentries (dcache.go) and the
	// LRU fields of every Dentry. It is a leaf lock.
	lruMu            sync.Mutex
	lruHead, lruTail *Dentry
	lruLen, lruMax   int
	shrinking        bool // a backgroundShrink goroutine runs

	// notify holds the inotify watches (notify.go).
	notify notifier
	// opSeq numbers path operations (LookupStater).
	opSeq atomic.Uint64
}

// New returns a VFS with no root yet (see MountRoot). mf is the memory file
// for in-memory filesystems (tmpfs, memfd); it may be nil in tests that
// don't need one.
func New(mf *memfile.File) *VirtualFilesystem {
	return &VirtualFilesystem{mf: mf, mounts: make(map[mountKey][]*Mount), lruMax: MaxUnusedDentries}
}

// MemoryFile returns the memory file given to New.
func (v *VirtualFilesystem) MemoryFile() *memfile.File { return v.mf }

// MountRoot makes root (a directory inode) the root filesystem. It must be
// called once, before any other operation.
func (v *VirtualFilesystem) MountRoot(ctx Context, root Inode, opts MountOptions) error {
	ftype, err := fileType(ctx, root)
	if err != nil {
		return err
	}
	if ftype != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	m := &Mount{id: v.nextID.Add(1), root: v.newDentry(nil, "/", root, ftype), opts: opts}
	m.ro.Store(opts.ReadOnly)
	m.noexec.Store(opts.NoExec)
	m.ns = &MountNamespace{root: m}
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if v.root != nil {
		return unix.EBUSY
	}
	v.root = m
	v.all = append(v.all, m)
	return nil
}

// Root returns the root of the mount tree ("/" of a task without chroot).
func (v *VirtualFilesystem) Root() VirtualDentry {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return VirtualDentry{v.root, v.root.root}
}

// MountAt mounts the filesystem whose root directory is root at path
// (resolved from the VFS root, following symlinks). If the final component
// or directories above it do not exist, synthetic empty directories are
// made for them in the VFS only (the underlying filesystem, which may be
// read-only, is not touched; the names do not appear in getdents of their
// parents). Mounting on top of an existing mount stacks.
func (v *VirtualFilesystem) MountAt(ctx Context, path string, root Inode, opts MountOptions) (*Mount, error) {
	return v.MountAtFrom(ctx, v.Root(), path, root, opts)
}

// MountAtFrom is MountAt with path resolved from rootVD (the root of
// another mount namespace: a container of a pod builds its own tree so).
func (v *VirtualFilesystem) MountAtFrom(ctx Context, rootVD VirtualDentry, path string, root Inode, opts MountOptions) (*Mount, error) {
	target, err := v.mountPoint(ctx, rootVD, path)
	if err != nil {
		return nil, err
	}
	defer target.DecRef()
	return v.mountOn(ctx, target, root, opts)
}

// BindMountAt bind-mounts source (a mount's location, possibly in
// another namespace) at path resolved from rootVD as MountAt resolves
// it: one filesystem tree, one dentry cache, seen in two places (a
// volume shared by the containers of a pod).
func (v *VirtualFilesystem) BindMountAt(ctx Context, rootVD VirtualDentry, path string, source VirtualDentry) (*Mount, error) {
	target, err := v.mountPoint(ctx, rootVD, path)
	if err != nil {
		return nil, err
	}
	defer target.DecRef()
	return v.BindMount(source, target, false)
}

// mountPoint resolves the directory path from rootVD for MountAt,
// making synthetic directories for what is missing; the caller owns
// the reference returned.
func (v *VirtualFilesystem) mountPoint(ctx Context, rootVD VirtualDentry, path string) (VirtualDentry, error) {
	pop := PathOperation{Root: rootVD, Start: rootVD, Path: path, FollowFinal: true}
	r := v.newResolver(ctx, pop)
	parent, name, _, err := r.walkParent(pop.Start, pop.Path)
	if err == unix.ENOENT {
		if err = v.syntheticParents(ctx, rootVD, path); err == nil {
			parent, name, _, err = r.walkParent(pop.Start, pop.Path)
		}
	}
	if err != nil {
		return VirtualDentry{}, err
	}
	defer parent.DecRef()
	var target VirtualDentry
	if name == "" {
		target = parent
		target.IncRef()
	} else if name == "." || name == ".." {
		target, err = r.lookup(parent, name)
	} else {
		target, err = r.lookup(parent, name)
		if err == unix.ENOENT {
			target, err = v.syntheticDir(ctx, parent, name)
		} else if err == nil && target.Dentry.IsSymlink() {
			link := target
			target, err = r.follow(parent, link)
			link.DecRef()
		}
	}
	if err != nil {
		return VirtualDentry{}, err
	}
	if !target.Dentry.IsDir() {
		target.DecRef()
		return VirtualDentry{}, unix.ENOTDIR
	}
	return target, nil
}

// Mount mounts root at the location pop resolves to, like MountAt.
func (v *VirtualFilesystem) Mount(ctx Context, pop PathOperation, root Inode, opts MountOptions) (*Mount, error) {
	target, err := v.GetDentry(ctx, pop)
	if err != nil {
		return nil, err
	}
	defer target.DecRef()
	if !target.Dentry.IsDir() {
		return nil, unix.ENOTDIR
	}
	return v.mountOn(ctx, target, root, opts)
}

func (v *VirtualFilesystem) mountOn(ctx Context, target VirtualDentry, root Inode, opts MountOptions) (*Mount, error) {
	ftype, err := fileType(ctx, root)
	if err != nil {
		return nil, err
	}
	if ftype != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	return v.addMount(target, root, ftype, opts), nil
}

// MountFileAt mounts the non-directory inode over the file at path,
// resolved from rootVD, which is made (an empty regular file) if
// missing: a host file bound where the Sentry serves the directory
// itself (/dev/termination-log in the Sentry's /dev).
func (v *VirtualFilesystem) MountFileAt(ctx Context, rootVD VirtualDentry, path string, file Inode, opts MountOptions) (*Mount, error) {
	ftype, err := fileType(ctx, file)
	if err != nil {
		return nil, err
	}
	if ftype == unix.S_IFDIR {
		return nil, unix.EISDIR
	}
	pop := PathOperation{Root: rootVD, Start: rootVD, Path: path, FollowFinal: true}
	target, err := v.GetDentry(ctx, pop)
	if err == unix.ENOENT {
		if err = v.Mknod(ctx, pop, unix.S_IFREG|0o644, 0); err == nil || err == unix.EEXIST {
			target, err = v.GetDentry(ctx, pop)
		}
	}
	if err != nil {
		return nil, err
	}
	defer target.DecRef()
	if target.Dentry.IsDir() {
		return nil, unix.EISDIR
	}
	return v.addMount(target, file, ftype, opts), nil
}

// addMount mounts root (of type ftype) on target.
func (v *VirtualFilesystem) addMount(target VirtualDentry, root Inode, ftype uint32, opts MountOptions) *Mount {
	m := &Mount{
		id:     v.nextID.Add(1),
		root:   v.newDentry(nil, "/", root, ftype),
		opts:   opts,
		parent: target.Mount,
		point:  target.Dentry,
		ns:     target.Mount.ns,
	}
	m.ro.Store(opts.ReadOnly)
	m.noexec.Store(opts.NoExec)
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	v.addLocked(m)
	return m
}

// syntheticParents makes the missing directories above path's final
// component synthetic, like syntheticDir.
func (v *VirtualFilesystem) syntheticParents(ctx Context, rootVD VirtualDentry, path string) error {
	comps, _ := splitPath(path)
	cur := rootVD
	cur.IncRef()
	defer func() { cur.DecRef() }()
	for _, name := range comps[:max(len(comps)-1, 0)] {
		r := v.newResolver(ctx, PathOperation{Root: rootVD, Start: cur})
		next, err := r.lookup(cur, name)
		if err == unix.ENOENT {
			next, err = v.syntheticDir(ctx, cur, name)
		} else if err == nil && next.Dentry.IsSymlink() {
			link := next
			next, err = r.follow(cur, link)
			link.DecRef()
		}
		if err != nil {
			return err
		}
		cur.DecRef()
		cur = v.crossMountsRef(next)
	}
	return nil
}

// syntheticDir makes a VFS-only empty directory parent/name as a mount
// point and returns it with a reference the caller owns. Synthetic
// directories are never evicted.
func (v *VirtualFilesystem) syntheticDir(ctx Context, parent VirtualDentry, name string) (VirtualDentry, error) {
	if len(name) > NameMax {
		return VirtualDentry{}, unix.ENAMETOOLONG
	}
	p := parent.Dentry
	p.dirMu.Lock()
	defer p.dirMu.Unlock()
	if p.dead.Load() {
		return VirtualDentry{}, unix.ENOENT
	}
	if c := p.children[name]; c != nil {
		c.IncRef()
		return VirtualDentry{parent.Mount, c}, nil
	}
	d := v.newDentry(p, name, NewSyntheticDir(), unix.S_IFDIR)
	d.synthetic = true
	d.IncRef() // its own: never unused
	v.addChildLocked(p, name, d)
	return VirtualDentry{parent.Mount, d}, nil
}

// Unmount detaches the mount whose root pop resolves to (umount2). Open
// files keep working; new walks no longer enter it.
func (v *VirtualFilesystem) Unmount(ctx Context, pop PathOperation) error {
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return err
	}
	defer vd.DecRef()
	m := vd.Mount
	if vd.Dentry != m.root {
		return unix.EINVAL
	}
	v.mountMu.Lock()
	if m.parent == nil {
		v.mountMu.Unlock()
		return unix.EBUSY
	}
	for _, o := range v.all {
		if o.parent == m {
			v.mountMu.Unlock()
			return unix.EBUSY
		}
	}
	drop := v.unmountLocked(m, nil)
	v.mountMu.Unlock()
	releaseAll(drop)
	return nil
}

// crossMountsRef is crossMounts for a vd the caller holds a reference on:
// the reference is moved to the result.
func (v *VirtualFilesystem) crossMountsRef(vd VirtualDentry) VirtualDentry {
	out := v.crossMounts(vd)
	if out != vd {
		out.IncRef()
		vd.DecRef()
	}
	return out
}

// crossMounts moves vd to the root of the topmost mount on it, repeatedly.
func (v *VirtualFilesystem) crossMounts(vd VirtualDentry) VirtualDentry {
	for vd.Dentry.mounts.Load() > 0 {
		v.mountMu.RLock()
		st := v.mounts[mountKey{vd.Mount, vd.Dentry}]
		var top *Mount
		if len(st) > 0 {
			top = st[len(st)-1]
		}
		v.mountMu.RUnlock()
		if top == nil {
			break
		}
		vd = VirtualDentry{top, top.root}
	}
	return vd
}

// MountInfo describes one mount for /proc/<pid>/mounts and mountinfo.
type MountInfo struct {
	ID, ParentID uint64
	// Path is the mount point relative to the root given to Mounts.
	Path string
	Opts MountOptions
	// Root is the root directory of the mounted filesystem (its st_dev
	// is the mount's device number).
	Root Inode
}

// Mounts lists the mounts visible from root (a task's root), in mount
// order.
func (v *VirtualFilesystem) Mounts(root VirtualDentry) []MountInfo {
	v.mountMu.RLock()
	all := append([]*Mount(nil), v.all...)
	v.mountMu.RUnlock()
	var out []MountInfo
	for _, m := range all {
		mp := VirtualDentry{m, m.root}
		path, ok := v.pathFrom(root, mp)
		if !ok {
			continue
		}
		pid := m.id
		if m.parent != nil {
			pid = m.parent.id
		}
		out = append(out, MountInfo{ID: m.id, ParentID: pid, Path: path, Opts: m.Options(), Root: m.root.inode})
	}
	return out
}
