package vfs

// The dentry cache's reference counting and eviction, after Linux's dcache
// (fs/dcache.c: dget/dput, the LRU of unused dentries and its shrinker).
//
// References on a Dentry are held by:
//
//   - every child dentry, on its parent, for as long as the child exists;
//   - every FileDescription opened by path, on its dentry;
//   - every FSContext, on its root and working directory;
//   - every Mount, on its root and its mount point;
//   - synthetic mount point directories, on themselves (they are never
//     evicted);
//   - path walks in progress, on the dentries they stand on, and the
//     callers of GetDentry and GetDirectory, which must VirtualDentry.DecRef
//     the result.
//
// A reference is only taken from nothing (0 -> 1) under the parent's dirMu,
// by a lookup that finds the dentry in its parent's children; every other
// IncRef is made by someone who already holds a reference. A dentry whose
// count drops to 0 is unused: a dead one is destroyed at once (it drops its
// reference on its parent), a live one goes to the tail of the LRU list.
// When the list holds more than MaxUnusedDentries dentries, a goroutine
// evicts the oldest (so a reference may be dropped with VFS locks held):
// each is removed from its parent (under its dirMu), marked dead, its inode
// told (CacheTracker.Uncached: a gofer inode clunks its FID), and
// destroyed. An evicted name is looked up again
// from the filesystem on the next walk, as after a cold start.
//
// Because a dentry with cached children is referenced by them, the list
// only ever holds leaves, and a directory becomes evictable once its last
// child has gone. Mount points, the roots of mounts, synthetic directories
// and inodes that ask for it (CachePinner: mapped gofer files) are never
// evicted.

// MaxUnusedDentries is the default bound of the LRU list of unused
// dentries (see SetMaxUnusedDentries). Each unused gofer dentry costs one
// host descriptor in the gofer; with the referenced ones (open files,
// working directories and the ancestors of cached names) the gofer stays
// well below its descriptor limit however many files are walked.
const MaxUnusedDentries = 4096

// SetMaxUnusedDentries changes the bound of the unused dentry list (n >= 0;
// 0 evicts every dentry as soon as it is unused). It evicts at once what
// is over the new bound.
func (v *VirtualFilesystem) SetMaxUnusedDentries(n int) {
	v.lruMu.Lock()
	v.lruMax = n
	v.lruMu.Unlock()
	v.shrink()
}

// UnusedDentries returns the number of unused dentries on the LRU list
// (for tests and /proc/sys/fs/dentry-state).
func (v *VirtualFilesystem) UnusedDentries() int {
	v.lruMu.Lock()
	defer v.lruMu.Unlock()
	return v.lruLen
}

// IncRef takes a reference on d; the caller must already hold one (or hold
// d's parent's dirMu, for a dentry found among its children).
func (d *Dentry) IncRef() { d.refs.Add(1) }

// DecRef drops a reference on d.
func (d *Dentry) DecRef() {
	switch n := d.refs.Add(-1); {
	case n == 0:
		d.v.dentryUnused(d)
	case n < 0:
		panic("vfs: Dentry over-released")
	}
}

// IncRef takes a reference on vd's dentry (nothing for the zero value).
func (vd VirtualDentry) IncRef() {
	if vd.Dentry != nil {
		vd.Dentry.IncRef()
	}
}

// DecRef drops a reference on vd's dentry (nothing for the zero value).
func (vd VirtualDentry) DecRef() {
	if vd.Dentry != nil {
		vd.Dentry.DecRef()
	}
}

// evictable reports whether d may ever sit on the LRU list.
func (d *Dentry) evictable() bool { return !d.isRoot && !d.synthetic }

// pinned reports whether d's inode asks to stay cached.
func (d *Dentry) pinned() bool {
	p, ok := d.inode.(CachePinner)
	return ok && p.PinCache()
}

// dentryUnused is called when d's reference count has dropped to 0.
func (v *VirtualFilesystem) dentryUnused(d *Dentry) {
	if v == nil {
		return
	}
	v.lruMu.Lock()
	if d.refs.Load() != 0 || d.destroyed {
		v.lruMu.Unlock()
		return
	}
	if d.dead.Load() {
		v.destroyLocked(d)
		v.lruMu.Unlock()
		d.finishDestroy()
		return
	}
	if !d.evictable() {
		v.lruMu.Unlock()
		return
	}
	v.lruRemoveLocked(d)
	v.lruPushLocked(d)
	start := v.lruLen > v.lruMax && !v.shrinking
	if start {
		v.shrinking = true
	}
	v.lruMu.Unlock()
	if start {
		// Eviction takes dirMu locks, and the caller may hold some.
		go v.backgroundShrink()
	}
}

