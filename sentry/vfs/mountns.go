package vfs

import (
	"golang.org/x/sys/unix"
)

// Mount namespaces (mount_namespaces(7)) and the mount operations
// mount(2), umount2(2) and pivot_root(2) need beyond MountAt.
//
// A mount namespace is a tree of Mount values. Copying a namespace
// (CloneNamespace, for unshare(CLONE_NEWNS) and clone(CLONE_NEWNS)) makes
// a new Mount for each mount of the tree, with the same root dentry, on
// the same mount point dentry, under the copy of its parent: mounts are
// found by (parent mount, mount point dentry), so what is mounted on a
// copy is seen only through the copies, and the dentry cache stays shared.
// Every mount is private: mount events never propagate between
// namespaces (MS_SHARED and MS_SLAVE are accepted and mean MS_PRIVATE).

// MountNamespace is a mount namespace: the root of a tree of mounts.
type MountNamespace struct {
	// Owner is the user namespace owning it (the kernel's
	// *UserNamespace; nil for the initial one).
	Owner any
	// Ino is its inode number, for /proc/PID/ns/mnt (the kernel sets it).
	Ino uint64

	root *Mount
	// released is set by Release (mountMu).
	released bool
}

// Root returns the root of the namespace's tree.
func (ns *MountNamespace) Root(v *VirtualFilesystem) VirtualDentry {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return VirtualDentry{ns.root, ns.root.root}
}

// RootNamespace returns the initial mount namespace (made by MountRoot).
func (v *VirtualFilesystem) RootNamespace() *MountNamespace {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	if v.root == nil {
		return nil
	}
	return v.root.ns
}

// NewNamespace makes a mount namespace of its own whose root mount is
// root (a directory inode), sharing nothing with the others: the root
// of another container of the same sandbox (a pod). Release ends it.
func (v *VirtualFilesystem) NewNamespace(ctx Context, root Inode, opts MountOptions, owner any, ino uint64) (*MountNamespace, error) {
	ftype, err := fileType(ctx, root)
	if err != nil {
		return nil, err
	}
	if ftype != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	m := &Mount{id: v.nextID.Add(1), root: v.newDentry(nil, "/", root, ftype), opts: opts}
	m.ro.Store(opts.ReadOnly)
	m.noexec.Store(opts.NoExec)
	ns := &MountNamespace{Owner: owner, Ino: ino, root: m}
	m.ns = ns
	v.mountMu.Lock()
	v.all = append(v.all, m)
	v.mountMu.Unlock()
	return ns, nil
}

// Namespace returns the mount namespace m belongs to (nil for hidden
// mounts).
func (m *Mount) Namespace() *MountNamespace { return m.ns }

// NoExec reports whether m forbids executing files.
func (m *Mount) NoExec() bool { return m.noexec.Load() }

// Mount references. A mount in the mount table holds a reference on its
// root dentry (for a bind mount, a dentry in the middle of the source
// tree, which would otherwise be evictable) and one on its mount point
// (which ".." climbs to). The root's is taken when the mount is made and
// dropped when it leaves the table for good; the point's follows the
// point, so moves (pivot_root, MS_MOVE) swap it. References are dropped
// after mountMu is released, as dropping one may destroy a dentry.

// cloneMount returns a copy of m in ns on point under parent, not yet in
// the mount table, with its reference on root (the caller holds one).
func (v *VirtualFilesystem) cloneMount(m *Mount, ns *MountNamespace, parent *Mount, point *Dentry, root *Dentry) *Mount {
	nm := &Mount{id: v.nextID.Add(1), root: root, opts: m.opts, parent: parent, point: point, ns: ns}
	nm.ro.Store(m.ro.Load())
	nm.noexec.Store(m.noexec.Load())
	root.IncRef()
	return nm
}

// addLocked puts m in the mount table (mountMu held for writing), taking
// its reference on its point (the caller holds one).
func (v *VirtualFilesystem) addLocked(m *Mount) {
	if m.parent != nil {
		k := mountKey{m.parent, m.point}
		v.mounts[k] = append(v.mounts[k], m)
		m.point.mounts.Add(1)
		m.point.IncRef()
	}
	v.all = append(v.all, m)
}

