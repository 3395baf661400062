package gofer

import (
	"sync"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// regFile is an open regular file: a host descriptor from the gofer.
type regFile struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	i    *inode
	fd   int
	once sync.Once
}

var (
	_ vfs.FileImpl     = (*regFile)(nil)
	_ vfs.Seeker       = (*regFile)(nil)
	_ vfs.Mapper       = (*regFile)(nil)
	_ vfs.Truncater    = (*regFile)(nil)
	_ vfs.AppendWriter = (*regFile)(nil)
	_ vfs.Syncer       = (*regFile)(nil)
	_ vfs.Allocator    = (*regFile)(nil)
)

// Seekable implements vfs.Seeker.
func (f *regFile) Seekable() bool { return true }

// Read implements vfs.FileImpl.
func (f *regFile) Read(_ vfs.Context, dst []byte, off int64, _ bool) (int, error) {
	for {
		n, err := unix.Pread(f.fd, dst, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// Write implements vfs.FileImpl.
func (f *regFile) Write(_ vfs.Context, src []byte, off int64, _ bool) (int, error) {
	n, err := f.pwrite(src, off)
	return n, err
}

func (f *regFile) pwrite(src []byte, off int64) (int, error) {
	done := 0
	for done < len(src) {
		n, err := unix.Pwrite(f.fd, src[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if done > 0 {
				break
			}
			return 0, err
		}
		if n == 0 {
			break
		}
		done += n
	}
	f.written(src[:done], off)
	return done, nil
}

// written keeps the page cache and size coherent after a host write.
func (f *regFile) written(data []byte, off int64) {
	if len(data) == 0 {
		return
	}
	i := f.i
	i.mu.Lock()
	defer i.mu.Unlock()
	if end := off + int64(len(data)); end > i.size.Load() {
		i.size.Store(end)
	}
	if i.cache != nil {
		i.cache.UpdateIfCached(data, off)
	}
}

// Append implements vfs.AppendWriter (the host descriptor is not opened
// with O_APPEND, so pwrite keeps working).
func (f *regFile) Append(_ vfs.Context, src []byte, _ bool) (int, int64, error) {
	f.i.appendM.Lock()
	defer f.i.appendM.Unlock()
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return 0, 0, err
	}
	n, err := f.pwrite(src, st.Size)
	return n, st.Size + int64(n), err
}

// Truncate implements vfs.Truncater.
func (f *regFile) Truncate(_ vfs.Context, size int64) error {
	if err := unix.Ftruncate(f.fd, size); err != nil {
		return err
	}
	f.i.truncated(size)
	return nil
}

// Allocate implements vfs.Allocator.
func (f *regFile) Allocate(_ vfs.Context, mode uint32, off, length int64) error {
	if err := unix.Fallocate(f.fd, mode, off, length); err != nil {
		return err
	}
	if mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
		var st unix.Stat_t
		if unix.Fstat(f.fd, &st) == nil {
			f.i.size.Store(st.Size)
		}
	}
	return nil
}

// Sync implements vfs.Syncer.
func (f *regFile) Sync() error { return unix.Fsync(f.fd) }

// Mappable implements vfs.Mapper.
func (f *regFile) Mappable() mm.Mappable {
	m, err := f.i.mappable(f.fd)
	if err != nil {
		return nil
	}
	return m
}

// Release implements vfs.FileImpl.
func (f *regFile) Release() {
	f.once.Do(func() {
		unix.Close(f.fd)
		f.i.mu.Lock()
		f.i.opens--
		f.i.mu.Unlock()
		f.i.maybeClunk()
	})
}
