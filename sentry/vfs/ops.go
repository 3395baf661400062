package vfs

import (
	"time"

	"golang.org/x/sys/unix"
)

// oTmpfileBit is Linux's __O_TMPFILE, the bit O_TMPFILE adds to
// O_DIRECTORY.
const oTmpfileBit = unix.O_TMPFILE &^ unix.O_DIRECTORY

// isSpecialName reports whether a last component is not a normal name.
func isSpecialName(name string) bool { return name == "" || name == "." || name == ".." }

// Open implements open(2)/openat(2)/creat(2): flags are the open flags, mode
// the creation mode (pop.Umask is removed from it). It follows the Linux
// rules for O_CREAT, O_EXCL (never follows a final symlink), O_NOFOLLOW
// (ELOOP on a final symlink, unless O_PATH), O_DIRECTORY, O_TRUNC, O_PATH,
// trailing slashes (EISDIR with O_CREAT), and creates the target of a
// dangling symlink with O_CREAT. O_TMPFILE gives EOPNOTSUPP.
func (v *VirtualFilesystem) Open(ctx Context, pop PathOperation, flags uint32, mode uint32) (*FileDescription, error) {
	if flags&unix.O_TMPFILE == unix.O_TMPFILE {
		return v.openTmpfile(ctx, pop, flags, mode)
	}
	if flags&oTmpfileBit != 0 {
		// __O_TMPFILE without O_DIRECTORY (build_open_flags).
		return nil, unix.EINVAL
	}
	if flags&unix.O_PATH != 0 {
		flags &= unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	}
	r := v.newResolver(ctx, pop)
	start, path := pop.Start, pop.Path
	follow := flags&unix.O_NOFOLLOW == 0
	// held is the directory a symlink's target is resolved from, held
	// across the next iteration.
	var held VirtualDentry
	defer func() { held.DecRef() }()
	for {
		parent, last, trailing, err := r.walkParent(start, path)
		if err != nil {
			return nil, err
		}
		held.DecRef()
		held = parent
		var vd VirtualDentry
		switch {
		case isSpecialName(last):
			if flags&unix.O_CREAT != 0 {
				return nil, unix.EISDIR
			}
			if last == "" {
				vd = parent
				vd.IncRef()
			} else if vd, err = r.lookup(parent, last); err != nil {
				return nil, err
			}
		case flags&unix.O_CREAT != 0:
			if trailing {
				return nil, unix.EISDIR
			}
			fd, existing, err := v.openCreate(ctx, parent, last, flags, (mode&0o7777)&^pop.Umask)
			if err != nil {
				return nil, err
			}
			if fd != nil {
				v.opened(fd)
				return fd, nil
			}
			vd = existing
			if vd.Dentry.IsSymlink() {
				link := vd
				defer link.DecRef()
				if !follow {
					return nil, unix.ELOOP
				}
				r.links++
				if r.links > MaxSymlinks {
					return nil, unix.ELOOP
				}
				if ml, ok := vd.Dentry.inode.(MagicLinker); ok {
					if vd, err = ml.FollowMagicLink(ctx); err != nil {
						return nil, err
					}
					break
				}
				target, err := vd.Dentry.inode.Readlink(ctx)
				if err != nil {
					return nil, err
				}
				if target == "" {
					return nil, unix.ENOENT
				}
				start, path = parent, target
				continue
			}
		default:
			if vd, err = r.finish(parent, last, trailing, follow); err != nil {
				return nil, err
			}
		}
		defer vd.DecRef()
		fd, err := v.openDentry(ctx, vd, flags)
		if err != nil {
			return nil, err
		}
		v.opened(fd)
		return fd, nil
	}
}