// removeLocked takes m out of the mount table and returns its point (nil
// for a mount without parent), whose reference the caller drops once
// mountMu is released.
func (v *VirtualFilesystem) removeLocked(m *Mount) *Dentry {
	var point *Dentry
	if m.parent != nil {
		k := mountKey{m.parent, m.point}
		st := v.mounts[k]
		for i, o := range st {
			if o == m {
				st = append(st[:i:i], st[i+1:]...)
				break
			}
		}
		if len(st) == 0 {
			delete(v.mounts, k)
		} else {
			v.mounts[k] = st
		}
		m.point.mounts.Add(-1)
		point = m.point
	}
	for i, o := range v.all {
		if o == m {
			v.all = append(v.all[:i:i], v.all[i+1:]...)
			break
		}
	}
	return point
}

// unmountLocked takes m out of the mount table for good and appends the
// references it held (point and root) to drop.
func (v *VirtualFilesystem) unmountLocked(m *Mount, drop []*Dentry) []*Dentry {
	if p := v.removeLocked(m); p != nil {
		drop = append(drop, p)
	}
	m.parent = nil
	return append(drop, m.root)
}

// releaseAll drops one reference on each of ds (mountMu not held).
func releaseAll(ds []*Dentry) {
	for _, d := range ds {
		d.DecRef()
	}
}

// CloneNamespace makes a copy of ns owned by owner, and returns it with a
// function that moves a location in ns to the same place in the copy
// (locations elsewhere are returned unchanged): tasks moving to the new
// namespace take their root and working directory along with it.
func (v *VirtualFilesystem) CloneNamespace(ns *MountNamespace, owner any, ino uint64) (*MountNamespace, func(VirtualDentry) VirtualDentry) {
	nns := &MountNamespace{Owner: owner, Ino: ino}
	v.mountMu.Lock()
	copies := make(map[*Mount]*Mount)
	var order []*Mount
	for _, m := range v.all {
		if m.ns == ns {
			order = append(order, m)
		}
	}
	// Parents first: v.all is in mount order, but pivot_root can move a
	// mount below a later one, so place what can be placed until done.
	for len(order) > 0 {
		var rest []*Mount
		for _, m := range order {
			var parent *Mount
			if m.parent != nil {
				if parent = copies[m.parent]; parent == nil {
					rest = append(rest, m)
					continue
				}
			}
			nm := v.cloneMount(m, nns, parent, m.point, m.root)
			copies[m] = nm
			v.addLocked(nm)
			if m == ns.root {
				nns.root = nm
			}
		}
		if len(rest) == len(order) {
			break // orphans (cannot happen): leave them out
		}
		order = rest
	}
	v.mountMu.Unlock()
	return nns, func(vd VirtualDentry) VirtualDentry {
		if c := copies[vd.Mount]; c != nil {
			return VirtualDentry{c, vd.Dentry}
		}
		return vd
	}
}

// MountIn mounts root at target (a location the caller resolved, in its
// namespace), like Mount.
func (v *VirtualFilesystem) MountIn(ctx Context, target VirtualDentry, root Inode, opts MountOptions) (*Mount, error) {
	if !target.Dentry.IsDir() {
		return nil, unix.ENOTDIR
	}
	return v.mountOn(ctx, target, root, opts)
}

