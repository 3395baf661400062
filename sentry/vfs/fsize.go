package vfs

import "golang.org/x/sys/unix"

// FileSizeLimited is an optional Context extension: a caller with a
// maximum file size (RLIMIT_FSIZE, setrlimit(2)). Writes of regular files
// stop at the limit, and a write starting at or past it, a truncate or an
// fallocate growing a file past it fail with EFBIG after
// FileSizeExceeded, as in Linux's generic_write_check_limits and
// inode_newsize_ok. A Context without it has no limit.
type FileSizeLimited interface {
	// FileSizeLimit returns the limit in bytes (^uint64(0) for none).
	FileSizeLimit() uint64
	// FileSizeExceeded is called before EFBIG is returned: the kernel
	// sends the caller SIGXFSZ.
	FileSizeExceeded()
}

// fileSizeLimit returns ctx's limit and whether it has one.
func fileSizeLimit(ctx Context) (uint64, bool) {
	l, ok := ctx.(FileSizeLimited)
	if !ok {
		return 0, false
	}
	lim := l.FileSizeLimit()
	return lim, lim != ^uint64(0)
}

// limitWrite returns how much of a write of n bytes at off ctx may make to
// fd: n, or less up to the limit, or EFBIG at or past it. Only regular
// files are limited, and a zero-length write never fails.
func (fd *FileDescription) limitWrite(ctx Context, off int64, n int) (int, error) {
	lim, ok := fileSizeLimit(ctx)
	if !ok || n == 0 || off < 0 || uint64(off)+uint64(n) <= lim || !fd.isRegular(ctx) {
		return n, nil
	}
	if uint64(off) >= lim {
		ctx.(FileSizeLimited).FileSizeExceeded()
		return 0, unix.EFBIG
	}
	return int(lim - uint64(off)), nil
}

// limitNewSize checks that ctx may make inode, whose size is now cur, size
// bytes long.
func limitNewSize(ctx Context, cur, size int64) error {
	lim, ok := fileSizeLimit(ctx)
	if !ok || size <= cur || uint64(size) <= lim {
		return nil
	}
	ctx.(FileSizeLimited).FileSizeExceeded()
	return unix.EFBIG
}

// limitTruncate applies limitNewSize to a truncate of inode to size.
func limitTruncate(ctx Context, inode Inode, size int64) error {
	lim, ok := fileSizeLimit(ctx)
	if !ok || uint64(size) <= lim {
		return nil
	}
	st, err := inode.Stat(ctx)
	if err != nil {
		return err
	}
	return limitNewSize(ctx, st.Size, size)
}

// isRegular reports whether fd is a regular file.
func (fd *FileDescription) isRegular(ctx Context) bool {
	st, err := fd.inode.Stat(ctx)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}