// openCreate handles the last component of an O_CREAT open: it creates the
// file (returning its description), or returns the existing child (with a
// reference the caller owns).
func (v *VirtualFilesystem) openCreate(ctx Context, parent VirtualDentry, name string, flags, mode uint32) (*FileDescription, VirtualDentry, error) {
	p := parent.Dentry
	if err := mayAccessDentry(ctx, p, MayExec); err != nil {
		return nil, VirtualDentry{}, err
	}
	p.dirMu.Lock()
	if p.dead.Load() {
		p.dirMu.Unlock()
		return nil, VirtualDentry{}, unix.ENOENT
	}
	child, err := v.childLocked(ctx, p, name)
	if err != nil {
		p.dirMu.Unlock()
		return nil, VirtualDentry{}, err
	}
	if child != nil {
		p.dirMu.Unlock()
		if flags&unix.O_EXCL != 0 {
			child.DecRef()
			return nil, VirtualDentry{}, unix.EEXIST
		}
		return nil, v.crossMountsRef(VirtualDentry{parent.Mount, child}), nil
	}
	defer p.dirMu.Unlock()
	if parent.Mount.ReadOnly() {
		return nil, VirtualDentry{}, unix.EROFS
	}
	if err := mayAccessDentry(ctx, p, MayWrite|MayExec); err != nil {
		return nil, VirtualDentry{}, err
	}
	inode, impl, err := p.inode.Create(ctx, name, flags, mode)
	if err != nil {
		return nil, VirtualDentry{}, err
	}
	d, err := v.newChildLocked(ctx, p, name, inode)
	if err != nil {
		impl.Release()
		return nil, VirtualDentry{}, err
	}
	fd := v.newFileDescription(impl, flags, VirtualDentry{parent.Mount, d})
	d.DecRef()
	v.dirEvent(p, name, InCreate, 0, false)
	return fd, VirtualDentry{}, nil
}

// accessWanted returns the permission an open with flags needs.
func accessWanted(flags uint32) uint32 {
	var want uint32
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		want = MayRead
	case unix.O_WRONLY:
		want = MayWrite
	default:
		want = MayRead | MayWrite
	}
	if flags&unix.O_TRUNC != 0 {
		want |= MayWrite
	}
	return want
}

// openDentry opens an existing file.
func (v *VirtualFilesystem) openDentry(ctx Context, vd VirtualDentry, flags uint32) (*FileDescription, error) {
	d := vd.Dentry
	if flags&unix.O_PATH != 0 {
		if flags&unix.O_DIRECTORY != 0 && !d.IsDir() {
			return nil, unix.ENOTDIR
		}
		return v.newFileDescription(pathFile{}, flags, vd), nil
	}
	if d.IsSymlink() {
		return nil, unix.ELOOP
	}
	if flags&unix.O_DIRECTORY != 0 && !d.IsDir() {
		return nil, unix.ENOTDIR
	}
	want := accessWanted(flags)
	if d.IsDir() {
		if want&MayWrite != 0 || flags&unix.O_CREAT != 0 {
			return nil, unix.EISDIR
		}
	}
	if err := mayAccessDentry(ctx, d, want); err != nil {
		return nil, err
	}
	if want&MayWrite != 0 && vd.Mount.ReadOnly() && (d.ftype == unix.S_IFREG || d.ftype == unix.S_IFDIR) {
		return nil, unix.EROFS
	}
	if d.IsDir() {
		return v.newFileDescription(&dirFile{state: dirState{vd: vd, v: v}}, flags, vd), nil
	}
	impl, err := d.inode.Open(ctx, flags)
	if err != nil {
		return nil, err
	}
	fd := v.newFileDescription(impl, flags, vd)
	if flags&unix.O_TRUNC != 0 && want&MayWrite != 0 && d.ftype == unix.S_IFREG {
		// Linux's handle_truncate: IN_MODIFY, before IN_OPEN.
		v.inodeEvent(d, InModify)
	}
	return fd, nil
}

