package overlay

import (
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Lookup implements vfs.Inode.
func (n *node) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	c, err := n.child(ctx, name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// child is Lookup taking n.dirMu.
func (n *node) child(ctx vfs.Context, name string) (*node, error) {
	if !n.isDir() {
		return nil, unix.ENOTDIR
	}
	n.dirMu.Lock()
	defer n.dirMu.Unlock()
	return n.childLocked(ctx, name)
}

// childLocked returns the node of name in the merged directory (n.dirMu
// held): ENOENT if neither layer has it or a whiteout hides it.
func (n *node) childLocked(ctx vfs.Context, name string) (*node, error) {
	if c := n.children[name]; c != nil {
		return c, nil
	}
	upper, lower := n.layers()
	var u vfs.Inode
	if upper != nil {
		i, err := upper.Lookup(ctx, name)
		switch {
		case err == nil:
			if isWhiteout(ctx, i) {
				return nil, unix.ENOENT
			}
			u = i
		case err != unix.ENOENT:
			return nil, err
		}
	}
	var l vfs.Inode
	// Only a directory merges with what is below it, and only if it is
	// not opaque.
	if lower != nil && (u == nil || fileType(ctx, u) == unix.S_IFDIR && !n.fs.isOpaque(u)) {
		i, err := lower.Lookup(ctx, name)
		switch {
		case err == nil:
			hold(i)
			if u != nil && fileType(ctx, i) != unix.S_IFDIR {
				release(i)
			} else {
				l = i
			}
		case err != unix.ENOENT:
			return nil, err
		}
	}
	switch {
	case u == nil && l == nil:
		return nil, unix.ENOENT
	case u != nil && fileType(ctx, u) != unix.S_IFDIR:
		if c := n.fs.nodeOfUpper(u); c != nil {
			// Another name of a file already known (a hard link).
			n.addChildLocked(name, c)
			return c, nil
		}
	}
	var ftype uint32
	if u != nil {
		ftype = fileType(ctx, u)
	} else {
		ftype = fileType(ctx, l)
	}
	if ftype == unix.S_IFMT {
		if l != nil {
			release(l)
		}
		return nil, unix.EIO
	}
	return n.newChildLocked(name, ftype, u, l), nil
}

// newChildLocked makes and caches the node of name (n.dirMu held).
func (n *node) newChildLocked(name string, ftype uint32, upper, lower vfs.Inode) *node {
	c := &node{fs: n.fs, ftype: ftype, upper: upper, lower: lower, parent: n, name: name}
	if upper != nil && ftype != unix.S_IFDIR {
		n.fs.setUpperNode(upper, c)
	}
	n.addChildLocked(name, c)
	return c
}

func (n *node) addChildLocked(name string, c *node) {
	if n.children == nil {
		n.children = make(map[string]*node)
	}
	n.children[name] = c
}

// droppedLocked forgets c, which lost its name name in n (n.dirMu held).
func (n *node) droppedLocked(ctx vfs.Context, name string, c *node) {
	if n.children[name] == c {
		delete(n.children, name)
	}
	c.mu.Lock()
	upper, lower := c.upper, c.lower
	gone := upper == nil || c.isDir()
	if gone {
		// lower stays for open files' fstat; the overlay no longer
		// names it.
		c.removed = true
	}
	c.mu.Unlock()
	if gone && lower != nil {
		release(lower)
	}
	if upper != nil {
		if st, err := upper.Stat(ctx); c.isDir() || err == nil && st.Nlink == 0 {
			n.fs.forgetUpper(upper)
		}
	}
}

// upperEntry looks name up in upper directory dir: the inode (nil if
// none) and whether it is a whiteout.
func upperEntry(ctx vfs.Context, dir vfs.Inode, name string) (vfs.Inode, bool, error) {
	i, err := dir.Lookup(ctx, name)
	if err == unix.ENOENT {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return i, isWhiteout(ctx, i), nil
}

// lowerHasLocked reports whether n's lower directory has name, so that
// removing name from n needs a whiteout (n.dirMu held).
func (n *node) lowerHasLocked(ctx vfs.Context, name string) (bool, error) {
	lower := n.lowerInode()
	if lower == nil {
		return false, nil
	}
	i, err := lower.Lookup(ctx, name)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	hold(i)
	release(i)
	return true, nil
}

// makeWhiteout hides the lower entry name under upper directory dir.
func makeWhiteout(ctx vfs.Context, dir vfs.Inode, name string) error {
	_, err := dir.Mknod(ctx, name, unix.S_IFCHR, 0)
	return err
}

// dropWhiteoutLocked removes a whiteout at name in n's upper directory
// before something is created there, and reports whether there was one
// (n.dirMu held).
func (n *node) dropWhiteoutLocked(ctx vfs.Context, name string) (bool, error) {
	upper := n.upperInode()
	i, wh, err := upperEntry(ctx, upper, name)
	if err != nil || i == nil || !wh {
		return false, err
	}
	if err := upper.Unlink(ctx, name); err != nil {
		return false, err
	}
	return true, nil
}

// clearWhiteouts removes every whiteout of upper directory dir, so that
// rmdir or rename can replace a directory that is empty in the merge.
func clearWhiteouts(ctx vfs.Context, dir vfs.Inode) error {
	ents, err := dir.Getdents(ctx)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type != unix.DT_CHR {
			continue
		}
		if i, err := dir.Lookup(ctx, e.Name); err == nil && isWhiteout(ctx, i) {
			if err := dir.Unlink(ctx, e.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// isAncestorOf reports whether directory n is above m.
func (n *node) isAncestorOf(m *node) bool {
	for {
		m.mu.Lock()
		p := m.parent
		m.mu.Unlock()
		if p == nil {
			return false
		}
		if p == n {
			return true
		}
		m = p
	}
}

// Getdents implements vfs.Inode: upper entries first, then the lower ones
// nothing in the upper layer hides. A removed directory is empty.
func (n *node) Getdents(ctx vfs.Context) ([]vfs.Dirent, error) {
	if !n.isDir() {
		return nil, unix.ENOTDIR
	}
	n.mu.Lock()
	removed := n.removed
	n.mu.Unlock()
	if removed {
		return nil, nil
	}
	var lowerDev uint64
	if n.lowerInode() != nil {
		if _, err := n.identity(ctx); err != nil {
			return nil, err
		}
		n.mu.Lock()
		lowerDev = n.lowerDev
		n.mu.Unlock()
	}
	n.dirMu.Lock()
	defer n.dirMu.Unlock()
	return n.listLocked(ctx, lowerDev, false)
}

// listLocked lists the merged directory (n.dirMu held); with first it
// stops at the first entry (an emptiness check).
func (n *node) listLocked(ctx vfs.Context, lowerDev uint64, first bool) ([]vfs.Dirent, error) {
	upper, lower := n.layers()
	var out []vfs.Dirent
	var seen map[string]bool
	if upper != nil {
		ents, err := upper.Getdents(ctx)
		if err != nil {
			return nil, err
		}
		seen = make(map[string]bool, len(ents))
		for _, e := range ents {
			seen[e.Name] = true
			if e.Type == unix.DT_CHR {
				if i, err := upper.Lookup(ctx, e.Name); err == nil && isWhiteout(ctx, i) {
					continue
				}
			}
			e.Ino = n.childIno(e.Name, upperIno(e.Ino))
			out = append(out, e)
			if first {
				return out, nil
			}
		}
	}
	if lower != nil {
		ents, err := lower.Getdents(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if seen[e.Name] {
				continue
			}
			e.Ino = n.childIno(e.Name, n.fs.lowerIno(lowerDev, e.Ino))
			out = append(out, e)
			if first {
				return out, nil
			}
		}
	}
	return out, nil
}

// childIno is the inode number getdents shows for name: its node's, when
// known (copied-up files keep their lower number), else def.
func (n *node) childIno(name string, def uint64) uint64 {
	if c := n.children[name]; c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.ino != 0 {
			return c.ino
		}
	}
	return def
}

// emptyLocked reports whether directory n has no entries in the merge
// (n.dirMu held).
func (n *node) emptyLocked(ctx vfs.Context) (bool, error) {
	ents, err := n.listLocked(ctx, 0, true)
	return len(ents) == 0, err
}

// prepareCreate copies n up and takes n.dirMu for a new entry name; the
// caller unlocks. It reports whether a whiteout was there (the new entry
// then covers a lower one).
func (n *node) prepareCreate(ctx vfs.Context, name string) (bool, error) {
	if !n.isDir() {
		return false, unix.ENOTDIR
	}
	if err := n.copyUp(ctx, -1); err != nil {
		return false, err
	}
	n.dirMu.Lock()
	wh, err := n.dropWhiteoutLocked(ctx, name)
	if err != nil {
		n.dirMu.Unlock()
	}
	return wh, err
}

// undoCreateLocked puts back the whiteout prepareCreate removed.
func (n *node) undoCreateLocked(ctx vfs.Context, name string, wh bool) {
	if wh {
		makeWhiteout(ctx, n.upperInode(), name)
	}
}

// Create implements vfs.Inode.
func (n *node) Create(ctx vfs.Context, name string, flags uint32, mode uint32) (vfs.Inode, vfs.FileImpl, error) {
	wh, err := n.prepareCreate(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	defer n.dirMu.Unlock()
	u, impl, err := n.upperInode().Create(ctx, name, flags, mode)
	if err != nil {
		n.undoCreateLocked(ctx, name, wh)
		return nil, nil, err
	}
	c := n.newChildLocked(name, unix.S_IFREG, u, nil)
	return c, &regFile{n: c, impl: impl, onUpper: true}, nil
}

// Mkdir implements vfs.Inode. A directory made over a whiteout is opaque.
func (n *node) Mkdir(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	wh, err := n.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	defer n.dirMu.Unlock()
	u, err := n.upperInode().Mkdir(ctx, name, mode)
	if err != nil {
		n.undoCreateLocked(ctx, name, wh)
		return nil, err
	}
	if wh {
		n.fs.setOpaque(u)
	}
	return n.newChildLocked(name, unix.S_IFDIR, u, nil), nil
}

// Mknod implements vfs.Inode. A character device 0:0 gives EPERM: it
// would be taken for a whiteout.
func (n *node) Mknod(ctx vfs.Context, name string, mode uint32, dev uint64) (vfs.Inode, error) {
	if mode&unix.S_IFMT == unix.S_IFCHR && dev == 0 {
		return nil, unix.EPERM
	}
	wh, err := n.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	defer n.dirMu.Unlock()
	u, err := n.upperInode().Mknod(ctx, name, mode, dev)
	if err != nil {
		n.undoCreateLocked(ctx, name, wh)
		return nil, err
	}
	return n.newChildLocked(name, mode&unix.S_IFMT, u, nil), nil
}

// Symlink implements vfs.Inode.
func (n *node) Symlink(ctx vfs.Context, name, target string) (vfs.Inode, error) {
	wh, err := n.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	defer n.dirMu.Unlock()
	u, err := n.upperInode().Symlink(ctx, name, target)
	if err != nil {
		n.undoCreateLocked(ctx, name, wh)
		return nil, err
	}
	return n.newChildLocked(name, unix.S_IFLNK, u, nil), nil
}

// Link implements vfs.Inode: the target is copied up and linked in the
// upper layer, so its link count counts upper links only.
func (n *node) Link(ctx vfs.Context, name string, target vfs.Inode) error {
	t, ok := target.(*node)
	if !ok || t.fs != n.fs {
		return unix.EXDEV
	}
	if t.isDir() {
		return unix.EPERM
	}
	if err := t.copyUp(ctx, -1); err != nil {
		return err
	}
	wh, err := n.prepareCreate(ctx, name)
	if err != nil {
		return err
	}
	defer n.dirMu.Unlock()
	if err := n.upperInode().Link(ctx, name, t.upperInode()); err != nil {
		n.undoCreateLocked(ctx, name, wh)
		return err
	}
	n.addChildLocked(name, t)
	return nil
}

// Unlink implements vfs.Inode.
func (n *node) Unlink(ctx vfs.Context, name string) error {
	c, err := n.child(ctx, name)
	if err != nil {
		return err
	}
	if c.isDir() {
		return unix.EISDIR
	}
	return n.remove(ctx, name, c)
}

// Rmdir implements vfs.Inode.
func (n *node) Rmdir(ctx vfs.Context, name string) error {
	c, err := n.child(ctx, name)
	if err != nil {
		return err
	}
	if !c.isDir() {
		return unix.ENOTDIR
	}
	return n.remove(ctx, name, c)
}

// remove takes name (whose node is c) out of the merge: the upper entry
// goes, and a whiteout hides the lower one if there is one.
func (n *node) remove(ctx vfs.Context, name string, c *node) error {
	// The whiteout needs an upper directory.
	if err := n.copyUp(ctx, -1); err != nil {
		return err
	}
	c.copyMu.Lock()
	defer c.copyMu.Unlock()
	n.dirMu.Lock()
	defer n.dirMu.Unlock()
	if n.children[name] != c {
		return unix.ENOENT
	}
	// A node without an upper copy never moved: its lower inode is
	// n's lower entry name.
	cu, cl := c.layers()
	covers := cu == nil && cl != nil
	if !covers {
		var err error
		if covers, err = n.lowerHasLocked(ctx, name); err != nil {
			return err
		}
	}
	upper := n.upperInode()
	if c.isDir() {
		c.dirMu.Lock()
		defer c.dirMu.Unlock()
		empty, err := c.emptyLocked(ctx)
		if err != nil {
			return err
		}
		if !empty {
			return unix.ENOTEMPTY
		}
	}
	if cu != nil {
		var err error
		if c.isDir() {
			if err := clearWhiteouts(ctx, cu); err != nil {
				return err
			}
			err = upper.Rmdir(ctx, name)
		} else {
			err = upper.Unlink(ctx, name)
		}
		if err != nil {
			return err
		}
	}
	if covers {
		if err := makeWhiteout(ctx, upper, name); err != nil {
			return err
		}
	}
	n.droppedLocked(ctx, name, c)
	return nil
}

// Rename implements vfs.Inode. Files are copied up and moved in the upper
// layer; a directory with a lower layer gives EXDEV (no redirect_dir).
// The VFS has checked types, loops and mount points.
func (n *node) Rename(ctx vfs.Context, oldName string, newDir vfs.Inode, newName string) error {
	np, ok := newDir.(*node)
	if !ok || np.fs != n.fs {
		return unix.EXDEV
	}
	if !n.isDir() || !np.isDir() {
		return unix.ENOTDIR
	}
	src, err := n.child(ctx, oldName)
	if err != nil {
		return err
	}
	if src.isDir() && src.lowerInode() != nil {
		return unix.EXDEV
	}
	dst, err := np.child(ctx, newName)
	switch {
	case err == unix.ENOENT:
		dst = nil
	case err != nil:
		return err
	case dst == src:
		return nil
	}
	if err := src.copyUp(ctx, -1); err != nil {
		return err
	}
	if err := n.copyUp(ctx, -1); err != nil {
		return err
	}
	if err := np.copyUp(ctx, -1); err != nil {
		return err
	}
	if dst != nil {
		dst.copyMu.Lock()
		defer dst.copyMu.Unlock()
	}
	// Renames are serialized by the VFS; the ancestor goes first, the
	// order remove uses.
	first, second := n, np
	if np.isAncestorOf(n) {
		first, second = np, n
	}
	first.dirMu.Lock()
	defer first.dirMu.Unlock()
	if second != first {
		second.dirMu.Lock()
		defer second.dirMu.Unlock()
	}
	if n.children[oldName] != src || (dst != nil && np.children[newName] != dst) {
		return unix.ENOENT
	}
	if dst != nil && dst.isDir() {
		dst.dirMu.Lock()
		defer dst.dirMu.Unlock()
		empty, err := dst.emptyLocked(ctx)
		if err != nil {
			return err
		}
		if !empty {
			return unix.ENOTEMPTY
		}
	}
	whiteoutOld, err := n.lowerHasLocked(ctx, oldName)
	if err != nil {
		return err
	}
	newCovered, err := np.lowerHasLocked(ctx, newName)
	if err != nil {
		return err
	}
	ou, nu := n.upperInode(), np.upperInode()
	// The upper layer must not refuse what the merge allows: a whiteout
	// at the new name goes, a replaced directory loses its whiteouts.
	e, wh, err := upperEntry(ctx, nu, newName)
	if err != nil {
		return err
	}
	switch {
	case e != nil && wh:
		if err := nu.Unlink(ctx, newName); err != nil {
			return err
		}
	case e != nil && dst != nil && dst.isDir():
		if err := clearWhiteouts(ctx, e); err != nil {
			return err
		}
	}
	if err := ou.Rename(ctx, oldName, nu, newName); err != nil {
		if e != nil && wh {
			makeWhiteout(ctx, nu, newName)
		}
		return err
	}
	if whiteoutOld {
		if err := makeWhiteout(ctx, ou, oldName); err != nil {
			return err
		}
	}
	su := src.upperInode()
	if src.isDir() && newCovered {
		n.fs.setOpaque(su)
	}
	delete(n.children, oldName)
	if dst != nil {
		np.droppedLocked(ctx, newName, dst)
	}
	np.addChildLocked(newName, src)
	src.mu.Lock()
	src.parent, src.name = np, newName
	src.mu.Unlock()
	return nil
}
