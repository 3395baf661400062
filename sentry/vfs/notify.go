package vfs

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// File change notification: the VFS side of inotify(7), after Linux's
// fsnotify hooks (include/linux/fsnotify.h). Path operations and open
// files report what they do to the inodes involved; an inotify instance
// (sentry/fs/inotify) registers a Watch on an inode with AddWatch and gets
// the events of that inode, and those of its children when it is a
// directory, as inotify(7) lists them. Events are only generated for
// changes made through this VFS (inside the sandbox), never for changes the
// host makes to gofer-backed files. When nothing is watched the cost is one
// atomic load per operation.

// Event bits, as inotify(7) numbers them.
const (
	InAccess       = unix.IN_ACCESS
	InModify       = unix.IN_MODIFY
	InAttrib       = unix.IN_ATTRIB
	InCloseWrite   = unix.IN_CLOSE_WRITE
	InCloseNowrite = unix.IN_CLOSE_NOWRITE
	InOpen         = unix.IN_OPEN
	InMovedFrom    = unix.IN_MOVED_FROM
	InMovedTo      = unix.IN_MOVED_TO
	InCreate       = unix.IN_CREATE
	InDelete       = unix.IN_DELETE
	InDeleteSelf   = unix.IN_DELETE_SELF
	InMoveSelf     = unix.IN_MOVE_SELF
	InIsDir        = unix.IN_ISDIR
)

// childEvents are the events on a file that a watch on its directory also
// gets (with the file's name), as Linux's FS_EVENTS_POSS_ON_CHILD.
const childEvents = InAccess | InModify | InAttrib | InCloseWrite | InCloseNowrite | InOpen

// Watch receives the events of one watched inode. Notify is called with
// the event mask (including InIsDir when the subject is a directory), the
// rename cookie (0 for other events) and, for events on an entry of a
// watched directory, the entry's name ("" for events on the inode itself).
// unlinked says whether that entry has been unlinked already (for
// IN_EXCL_UNLINK). Notify runs on the goroutine of the operation, which may
// hold VFS locks: it must not block nor call back into path operations; it
// may call RemoveWatch.
type Watch interface {
	Notify(mask, cookie uint32, name string, unlinked bool)
}

type watchSet struct {
	vd      VirtualDentry
	watches []Watch
}

// notifier is the VFS's registry of watches.
type notifier struct {
	count   atomic.Int32 // number of watches, for the fast path
	mu      sync.RWMutex
	byInode map[Inode]*watchSet
	cookie  atomic.Uint32
}

func (v *VirtualFilesystem) watching() bool { return v.notify.count.Load() > 0 }

// AddWatch makes w receive the events of vd's inode. While watched, the
// inode's dentry stays cached (the watch holds a reference on vd), so the
// inode, and its identity, stays the same. Adding the same w twice has no
// effect.
func (v *VirtualFilesystem) AddWatch(vd VirtualDentry, w Watch) {
	n := &v.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byInode == nil {
		n.byInode = make(map[Inode]*watchSet)
	}
	ws := n.byInode[vd.Dentry.inode]
	if ws == nil {
		vd.IncRef()
		ws = &watchSet{vd: vd}
		n.byInode[vd.Dentry.inode] = ws
	}
	for _, o := range ws.watches {
		if o == w {
			return
		}
	}
	ws.watches = append(ws.watches, w)
	n.count.Add(1)
}

// RemoveWatch stops w from receiving the events of inode (no effect if it
// does not).
func (v *VirtualFilesystem) RemoveWatch(inode Inode, w Watch) {
	n := &v.notify
	var drop VirtualDentry
	n.mu.Lock()
	if ws := n.byInode[inode]; ws != nil {
		for i, o := range ws.watches {
			if o == w {
				ws.watches = append(ws.watches[:i:i], ws.watches[i+1:]...)
				n.count.Add(-1)
				break
			}
		}
		if len(ws.watches) == 0 {
			delete(n.byInode, inode)
			drop = ws.vd
		}
	}
	n.mu.Unlock()
	// Outside n.mu: dropping the last reference may evict the dentry.
	drop.DecRef()
}

func (v *VirtualFilesystem) watchesOf(inode Inode) []Watch {
	n := &v.notify
	n.mu.RLock()
	defer n.mu.RUnlock()
	ws := n.byInode[inode]
	if ws == nil {
		return nil
	}
	return append([]Watch(nil), ws.watches...)
}

func (v *VirtualFilesystem) newCookie() uint32 {
	for {
		if c := v.notify.cookie.Add(1); c != 0 {
			return c
		}
	}
}

func isDirBit(isDir bool) uint32 {
	if isDir {
		return InIsDir
	}
	return 0
}

// dirEvent reports an event about entry name of directory p (IN_CREATE,
// IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO) to p's watches.
func (v *VirtualFilesystem) dirEvent(p *Dentry, name string, mask, cookie uint32, isDir bool) {
	if !v.watching() {
		return
	}
	for _, w := range v.watchesOf(p.inode) {
		w.Notify(mask|isDirBit(isDir), cookie, name, false)
	}
}