// OpenExecutable opens the file at pop for execve or the ELF interpreter:
// it must be a regular file with execute permission (EACCES otherwise,
// also on a noexec mount) that nobody has open for writing (ETXTBSY). A
// final symlink is followed unless pop.FollowFinal is false (execveat's
// AT_SYMLINK_NOFOLLOW): then it is ELOOP. The result is open O_RDONLY:
// use PRead to read headers, Mappable to map segments and PathName for
// /proc/self/exe.
func (v *VirtualFilesystem) OpenExecutable(ctx Context, pop PathOperation) (*FileDescription, error) {
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return nil, err
	}
	defer vd.DecRef()
	return v.OpenExecutableDentry(ctx, vd)
}

// OpenExecutableDentry is OpenExecutable of an already resolved file
// (fexecve(3): execveat of a descriptor with AT_EMPTY_PATH). The caller
// keeps its reference on vd; the file takes its own.
func (v *VirtualFilesystem) OpenExecutableDentry(ctx Context, vd VirtualDentry) (*FileDescription, error) {
	if vd.Dentry.IsSymlink() {
		return nil, unix.ELOOP
	}
	if vd.Dentry.ftype != unix.S_IFREG || vd.Mount.NoExec() {
		return nil, unix.EACCES
	}
	if err := mayAccess(ctx, vd.Dentry.inode, MayExec); err != nil {
		return nil, err
	}
	if err := checkNotWritten(vd.Dentry.inode); err != nil {
		return nil, err
	}
	impl, err := vd.Dentry.inode.Open(ctx, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return v.newFileDescription(impl, unix.O_RDONLY, vd), nil
}

// create runs the common part of mkdir, mknod, symlink and link: it
// resolves the parent, checks that the name is free (EEXIST), the mount
// writable (EROFS) and the parent writable (EACCES), then calls fn with
// parent.dirMu held. fn returns the new inode to cache (or nil).
func (v *VirtualFilesystem) create(ctx Context, pop PathOperation, wantDir bool, fn func(p VirtualDentry, name string) (Inode, error)) error {
	r := v.newResolver(ctx, pop)
	parent, name, trailing, err := r.walkParent(pop.Start, pop.Path)
	if err != nil {
		return err
	}
	defer parent.DecRef()
	if isSpecialName(name) {
		return unix.EEXIST
	}
	p := parent.Dentry
	if err := mayAccessDentry(ctx, p, MayExec); err != nil {
		return err
	}
	p.dirMu.Lock()
	defer p.dirMu.Unlock()
	if p.dead.Load() {
		return unix.ENOENT
	}
	child, err := v.childLocked(ctx, p, name)
	if err != nil {
		return err
	}
	if child != nil {
		child.DecRef()
		return unix.EEXIST
	}
	if trailing && !wantDir {
		return unix.ENOENT
	}
	if parent.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := mayAccessDentry(ctx, p, MayWrite|MayExec); err != nil {
		return err
	}
	inode, err := fn(parent, name)
	if err != nil {
		return err
	}
	if inode == nil {
		// Link: the new name is looked up when it is next walked.
		v.dirEvent(p, name, InCreate, 0, false)
		return nil
	}
	d, err := v.newChildLocked(ctx, p, name, inode)
	if err != nil {
		return err
	}
	v.dirEvent(p, name, InCreate, 0, d.IsDir())
	d.DecRef()
	return nil
}

// Mkdir implements mkdir(2); mode is masked with 07777 and pop.Umask.
func (v *VirtualFilesystem) Mkdir(ctx Context, pop PathOperation, mode uint32) error {
	mode = mode & 0o1777 &^ pop.Umask
	return v.create(ctx, pop, true, func(p VirtualDentry, name string) (Inode, error) {
		return p.Dentry.inode.Mkdir(ctx, name, mode)
	})
}

// Mknod implements mknod(2): mode holds the file type (0 means S_IFREG)
// and permissions (masked with pop.Umask). Device nodes need CAP_MKNOD
// (EPERM); directories give EPERM and unknown types EINVAL.
func (v *VirtualFilesystem) Mknod(ctx Context, pop PathOperation, mode uint32, dev uint64) error {
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		if !hasCap(ctx, unix.CAP_MKNOD) {
			return unix.EPERM
		}
	case unix.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	mode = mode&unix.S_IFMT | (mode&0o7777)&^pop.Umask
	return v.create(ctx, pop, false, func(p VirtualDentry, name string) (Inode, error) {
		return p.Dentry.inode.Mknod(ctx, name, mode, dev)
	})
}

// MknodSocket creates the socket node of bind(2) on a unix socket
// (unix_bind_bsd): an S_IFSOCK file with permissions perm less pop.Umask,
// as Mknod would. It returns the new inode, by which the socket layer
// finds the bound socket again (the node is only a name: no filesystem
// carries the traffic). EEXIST if the name exists.
func (v *VirtualFilesystem) MknodSocket(ctx Context, pop PathOperation, perm uint32) (Inode, error) {
	mode := unix.S_IFSOCK | (perm&0o777)&^pop.Umask
	var made Inode
	err := v.create(ctx, pop, false, func(p VirtualDentry, name string) (Inode, error) {
		inode, err := p.Dentry.inode.Mknod(ctx, name, mode, 0)
		made = inode
		return inode, err
	})
	if err != nil {
		return nil, err
	}
	return made, nil
}

// Symlink implements symlink(2): creates pop's path as a link to target.
func (v *VirtualFilesystem) Symlink(ctx Context, target string, pop PathOperation) error {
	if target == "" {
		return unix.ENOENT
	}
	return v.create(ctx, pop, false, func(p VirtualDentry, name string) (Inode, error) {
		return p.Dentry.inode.Symlink(ctx, name, target)
	})
}

// Link implements link(2)/linkat(2): old (old.FollowFinal for
// AT_SYMLINK_FOLLOW) gets the new name newPop. EPERM for directories,
// EXDEV across mounts.
func (v *VirtualFilesystem) Link(ctx Context, old, newPop PathOperation) error {
	ovd, err := v.GetDentry(ctx, old)
	if err != nil {
		return err
	}
	defer ovd.DecRef()
	return v.LinkAt(ctx, ovd, newPop)
}

// LinkAt is Link of an already resolved file (linkat with AT_EMPTY_PATH, or
// of /proc/self/fd/N): an O_TMPFILE file without O_EXCL gets its first
// name; other unlinked files give ENOENT.
func (v *VirtualFilesystem) LinkAt(ctx Context, ovd VirtualDentry, newPop PathOperation) error {
	if ovd.Dentry.IsDir() {
		return unix.EPERM
	}
	return v.create(ctx, newPop, false, func(p VirtualDentry, name string) (Inode, error) {
		if p.Mount != ovd.Mount {
			return nil, unix.EXDEV
		}
		if ovd.Dentry.dead.Load() && !ovd.Dentry.tmpfile {
			return nil, unix.ENOENT
		}
		if err := p.Dentry.inode.Link(ctx, name, ovd.Dentry.inode); err != nil {
			return nil, err
		}
		// fsnotify_link: IN_ATTRIB (the link count), then IN_CREATE.
		v.selfEvent(ovd.Dentry, InAttrib)
		return nil, nil
	})
}

// Unlink implements unlink(2): EISDIR for directories, EBUSY for mount
// points; the final component is never followed.
func (v *VirtualFilesystem) Unlink(ctx Context, pop PathOperation) error {
	return v.remove(ctx, pop, false)
}

// Rmdir implements rmdir(2) (and unlinkat with AT_REMOVEDIR).
func (v *VirtualFilesystem) Rmdir(ctx Context, pop PathOperation) error {
	return v.remove(ctx, pop, true)
}

func (v *VirtualFilesystem) remove(ctx Context, pop PathOperation, dir bool) error {
	r := v.newResolver(ctx, pop)
	parent, name, trailing, err := r.walkParent(pop.Start, pop.Path)
	if err != nil {
		return err
	}
	defer parent.DecRef()
	if isSpecialName(name) {
		switch {
		case !dir:
			return unix.EISDIR
		case name == ".":
			return unix.EINVAL
		case name == "..":
			return unix.ENOTEMPTY
		default:
			return unix.EBUSY
		}
	}
	p := parent.Dentry
	if err := mayAccessDentry(ctx, p, MayExec); err != nil {
		return err
	}
	p.dirMu.Lock()
	defer p.dirMu.Unlock()
	child, err := v.lookupChildLocked(ctx, p, name)
	if err != nil {
		return err
	}
	defer child.DecRef()
	if dir {
		if !child.IsDir() {
			return unix.ENOTDIR
		}
	} else {
		if child.IsDir() {
			return unix.EISDIR
		}
		if trailing {
			return unix.ENOTDIR
		}
	}
	if v.mountedOn(parent.Mount, child) || child.synthetic {
		return unix.EBUSY
	}
	if parent.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := mayDelete(ctx, p, child); err != nil {
		return err
	}
	if dir {
		child.dirMu.Lock()
		for _, c := range child.children {
			if c.synthetic || c.mounts.Load() > 0 {
				child.dirMu.Unlock()
				return unix.EBUSY
			}
		}
		err = p.inode.Rmdir(ctx, name)
		if err == nil {
			child.dead.Store(true)
			// Entries still cached (the filesystem changed behind
			// our back) go with it.
			for n, c := range child.children {
				v.dropChildLocked(child, n, c)
			}
		}
		child.dirMu.Unlock()
	} else {
		err = p.inode.Unlink(ctx, name)
	}
	if err != nil {
		return err
	}
	v.dropChildLocked(p, name, child)
	if !dir {
		v.selfEvent(child, InAttrib)
	}
	v.deleted(child)
	v.dirEvent(p, name, InDelete, 0, dir)
	return nil
}

// Rename implements rename(2)/renameat2(2). flags may be 0 or
// RENAME_NOREPLACE (others: EINVAL). EXDEV across mounts, EBUSY for mount
// points and "."/"..", EINVAL when moving a directory under itself.
func (v *VirtualFilesystem) Rename(ctx Context, oldPop, newPop PathOperation, flags uint32) error {
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return unix.EINVAL
	}
	r := v.newResolver(ctx, oldPop)
	oldParent, oldName, oldTrailing, err := r.walkParent(oldPop.Start, oldPop.Path)
	if err != nil {
		return err
	}
	defer oldParent.DecRef()
	r2 := v.newResolver(ctx, newPop)
	newParent, newName, newTrailing, err := r2.walkParent(newPop.Start, newPop.Path)
	if err != nil {
		return err
	}
	defer newParent.DecRef()
	if isSpecialName(oldName) || isSpecialName(newName) {
		return unix.EBUSY
	}
	if oldParent.Mount != newParent.Mount {
		return unix.EXDEV
	}
	op, np := oldParent.Dentry, newParent.Dentry
	if err := mayAccessDentry(ctx, op, MayExec); err != nil {
		return err
	}
	if err := mayAccessDentry(ctx, np, MayExec); err != nil {
		return err
	}
	var oldChild, newChild *Dentry
	defer func() {
		// After every lock below is released.
		if oldChild != nil {
			oldChild.DecRef()
		}
		if newChild != nil {
			newChild.DecRef()
		}
	}()
	v.renameMu.Lock()
	defer v.renameMu.Unlock()
	// Lock the two directories ancestor first, the order rmdir uses
	// (parent, then child); renameMu orders renames among themselves.
	first, second := op, np
	if np != op {
		v.nameMu.RLock()
		for d := op.parent; d != nil; d = d.parent {
			if d == np {
				first, second = np, op
				break
			}
		}
		v.nameMu.RUnlock()
	}
	first.dirMu.Lock()
	defer first.dirMu.Unlock()
	if second != first {
		second.dirMu.Lock()
		defer second.dirMu.Unlock()
	}
	oldChild, err = v.lookupChildLocked(ctx, op, oldName)
	if err != nil {
		return err
	}
	if np.dead.Load() {
		return unix.ENOENT
	}
	newChild, err = v.childLocked(ctx, np, newName)
	if err != nil {
		return err
	}
	if (oldTrailing || newTrailing) && !oldChild.IsDir() {
		return unix.ENOTDIR
	}
	if newChild != nil && flags&unix.RENAME_NOREPLACE != 0 {
		return unix.EEXIST
	}
	if newChild == oldChild || (newChild != nil && newChild.inode == oldChild.inode) {
		return nil
	}
	if oldChild.IsDir() {
		if newChild != nil && !newChild.IsDir() {
			return unix.ENOTDIR
		}
		v.nameMu.RLock()
		loop := false
		for d := np; d != nil; d = d.parent {
			if d == oldChild {
				loop = true
				break
			}
		}
		v.nameMu.RUnlock()
		if loop {
			return unix.EINVAL
		}
	} else if newChild != nil && newChild.IsDir() {
		return unix.EISDIR
	}
	if oldChild.mounts.Load() > 0 || oldChild.synthetic || (newChild != nil && (newChild.mounts.Load() > 0 || newChild.synthetic)) {
		return unix.EBUSY
	}
	if oldParent.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := mayDelete(ctx, op, oldChild); err != nil {
		return err
	}
	if newChild != nil {
		err = mayDelete(ctx, np, newChild)
	} else {
		err = mayAccessDentry(ctx, np, MayWrite|MayExec)
	}
	if err != nil {
		return err
	}
	if err := op.inode.Rename(ctx, oldName, np.inode, newName); err != nil {
		return err
	}
	if newChild != nil {
		v.dropChildLocked(np, newName, newChild)
	}
	v.nameMu.Lock()
	if op.children[oldName] == oldChild {
		delete(op.children, oldName)
	}
	oldChild.parent = np
	oldChild.name = newName
	v.addChildLocked(np, newName, oldChild)
	v.nameMu.Unlock()
	if op != np {
		// The child's reference on its parent moves with it; op is
		// still held by this operation.
		np.IncRef()
		op.DecRef()
	}
	if v.watching() {
		cookie := v.newCookie()
		isDir := oldChild.IsDir()
		v.dirEvent(op, oldName, InMovedFrom, cookie, isDir)
		v.dirEvent(np, newName, InMovedTo, cookie, isDir)
		if newChild != nil && !newChild.IsDir() {
			v.selfEvent(newChild, InAttrib)
		}
		v.selfEvent(oldChild, InMoveSelf)
		if newChild != nil {
			v.deleted(newChild)
		}
	}
	return nil
}