// destroyLocked marks d destroyed and takes it off the list (v.lruMu held).
// The caller then drops d's reference on its parent.
func (v *VirtualFilesystem) destroyLocked(d *Dentry) {
	d.destroyed = true
	v.lruRemoveLocked(d)
}

// finishDestroy finishes destroying d, outside v.lruMu: its inode is told
// (if it was not yet) and its reference on its parent dropped.
func (d *Dentry) finishDestroy() {
	d.release()
	d.v.nameMu.RLock()
	p := d.parent
	d.v.nameMu.RUnlock()
	if p != nil {
		p.DecRef()
	}
}

func (v *VirtualFilesystem) lruPushLocked(d *Dentry) {
	d.inLRU = true
	d.lruPrev = v.lruTail
	d.lruNext = nil
	if v.lruTail != nil {
		v.lruTail.lruNext = d
	} else {
		v.lruHead = d
	}
	v.lruTail = d
	v.lruLen++
}

func (v *VirtualFilesystem) lruRemoveLocked(d *Dentry) {
	if !d.inLRU {
		return
	}
	if d.lruPrev != nil {
		d.lruPrev.lruNext = d.lruNext
	} else {
		v.lruHead = d.lruNext
	}
	if d.lruNext != nil {
		d.lruNext.lruPrev = d.lruPrev
	} else {
		v.lruTail = d.lruPrev
	}
	d.lruPrev, d.lruNext, d.inLRU = nil, nil, false
	v.lruLen--
}

// shrink evicts the oldest unused dentries until the list is within its
// bound. It takes directories' dirMu locks, so it runs where no VFS lock is
// held: on a goroutine of its own that dentryUnused starts when the list
// grows past its bound (at most one at a time), or in SetMaxUnusedDentries.
func (v *VirtualFilesystem) shrink() {
	v.lruMu.Lock()
	for v.lruLen > v.lruMax {
		d := v.lruHead
		v.lruRemoveLocked(d)
		if d.refs.Load() != 0 {
			// In use again: it comes back when it is next unused.
			continue
		}
		if d.dead.Load() {
			v.destroyLocked(d)
			v.lruMu.Unlock()
			d.finishDestroy()
			v.lruMu.Lock()
			continue
		}
		v.lruMu.Unlock()
		v.evict(d)
		v.lruMu.Lock()
	}
	v.lruMu.Unlock()
}

// backgroundShrink is shrink on its own goroutine; v.shrinking is set.
func (v *VirtualFilesystem) backgroundShrink() {
	v.shrink()
	v.lruMu.Lock()
	v.shrinking = false
	again := v.lruLen > v.lruMax
	if again {
		v.shrinking = true
	}
	v.lruMu.Unlock()
	if again {
		go v.backgroundShrink()
	}
}

// evict evicts the unused dentry d, taken off the list, unless it is in
// use again, a mount point or pinned (it then stays cached, off the list
// until it is next unused).
func (v *VirtualFilesystem) evict(d *Dentry) {
	var p *Dentry
	for {
		v.nameMu.RLock()
		p = d.parent
		v.nameMu.RUnlock()
		p.dirMu.Lock()
		v.nameMu.RLock()
		moved := d.parent != p
		v.nameMu.RUnlock()
		if !moved {
			break
		}
		// Renamed meanwhile (rename holds both directories' dirMu
		// while it moves a dentry): try its new parent.
		p.dirMu.Unlock()
	}
	if d.refs.Load() != 0 || d.mounts.Load() > 0 || d.pinned() {
		p.dirMu.Unlock()
		return
	}
	if p.children[d.name] == d {
		delete(p.children, d.name)
	}
	d.dead.Store(true)
	d.release()
	p.dirMu.Unlock()
	v.lruMu.Lock()
	gone := d.destroyed
	if !gone {
		v.destroyLocked(d)
	}
	v.lruMu.Unlock()
	if !gone {
		d.finishDestroy()
	}
}