// inodeEvent reports an event on d's inode to its watches and, for the
// events a directory watch gets about its entries, to the watches of d's
// parent with d's name.
func (v *VirtualFilesystem) inodeEvent(d *Dentry, mask uint32) {
	if mask == 0 || !v.watching() {
		return
	}
	mask |= isDirBit(d.IsDir())
	// The directory's watches first, as Linux queues them.
	if mask&childEvents != 0 {
		v.nameMu.RLock()
		p, name := d.parent, d.name
		v.nameMu.RUnlock()
		if p != nil {
			dead := d.dead.Load()
			for _, w := range v.watchesOf(p.inode) {
				w.Notify(mask, 0, name, dead)
			}
		}
	}
	for _, w := range v.watchesOf(d.inode) {
		w.Notify(mask, 0, "", false)
	}
}

// selfEvent reports an event to d's own watches only: IN_MOVE_SELF,
// IN_DELETE_SELF, and the IN_ATTRIB of a link count change (Linux's
// fsnotify_link_count has no name to give the directory).
func (v *VirtualFilesystem) selfEvent(d *Dentry, mask uint32) {
	if !v.watching() {
		return
	}
	// Linux 6.x sets no IN_ISDIR on a directory's IN_MOVE_SELF and
	// IN_DELETE_SELF (and link counts are never a directory's).
	for _, w := range v.watchesOf(d.inode) {
		w.Notify(mask, 0, "", false)
	}
}

// deleted is called when d has lost a name: once its inode has no link
// left and no open file, its watches get IN_DELETE_SELF (and are then
// removed by their instance, which queues IN_IGNORED). With open files the
// event waits for the last close, as in Linux, where it comes when the
// inode is evicted.
func (v *VirtualFilesystem) deleted(d *Dentry) {
	if !v.watching() || len(v.watchesOf(d.inode)) == 0 {
		return
	}
	if d.opens.Load() > 0 || !unlinkedInode(d) {
		return
	}
	v.selfEvent(d, InDeleteSelf)
}

// unlinkedInode reports whether d's inode has no links left.
func unlinkedInode(d *Dentry) bool {
	if d.IsDir() {
		return true
	}
	st, err := d.inode.Stat(vfsContext{})
	return err != nil || st.Nlink == 0
}

// closed reports the close of fd (its last reference): IN_CLOSE_WRITE or
// IN_CLOSE_NOWRITE, then IN_DELETE_SELF if it was the last open file of
// an unlinked watched inode.
func (v *VirtualFilesystem) closed(fd *FileDescription) {
	d := fd.vd.Dentry
	last := d.opens.Add(-1) == 0
	if fd.IsPath() || !v.watching() {
		return
	}
	if fd.IsWritable() {
		v.inodeEvent(d, InCloseWrite)
	} else {
		v.inodeEvent(d, InCloseNowrite)
	}
	if last && d.dead.Load() && len(v.watchesOf(d.inode)) > 0 && unlinkedInode(d) {
		v.selfEvent(d, InDeleteSelf)
	}
}

// opened reports the open of fd (IN_OPEN; none for O_PATH).
func (v *VirtualFilesystem) opened(fd *FileDescription) {
	if fd.IsPath() || !fd.vd.Ok() || !v.watching() {
		return
	}
	v.inodeEvent(fd.vd.Dentry, InOpen)
}

// NotifyAttrib reports a change of fd's inode's attributes that the VFS
// does not make itself (extended attributes): IN_ATTRIB.
func (v *VirtualFilesystem) NotifyAttrib(vd VirtualDentry) {
	if vd.Ok() {
		v.inodeEvent(vd.Dentry, InAttrib)
	}
}

// NotifyModify reports that fd's data changed other than through
// FileDescription.Write (splice, copy_file_range, AIO): IN_MODIFY.
func (fd *FileDescription) NotifyModify() { fd.event(1, InModify) }

// NotifyAccess reports that fd's data was read other than through
// FileDescription.Read (splice, sendfile): IN_ACCESS.
func (fd *FileDescription) NotifyAccess() { fd.event(1, InAccess) }

// setStatEvents are the events of a SetStat, as Linux's fsnotify_change:
// a size change is IN_MODIFY; owner, mode and both times IN_ATTRIB; only
// atime IN_ACCESS, only mtime IN_MODIFY.
func setStatEvents(s SetStat) uint32 {
	if s.Valid&AttrAtime != 0 && s.Atime.Nsec == unix.UTIME_OMIT {
		s.Valid &^= AttrAtime
	}
	if s.Valid&AttrMtime != 0 && s.Mtime.Nsec == unix.UTIME_OMIT {
		s.Valid &^= AttrMtime
	}
	var mask uint32
	if s.Valid&(AttrUID|AttrGID|AttrMode) != 0 {
		mask |= InAttrib
	}
	if s.Valid&AttrSize != 0 {
		mask |= InModify
	}
	switch s.Valid & (AttrAtime | AttrMtime) {
	case AttrAtime | AttrMtime:
		mask |= InAttrib
	case AttrAtime:
		mask |= InAccess
	case AttrMtime:
		mask |= InModify
	}
	return mask
}