// Readlink implements readlink(2) (the final component is not followed):
// EINVAL if it is not a symlink.
func (v *VirtualFilesystem) Readlink(ctx Context, pop PathOperation) (string, error) {
	pop.FollowFinal = false
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return "", err
	}
	defer vd.DecRef()
	if !vd.Dentry.IsSymlink() {
		return "", unix.EINVAL
	}
	return vd.Dentry.inode.Readlink(ctx)
}

// Stat implements stat(2)/lstat(2) (pop.FollowFinal chooses).
func (v *VirtualFilesystem) Stat(ctx Context, pop PathOperation) (Stat, error) {
	st, _, err := v.StatMount(ctx, pop)
	return st, err
}

// SetStat implements chmod, chown and utimes on a path (not size: see
// Truncate). Permission rules (Linux's setattr_prepare): mode and explicit
// times need the owner or CAP_FOWNER (EPERM), and a set-group-ID bit stays
// only for a member of the file's group or with CAP_FSETID; setting times
// to now needs the owner, CAP_FOWNER or write permission (EACCES);
// changing the owner needs CAP_CHOWN (the owner may "change" it to
// itself), changing the group CAP_CHOWN or the owner changing it to a
// group it is in. Timespec Nsec values UTIME_NOW and UTIME_OMIT
// are resolved here, so filesystems never see them. EROFS on read-only
// mounts.
func (v *VirtualFilesystem) SetStat(ctx Context, pop PathOperation, s SetStat) error {
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return err
	}
	defer vd.DecRef()
	return v.SetStatAt(ctx, vd, s)
}

