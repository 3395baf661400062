package overlay

import (
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Open implements vfs.Inode. Opening a regular file for writing or with
// O_TRUNC copies it up; other opens use the layer the file is in. Device
// nodes, FIFOs and sockets are opened where they are: opening one for
// writing changes no file, so it is not copied up (as in overlayfs).
func (n *node) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	switch n.ftype {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	default:
		var impl vfs.FileImpl
		err := n.withCurrent(func(i vfs.Inode) (err error) { impl, err = i.Open(ctx, flags); return err })
		return impl, err
	}
	write := flags&unix.O_ACCMODE != unix.O_RDONLY
	if write || flags&unix.O_TRUNC != 0 {
		limit := int64(-1)
		if write && flags&unix.O_TRUNC != 0 {
			limit = 0 // the upper file truncates it anyway
		}
		if err := n.copyUp(ctx, limit); err != nil {
			return nil, err
		}
		impl, err := n.upperInode().Open(ctx, flags)
		if err != nil {
			return nil, err
		}
		return &regFile{n: n, impl: impl, onUpper: true}, nil
	}
	var f *regFile
	err := n.withCurrent(func(i vfs.Inode) error {
		impl, err := i.Open(ctx, flags)
		if err == nil {
			f = &regFile{n: n, impl: impl, onUpper: i == n.upperInode()}
		}
		return err
	})
	return f, err
}

// regFile is an open regular file of the overlay: the open file of the
// layer it is in. A read-only file opened in the lower layer moves to the
// upper copy when the file is copied up, so it sees writes made since.
type regFile struct {
	n *node
	// mu is held for reading while impl is in use, for writing to
	// replace it.
	mu      sync.RWMutex
	impl    vfs.FileImpl
	onUpper bool
}

var (
	_ vfs.FileImpl     = (*regFile)(nil)
	_ vfs.Seeker       = (*regFile)(nil)
	_ vfs.Mapper       = (*regFile)(nil)
	_ vfs.Truncater    = (*regFile)(nil)
	_ vfs.AppendWriter = (*regFile)(nil)
	_ vfs.Allocator    = (*regFile)(nil)
	_ vfs.Syncer       = (*regFile)(nil)
)

// get returns the file to use with f.mu read-locked; the caller calls
// f.mu.RUnlock.
func (f *regFile) get(ctx vfs.Context) vfs.FileImpl {
	f.mu.RLock()
	if f.onUpper || f.n.upperInode() == nil {
		return f.impl
	}
	f.mu.RUnlock()
	f.moveUp(ctx)
	f.mu.RLock()
	return f.impl
}

// moveUp replaces the lower file by the upper copy. If the copy cannot
// be opened, f keeps reading the lower file.
func (f *regFile) moveUp(ctx vfs.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onUpper {
		return
	}
	impl, err := f.n.upperInode().Open(ctx, unix.O_RDONLY)
	if err != nil {
		return
	}
	f.impl.Release()
	f.impl, f.onUpper = impl, true
}

// Seekable implements vfs.Seeker.
func (f *regFile) Seekable() bool { return true }

// Read implements vfs.FileImpl.
func (f *regFile) Read(ctx vfs.Context, dst []byte, off int64, nonblock bool) (int, error) {
	impl := f.get(ctx)
	defer f.mu.RUnlock()
	return impl.Read(ctx, dst, off, nonblock)
}

// Write implements vfs.FileImpl.
func (f *regFile) Write(ctx vfs.Context, src []byte, off int64, nonblock bool) (int, error) {
	impl := f.get(ctx)
	defer f.mu.RUnlock()
	return impl.Write(ctx, src, off, nonblock)
}

// Append implements vfs.AppendWriter.
func (f *regFile) Append(ctx vfs.Context, src []byte, nonblock bool) (int, int64, error) {
	impl := f.get(ctx)
	defer f.mu.RUnlock()
	if a, ok := impl.(vfs.AppendWriter); ok {
		return a.Append(ctx, src, nonblock)
	}
	st, err := f.n.Stat(ctx)
	if err != nil {
		return 0, 0, err
	}
	n, err := impl.Write(ctx, src, st.Size, nonblock)
	return n, st.Size + int64(n), err
}

// Truncate implements vfs.Truncater.
func (f *regFile) Truncate(ctx vfs.Context, size int64) error {
	impl := f.get(ctx)
	defer f.mu.RUnlock()
	if t, ok := impl.(vfs.Truncater); ok {
		return t.Truncate(ctx, size)
	}
	return f.n.SetStat(ctx, vfs.SetStat{Valid: vfs.AttrSize, Size: size})
}

// Allocate implements vfs.Allocator.
func (f *regFile) Allocate(ctx vfs.Context, mode uint32, off, length int64) error {
	impl := f.get(ctx)
	defer f.mu.RUnlock()
	if a, ok := impl.(vfs.Allocator); ok {
		return a.Allocate(ctx, mode, off, length)
	}
	return unix.EOPNOTSUPP
}

// Sync implements vfs.Syncer.
func (f *regFile) Sync() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if s, ok := f.impl.(vfs.Syncer); ok {
		return s.Sync()
	}
	return nil
}

// Mappable implements vfs.Mapper: the pages of the layer the file is in
// now (see the package doc for mappings made before a copy-up).
func (f *regFile) Mappable() mm.Mappable {
	impl := f.get(noCtx{})
	defer f.mu.RUnlock()
	if m, ok := impl.(vfs.Mapper); ok {
		return m.Mappable()
	}
	return nil
}

// Ioctl implements vfs.FileImpl.
func (f *regFile) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	impl := f.get(ctx)
	defer f.mu.RUnlock()
	return impl.Ioctl(ctx, io, cmd, arg)
}

// Readiness implements waiter.Waitable.
func (f *regFile) Readiness(mask waiter.EventMask) waiter.EventMask {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.impl.Readiness(mask)
}

// EventRegister implements waiter.Waitable. Regular files are always
// ready, so an entry left on a replaced lower file misses nothing.
func (f *regFile) EventRegister(e *waiter.Entry) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.impl.EventRegister(e)
}

// EventUnregister implements waiter.Waitable.
func (f *regFile) EventUnregister(e *waiter.Entry) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.impl.EventUnregister(e)
}

// Release implements vfs.FileImpl.
func (f *regFile) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.impl.Release()
}

// noCtx is the context for reopening an upper copy where the VFS gives
// none (Mappable): opening a tmpfs regular file uses no credentials and
// never blocks.
type noCtx struct{}

func (noCtx) Block(ch <-chan struct{}) error { <-ch; return nil }
func (noCtx) BlockTimeout(ch <-chan struct{}, _ time.Duration) error {
	<-ch
	return nil
}
func (noCtx) FSUID() uint32    { return 0 }
func (noCtx) FSGID() uint32    { return 0 }
func (noCtx) ProcessID() int32 { return 0 }