// isBeneath reports whether d is a or below it in a's filesystem.
func (v *VirtualFilesystem) isBeneath(d, a *Dentry) bool {
	v.nameMu.RLock()
	defer v.nameMu.RUnlock()
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// BindMount implements mount(2) with MS_BIND: source's subtree appears at
// target too, with the source mount's flags; with recursive (MS_REC) the
// mounts below source come along. Source and target must both be
// directories or both not (ENOTDIR).
func (v *VirtualFilesystem) BindMount(source, target VirtualDentry, recursive bool) (*Mount, error) {
	if source.Dentry.IsDir() != target.Dentry.IsDir() {
		return nil, unix.ENOTDIR
	}
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if target.Mount.ns == nil || source.Mount.anon {
		return nil, unix.EINVAL
	}
	nm := v.cloneMount(source.Mount, target.Mount.ns, target.Mount, target.Dentry, source.Dentry)
	var subs []*Mount
	if recursive {
		copies := map[*Mount]*Mount{source.Mount: nm}
		for _, m := range v.all {
			if m == source.Mount || m.ns != source.Mount.ns || m.parent == nil {
				continue
			}
			parent := copies[m.parent]
			if parent == nil {
				continue
			}
			if m.parent == source.Mount && !v.isBeneath(m.point, source.Dentry) {
				continue
			}
			c := v.cloneMount(m, target.Mount.ns, parent, m.point, m.root)
			copies[m] = c
			subs = append(subs, c)
		}
	}
	v.addLocked(nm)
	for _, c := range subs {
		v.addLocked(c)
	}
	return nm, nil
}

// Remount changes the flags of the mount whose root vd is (mount(2) with
// MS_REMOUNT; EINVAL if vd is no mount's root): read-only and no-exec.
func (v *VirtualFilesystem) Remount(vd VirtualDentry, readOnly, noExec bool) error {
	if vd.Dentry != vd.Mount.root || vd.Mount.anon {
		return unix.EINVAL
	}
	vd.Mount.ro.Store(readOnly)
	vd.Mount.noexec.Store(noExec)
	return nil
}

// TopMount returns the root of the topmost mount stacked on vd (vd itself
// if there is none), moving the caller's reference to the result. umount2
// looks its target up so (Linux's LOOKUP_MOUNTPOINT): a walk does not
// cross the mounts on where it starts, so after pivot_root(".", ".") the
// old root stacked on "." is reached only this way.
func (v *VirtualFilesystem) TopMount(vd VirtualDentry) VirtualDentry {
	return v.crossMountsRef(vd)
}

// IsMountRoot reports whether vd is the root of its mount (propagation
// changes need one: EINVAL otherwise).
func (vd VirtualDentry) IsMountRoot() bool { return vd.Ok() && vd.Dentry == vd.Mount.root }

// Detach implements umount2(2) of the mount whose root vd is: EINVAL if vd
// is no mount's root, EBUSY for the root of a namespace or, unless lazy
// (MNT_DETACH), a mount with mounts on it; a lazy unmount detaches the
// mounts below too. Open files keep working.
func (v *VirtualFilesystem) Detach(vd VirtualDentry, lazy bool) error {
	m := vd.Mount
	if vd.Dentry != m.root || m.anon {
		return unix.EINVAL
	}
	v.mountMu.Lock()
	if m.parent == nil {
		v.mountMu.Unlock()
		return unix.EBUSY
	}
	var below []*Mount
	gone := map[*Mount]bool{m: true}
	for _, o := range v.all {
		if o.parent != nil && gone[o.parent] {
			if !lazy {
				v.mountMu.Unlock()
				return unix.EBUSY
			}
			gone[o] = true
			below = append(below, o)
		}
	}
	var drop []*Dentry
	for i := len(below) - 1; i >= 0; i-- {
		drop = v.unmountLocked(below[i], drop)
	}
	drop = v.unmountLocked(m, drop)
	v.mountMu.Unlock()
	releaseAll(drop)
	return nil
}

// PivotRoot implements pivot_root(2) in the namespace of root (the
// caller's root, which must be the root of its mount: EINVAL): the mount
// whose root newRoot is becomes the namespace's root and the old root
// mount moves to putOld, which must be at or below newRoot (EINVAL).
// newRoot must be a mount's root other than the current root (EINVAL,
// EBUSY). It returns the old root, so the caller can move the root and
// working directory of processes that were there (Linux's
// chroot_fs_refs).
func (v *VirtualFilesystem) PivotRoot(root, newRoot, putOld VirtualDentry) (VirtualDentry, error) {
	if !newRoot.Dentry.IsDir() || !putOld.Dentry.IsDir() {
		return VirtualDentry{}, unix.ENOTDIR
	}
	if !root.IsMountRoot() || !newRoot.IsMountRoot() {
		return VirtualDentry{}, unix.EINVAL
	}
	if newRoot.Mount == root.Mount {
		return VirtualDentry{}, unix.EBUSY
	}
	if !v.IsAncestor(newRoot, putOld) {
		return VirtualDentry{}, unix.EINVAL
	}
	v.mountMu.Lock()
	var point *Dentry
	defer func() {
		v.mountMu.Unlock()
		if point != nil {
			point.DecRef()
		}
	}()
	ns := root.Mount.ns
	old, nr := root.Mount, newRoot.Mount
	if ns == nil || ns.root != old || nr.ns != ns || old.parent != nil {
		return VirtualDentry{}, unix.EINVAL
	}
	// newRoot must hang below the old root.
	for p := nr; p != old; p = p.parent {
		if p == nil {
			return VirtualDentry{}, unix.EINVAL
		}
	}
	// Detach the new root from its parent; it becomes the tree's root.
	point = v.removeLocked(nr)
	nr.parent, nr.point = nil, nil
	v.all = append(v.all, nr)
	// The old root goes on put_old. When put_old is the new root itself
	// (pivot_root(".", ".")), it stacks over the new root, for the
	// caller to detach.
	v.removeLocked(old) // a root: no point
	old.parent, old.point = putOld.Mount, putOld.Dentry
	v.addLocked(old)
	ns.root = nr
	return VirtualDentry{old, old.root}, nil
}

// Release detaches every mount of ns (its last process is gone, as
// Linux's put_mnt_ns does): what was mounted only there is gone, and
// its mount points may be removed. Open files keep working.
func (v *VirtualFilesystem) Release(ns *MountNamespace) {
	v.mountMu.Lock()
	var gone []*Mount
	for _, m := range v.all {
		if m.ns == ns {
			gone = append(gone, m)
		}
	}
	var drop []*Dentry
	for i := len(gone) - 1; i >= 0; i-- {
		drop = v.unmountLocked(gone[i], drop)
	}
	ns.released = true
	v.mountMu.Unlock()
	releaseAll(drop)
}

// Released reports whether ns has been released (Release): it has no
// mounts left, and its root's dentry is no longer held.
func (ns *MountNamespace) Released(v *VirtualFilesystem) bool {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return ns.released
}

// mountedOn reports whether something is mounted on child in the mount
// namespace of parent (the mount the path went through): a mount point
// in another namespace can be removed, as with Linux's
// is_local_mountpoint.
func (v *VirtualFilesystem) mountedOn(parent *Mount, child *Dentry) bool {
	if child.mounts.Load() == 0 {
		return false
	}
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	for k := range v.mounts {
		if k.point == child && k.parent.ns == parent.ns {
			return true
		}
	}
	return false
}

// MoveMount implements mount(2) with MS_MOVE: the mount whose root source
// is, with everything mounted below it, moves to target in the same
// namespace (EINVAL otherwise, and for a namespace's root); target may
// not be inside the moved tree (ELOOP), and both must be directories or
// both not (ENOTDIR).
func (v *VirtualFilesystem) MoveMount(source, target VirtualDentry) error {
	if !source.IsMountRoot() || source.Mount.anon {
		return unix.EINVAL
	}
	if source.Dentry.IsDir() != target.Dentry.IsDir() {
		return unix.ENOTDIR
	}
	if v.IsAncestor(source, target) {
		return unix.ELOOP
	}
	v.mountMu.Lock()
	m := source.Mount
	if m.parent == nil || m.ns == nil || target.Mount.ns != m.ns {
		v.mountMu.Unlock()
		return unix.EINVAL
	}
	point := v.removeLocked(m)
	m.parent, m.point = target.Mount, target.Dentry
	v.addLocked(m)
	v.mountMu.Unlock()
	point.DecRef()
	return nil
}