func setStat(ctx Context, inode Inode, readOnly bool, s SetStat) error {
	if s.Valid&AttrAtime != 0 && s.Atime.Nsec == unix.UTIME_OMIT {
		s.Valid &^= AttrAtime
	}
	if s.Valid&AttrMtime != 0 && s.Mtime.Nsec == unix.UTIME_OMIT {
		s.Valid &^= AttrMtime
	}
	if s.Valid == 0 {
		return nil
	}
	if readOnly {
		return unix.EROFS
	}
	st, err := inode.Stat(ctx)
	if err != nil {
		return err
	}
	if s.Valid&AttrMode != 0 {
		if !isOwnerOrCapable(ctx, &st) {
			return unix.EPERM
		}
		s.Mode &= 0o7777
		if !inGroup(ctx, st.GID) && !hasCapOver(ctx, unix.CAP_FSETID, &st) {
			s.Mode &^= unix.S_ISGID
		}
	}
	if s.Valid&(AttrUID|AttrGID) != 0 {
		owner, mayChown := ctx.FSUID() == st.UID, hasCapOver(ctx, unix.CAP_CHOWN, &st)
		if s.Valid&AttrUID != 0 && !(owner && s.UID == st.UID) && !mayChown {
			return unix.EPERM
		}
		if s.Valid&AttrGID != 0 && !(owner && (s.GID == st.GID || inGroup(ctx, s.GID))) && !mayChown {
			return unix.EPERM
		}
		if s.Valid&AttrUID != 0 && s.UID == st.UID && s.Valid&AttrGID == 0 {
			// no-op ownership change: keep setuid bits
		} else if st.Mode&unix.S_IFMT != unix.S_IFDIR && s.Valid&AttrMode == 0 {
			m := st.Mode & 0o7777
			nm := m &^ unix.S_ISUID
			if m&0o010 != 0 {
				nm &^= unix.S_ISGID
			}
			if nm != m {
				s.Valid |= AttrMode
				s.Mode = nm
			}
		}
	}
	if s.Valid&(AttrAtime|AttrMtime) != 0 {
		now := true
		if s.Valid&AttrAtime != 0 && s.Atime.Nsec != unix.UTIME_NOW {
			now = false
		}
		if s.Valid&AttrMtime != 0 && s.Mtime.Nsec != unix.UTIME_NOW {
			now = false
		}
		if !isOwnerOrCapable(ctx, &st) {
			if !now {
				return unix.EPERM
			}
			if err := CheckPermission(ctx, &st, MayWrite); err != nil {
				return err
			}
		}
		t := NowTimespec()
		if s.Valid&AttrAtime != 0 && s.Atime.Nsec == unix.UTIME_NOW {
			s.Atime = t
		}
		if s.Valid&AttrMtime != 0 && s.Mtime.Nsec == unix.UTIME_NOW {
			s.Mtime = t
		}
	}
	return inode.SetStat(ctx, s)
}

