package overlay

import (
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// copyChunk is how much file data one copy-up step reads.
const copyChunk = 256 << 10

// copyUp gives n an upper copy, after its ancestors. limit bounds how much
// of a regular file's data is copied (-1: all; 0 when the caller is about
// to truncate it anyway).
func (n *node) copyUp(ctx vfs.Context, limit int64) error {
	if n.upperInode() != nil {
		return nil
	}
	n.mu.Lock()
	p := n.parent
	n.mu.Unlock()
	if p == nil {
		return unix.ENOENT
	}
	if err := p.copyUp(ctx, -1); err != nil {
		return err
	}
	n.copyMu.Lock()
	defer n.copyMu.Unlock()
	n.mu.Lock()
	upper, lower, removed, name := n.upper, n.lower, n.removed, n.name
	n.mu.Unlock()
	switch {
	case upper != nil:
		return nil
	case removed || lower == nil:
		return unix.ENOENT
	}
	// The identity comes from the lower inode, which a non-directory
	// drops below.
	if _, err := n.identity(ctx); err != nil {
		return err
	}
	st, err := lower.Stat(ctx)
	if err != nil {
		return err
	}
	u, err := n.makeCopy(ctx, p, name, lower, st, limit)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.upper = u
	if !n.isDir() {
		n.lower = nil
	}
	n.mu.Unlock()
	if !n.isDir() {
		n.fs.setUpperNode(u, n)
		release(lower)
	}
	return nil
}

// makeCopy creates the upper copy of lower (attributes st) as name in p's
// upper directory and fills it; on failure nothing is left behind.
func (n *node) makeCopy(ctx vfs.Context, p *node, name string, lower vfs.Inode, st vfs.Stat, limit int64) (vfs.Inode, error) {
	pu := p.upperInode()
	var (
		u    vfs.Inode
		impl vfs.FileImpl
		err  error
	)
	p.dirMu.Lock()
	// A copy-up is no change of the parent: keep its times.
	pst, err := pu.Stat(ctx)
	if err != nil {
		p.dirMu.Unlock()
		return nil, err
	}
	switch n.ftype {
	case unix.S_IFDIR:
		u, err = pu.Mkdir(ctx, name, st.Mode&0o7777)
	case unix.S_IFREG:
		u, impl, err = pu.Create(ctx, name, unix.O_RDWR, st.Mode&0o7777)
	case unix.S_IFLNK:
		var target string
		if target, err = lower.Readlink(ctx); err == nil {
			u, err = pu.Symlink(ctx, name, target)
		}
	default:
		u, err = pu.Mknod(ctx, name, st.Mode, st.Rdev)
	}
	restoreTimes(ctx, pu, pst)
	p.dirMu.Unlock()
	if err != nil {
		return nil, err
	}

	attrs := attrsOf(st, n.ftype != unix.S_IFLNK)
	if impl != nil {
		size := st.Size
		if limit >= 0 && limit < size {
			size = limit
		}
		var copied int64
		copied, err = copyData(ctx, lower, impl, size)
		impl.Release()
		attrs.Valid |= vfs.AttrSize
		attrs.Size = copied
	}
	if err == nil {
		copyXattrs(ctx, lower, u)
		err = u.SetStat(ctx, attrs)
	}
	if err != nil {
		p.dirMu.Lock()
		if n.isDir() {
			pu.Rmdir(ctx, name)
		} else {
			pu.Unlink(ctx, name)
		}
		restoreTimes(ctx, pu, pst)
		p.dirMu.Unlock()
		return nil, err
	}
	return u, nil
}

// copyData copies the first size bytes of lower into dst and returns how
// many there were (fewer if the file is shorter). Zero blocks are not
// written, so holes stay holes (the caller sets the size).
func copyData(ctx vfs.Context, lower vfs.Inode, dst vfs.FileImpl, size int64) (int64, error) {
	if size <= 0 {
		return 0, nil
	}
	src, err := lower.Open(ctx, unix.O_RDONLY)
	if err != nil {
		return 0, err
	}
	defer src.Release()
	buf := make([]byte, min(copyChunk, size))
	var off int64
	for off < size {
		want := min(int64(len(buf)), size-off)
		n, err := src.Read(ctx, buf[:want], off, false)
		if n > 0 && !allZero(buf[:n]) {
			if _, werr := dst.Write(ctx, buf[:n], off, false); werr != nil {
				return off, werr
			}
		}
		off += int64(n)
		if err != nil {
			return off, err
		}
		if n == 0 {
			break
		}
	}
	return off, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// restoreTimes puts back the atime and mtime of an upper directory that
// the overlay changed for its own bookkeeping.
func restoreTimes(ctx vfs.Context, dir vfs.Inode, st vfs.Stat) {
	dir.SetStat(ctx, vfs.SetStat{Valid: vfs.AttrAtime | vfs.AttrMtime, Atime: st.Atime, Mtime: st.Mtime})
}
