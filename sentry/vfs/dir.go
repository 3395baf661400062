package vfs

import (
	"github.com/veil-sandbox/veil/sentry/waiter"
	"sync"

	"golang.org/x/sys/unix"
)

// dirFile is the FileImpl of every open directory: the VFS makes it itself
// (Inode.Open is not called for directories) and implements getdents with
// Inode.Getdents.
type dirFile struct {
	NoIoctl
	AlwaysReady
	NoRelease
	state dirState
}

// dirState is a directory's getdents cursor: a snapshot of the entries
// ("." and ".." first) taken when reading starts at offset 0; the file
// position is an index into it, so d_off values are stable.
type dirState struct {
	mu      sync.Mutex
	vd      VirtualDentry
	v       *VirtualFilesystem
	entries []Dirent
	valid   bool
}

func (d *dirState) seeked(off int64) {
	d.mu.Lock()
	if off == 0 {
		d.valid = false
	}
	d.mu.Unlock()
}

func (*dirFile) Read(Context, []byte, int64, bool) (int, error)  { return 0, unix.EISDIR }
func (*dirFile) Write(Context, []byte, int64, bool) (int, error) { return 0, unix.EISDIR }
func (*dirFile) Seekable() bool                                  { return true }

// direntType converts S_IFMT bits to DT_*.
func direntType(mode uint32) uint8 {
	return uint8((mode & unix.S_IFMT) >> 12)
}

func (d *dirState) snapshot(ctx Context) error {
	inode := d.vd.Dentry.inode
	self, err := inode.Stat(ctx)
	if err != nil {
		return err
	}
	parentIno := self.Ino
	d.v.nameMu.RLock()
	p := d.vd.Dentry.parent
	d.v.nameMu.RUnlock()
	if p != nil && d.vd.Dentry != d.vd.Mount.root {
		if pst, err := p.inode.Stat(ctx); err == nil {
			parentIno = pst.Ino
		}
	}
	ents, err := inode.Getdents(ctx)
	if err != nil {
		return err
	}
	all := make([]Dirent, 0, len(ents)+2)
	all = append(all, Dirent{Name: ".", Ino: self.Ino, Type: unix.DT_DIR}, Dirent{Name: "..", Ino: parentIno, Type: unix.DT_DIR})
	all = append(all, ents...)
	d.entries = all
	d.valid = true
	return nil
}

// Getdents calls emit for each directory entry from the file position on;
// next is the d_off of the entry (the position after it). emit returns
// false to stop before consuming the entry (the buffer is full). The
// position advances past every consumed entry. ENOTDIR if fd is not a
// directory.
func (fd *FileDescription) Getdents(ctx Context, emit func(d Dirent, next int64) bool) error {
	if fd.dir == nil {
		return unix.ENOTDIR
	}
	if fd.IsPath() {
		return unix.EBADF
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	d := fd.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.valid || fd.off == 0 {
		if err := d.snapshot(ctx); err != nil {
			return err
		}
	}
	for fd.off >= 0 && fd.off < int64(len(d.entries)) {
		if !emit(d.entries[fd.off], fd.off+1) {
			break
		}
		fd.off++
	}
	// Linux's iterate_dir: IN_ACCESS for every getdents call.
	fd.event(1, InAccess)
	return nil
}

// pathFile is the FileImpl of O_PATH descriptors: no I/O at all.
type pathFile struct {
	NoIoctl
	NoRelease
}

func (pathFile) Read(Context, []byte, int64, bool) (int, error)  { return 0, unix.EBADF }
func (pathFile) Write(Context, []byte, int64, bool) (int, error) { return 0, unix.EBADF }
func (pathFile) Readiness(mask waiterMask) waiterMask            { return 0 }
func (pathFile) EventRegister(*waiterEntry)                      {}
func (pathFile) EventUnregister(*waiterEntry)                    {}

type (
	waiterMask  = waiter.EventMask
	waiterEntry = waiter.Entry
)