// NowTimespec returns the current time as a Timespec.
func NowTimespec() unix.Timespec {
	return unix.NsecToTimespec(time.Now().UnixNano())
}

// Truncate implements truncate(2): EISDIR for directories, EINVAL for other
// non-regular files or a negative size, EACCES without write permission.
func (v *VirtualFilesystem) Truncate(ctx Context, pop PathOperation, size int64) error {
	pop.FollowFinal = true
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if size < 0 {
		return unix.EINVAL
	}
	switch vd.Dentry.ftype {
	case unix.S_IFDIR:
		return unix.EISDIR
	case unix.S_IFREG:
	default:
		return unix.EINVAL
	}
	if err := mayAccessDentry(ctx, vd.Dentry, MayWrite); err != nil {
		return err
	}
	if vd.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := limitTruncate(ctx, vd.Dentry.inode, size); err != nil { // RLIMIT_FSIZE
		return err
	}
	if err := vd.Dentry.inode.SetStat(ctx, SetStat{Valid: AttrSize, Size: size}); err != nil {
		return err
	}
	v.inodeEvent(vd.Dentry, InModify)
	return nil
}

// Access implements access(2)/faccessat(2): mode is F_OK (0) or a mask of
// R_OK, W_OK, X_OK, checked with ctx's FSUID/FSGID and capabilities
// (access(2) passes a context with the real ids). W_OK on a read-only mount gives EROFS for regular files,
// directories and symlinks.
func (v *VirtualFilesystem) Access(ctx Context, pop PathOperation, mode uint32) error {
	if mode&^7 != 0 {
		return unix.EINVAL
	}
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if mode == 0 {
		return nil
	}
	if mode&unix.W_OK != 0 && vd.Mount.ReadOnly() {
		switch vd.Dentry.ftype {
		case unix.S_IFREG, unix.S_IFDIR, unix.S_IFLNK:
			return unix.EROFS
		}
	}
	return mayAccess(ctx, vd.Dentry.inode, mode)
}

