package tmpfs

import (
	"sync"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// regFile is an open regular file.
type regFile struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	i        *inode
	released sync.Once
}

var (
	_ vfs.FileImpl     = (*regFile)(nil)
	_ vfs.Seeker       = (*regFile)(nil)
	_ vfs.Mapper       = (*regFile)(nil)
	_ vfs.Truncater    = (*regFile)(nil)
	_ vfs.AppendWriter = (*regFile)(nil)
	_ vfs.Allocator    = (*regFile)(nil)
)

// Seekable implements vfs.Seeker.
func (f *regFile) Seekable() bool { return true }

// Read implements vfs.FileImpl.
func (f *regFile) Read(_ vfs.Context, dst []byte, off int64, _ bool) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	d := f.i.data
	size := d.size.Load()
	if off >= size || len(dst) == 0 {
		return 0, nil
	}
	if rem := size - off; int64(len(dst)) > rem {
		dst = dst[:rem]
	}
	n := d.cache.ReadAt(dst, off)
	f.i.mu.Lock()
	f.i.atime = vfs.NowTimespec()
	f.i.mu.Unlock()
	return n, nil
}

// Write implements vfs.FileImpl.
func (f *regFile) Write(_ vfs.Context, src []byte, off int64, _ bool) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	f.i.mu.Lock()
	defer f.i.mu.Unlock()
	return f.writeLocked(src, off)
}

func (f *regFile) writeLocked(src []byte, off int64) (int, error) {
	if len(src) == 0 {
		return 0, nil
	}
	end := off + int64(len(src))
	if end < off || end > maxFileSize {
		return 0, unix.EFBIG
	}
	d := f.i.data
	old := d.size.Load()
	if f.i.seals != 0 {
		n, err := f.i.sealedWriteLen(off, len(src), old)
		if err != nil {
			return 0, err
		}
		src, end = src[:n], off+int64(n)
	}
	if end > old {
		d.size.Store(end)
	}
	// Out of space (the filesystem's size= or the memory file), the
	// write stops at the page that could not be allocated; as in Linux
	// what was written stays and counts, and only a write that wrote
	// nothing fails.
	n, err := d.cache.WriteAt(src, off)
	if n == 0 {
		d.size.Store(old)
		return 0, noSpace(err)
	}
	if n < len(src) && end > old {
		d.size.Store(max(old, off+int64(n)))
	}
	now := vfs.NowTimespec()
	f.i.mtime, f.i.ctime = now, now
	return n, nil
}

// noSpace is the errno of a failed page allocation: ENOSPC, whether the
// filesystem or the memory file is full.
func noSpace(err error) error {
	if errno, ok := err.(unix.Errno); ok && errno == unix.ENOSPC {
		return errno
	}
	return unix.ENOSPC
}

// Append implements vfs.AppendWriter.
func (f *regFile) Append(_ vfs.Context, src []byte, _ bool) (int, int64, error) {
	f.i.mu.Lock()
	defer f.i.mu.Unlock()
	off := f.i.data.size.Load()
	n, err := f.writeLocked(src, off)
	return n, off + int64(n), err
}

// Truncate implements vfs.Truncater.
func (f *regFile) Truncate(_ vfs.Context, size int64) error { return f.i.truncate(size) }

// Allocate implements vfs.Allocator: mode 0 and FALLOC_FL_KEEP_SIZE
// allocate the pages of the range (counted in the filesystem's size, all
// or nothing: ENOSPC if they do not fit), mode 0 also extends the file;
// other modes give EOPNOTSUPP.
func (f *regFile) Allocate(_ vfs.Context, mode uint32, off, length int64) error {
	if mode != 0 && mode != unix.FALLOC_FL_KEEP_SIZE {
		return unix.EOPNOTSUPP
	}
	end := off + length
	if end < off || end > maxFileSize {
		return unix.EFBIG
	}
	f.i.mu.Lock()
	defer f.i.mu.Unlock()
	if f.i.seals&unix.F_SEAL_GROW != 0 && end > f.i.data.size.Load() {
		return unix.EPERM
	}
	if err := f.i.data.cache.Allocate(off, length); err != nil {
		return noSpace(err)
	}
	if mode == 0 && end > f.i.data.size.Load() {
		f.i.data.size.Store(end)
		f.i.ctime = vfs.NowTimespec()
	}
	return nil
}

// Mappable implements vfs.Mapper.
func (f *regFile) Mappable() mm.Mappable {
	f.i.mu.Lock()
	defer f.i.mu.Unlock()
	return f.i.mappableLocked()
}

// Release implements vfs.FileImpl.
func (f *regFile) Release() {
	f.released.Do(func() {
		f.i.mu.Lock()
		f.i.opens--
		f.i.maybeFreeLocked()
		f.i.mu.Unlock()
	})
}