// StatFS implements statfs(2).
func (v *VirtualFilesystem) StatFS(ctx Context, pop PathOperation) (StatFS, error) {
	pop.FollowFinal = true
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return StatFS{}, err
	}
	defer vd.DecRef()
	return statFS(ctx, vd.Mount, vd.Dentry.inode)
}

// StatFS implements fstatfs(2).
func (fd *FileDescription) StatFS(ctx Context) (StatFS, error) {
	var m *Mount
	if fd.vd.Ok() {
		m = fd.vd.Mount
	}
	return statFS(ctx, m, fd.inode)
}

func statFS(ctx Context, m *Mount, inode Inode) (StatFS, error) {
	var s StatFS
	if sf, ok := inode.(StatFSer); ok {
		var err error
		if s, err = sf.StatFS(ctx); err != nil {
			return StatFS{}, err
		}
	} else {
		s = StatFS{Bsize: 4096, Namelen: NameMax, Frsize: 4096}
	}
	if m != nil && m.ReadOnly() {
		s.Flags |= unix.ST_RDONLY
	}
	if m != nil && m.NoExec() {
		s.Flags |= unix.ST_NOEXEC
	}
	return s, nil
}

// SyncAll implements sync(2) and syncfs(2). The Sentry's filesystems write
// through to the host (gofer, host files) or keep data in memory (tmpfs),
// so there is nothing buffered to flush; it returns nil.
func (v *VirtualFilesystem) SyncAll(ctx Context) error { return nil }

// SetStatAt is SetStat on an already resolved location (AT_EMPTY_PATH
// operations on a descriptor).
func (v *VirtualFilesystem) SetStatAt(ctx Context, vd VirtualDentry, s SetStat) error {
	if err := setStat(ctx, vd.Dentry.inode, vd.Mount.ReadOnly(), s); err != nil {
		return err
	}
	v.inodeEvent(vd.Dentry, setStatEvents(s))
	return nil
}

// AccessAt is Access on an already resolved location.
func (v *VirtualFilesystem) AccessAt(ctx Context, vd VirtualDentry, mode uint32) error {
	if mode&^7 != 0 {
		return unix.EINVAL
	}
	if mode == 0 {
		return nil
	}
	if mode&unix.W_OK != 0 && vd.Mount.ReadOnly() {
		switch vd.Dentry.ftype {
		case unix.S_IFREG, unix.S_IFDIR, unix.S_IFLNK:
			return unix.EROFS
		}
	}
	return mayAccess(ctx, vd.Dentry.inode, mode)
}
