package tmpfs

import (
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// File seals (memfd_create(2), fcntl(2) "File Sealing"), as Linux's
// mm/memfd.c and shmem: a memfd made with MFD_ALLOW_SEALING starts without
// seals; every other tmpfs file (and a memfd without the flag) has
// F_SEAL_SEAL, so nothing can be added. F_SEAL_SHRINK and F_SEAL_GROW
// forbid truncating down and up, writing past the end and fallocate past
// it (EPERM); F_SEAL_WRITE and F_SEAL_FUTURE_WRITE forbid writes and new
// shared writable mappings (EPERM; F_SEAL_WRITE cannot be added while a
// shared writable mapping exists: EBUSY); F_SEAL_EXEC forbids changing the
// execute bits.

const allSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_EXEC

// sealsLocked returns the seals in effect (i.mu held).
func (i *inode) sealsLocked() uint32 {
	if !i.sealable {
		return i.seals | unix.F_SEAL_SEAL
	}
	return i.seals
}

// Seals implements F_GET_SEALS: EINVAL for a file that is not a tmpfs
// regular file.
func Seals(f *vfs.FileDescription) (uint32, error) {
	rf, ok := f.Impl().(*regFile)
	if !ok {
		return 0, unix.EINVAL
	}
	rf.i.mu.Lock()
	defer rf.i.mu.Unlock()
	return rf.i.sealsLocked(), nil
}

// AddSeals implements F_ADD_SEALS, in Linux's order: EPERM unless f is
// open for writing, EINVAL for unknown seals or a file that is not a
// tmpfs regular file, EPERM once F_SEAL_SEAL is set, EBUSY for F_SEAL_WRITE
// while a shared writable mapping exists.
func AddSeals(f *vfs.FileDescription, seals uint32) error {
	if !f.IsWritable() {
		return unix.EPERM
	}
	if seals&^allSeals != 0 {
		return unix.EINVAL
	}
	rf, ok := f.Impl().(*regFile)
	if !ok {
		return unix.EINVAL
	}
	i := rf.i
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.sealsLocked()&unix.F_SEAL_SEAL != 0 {
		return unix.EPERM
	}
	if seals&unix.F_SEAL_WRITE != 0 && i.seals&unix.F_SEAL_WRITE == 0 && i.data.cache.WritableShared() {
		return unix.EBUSY
	}
	// F_SEAL_EXEC on an executable file implies the write seals (W^X).
	if seals&unix.F_SEAL_EXEC != 0 && i.mode&0o111 != 0 {
		seals |= unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE
	}
	i.seals |= seals
	return nil
}

// checkResizeLocked applies the size seals to a truncate (i.mu held).
func (i *inode) checkResizeLocked(old, size int64) error {
	if (size < old && i.seals&unix.F_SEAL_SHRINK != 0) || (size > old && i.seals&unix.F_SEAL_GROW != 0) {
		return unix.EPERM
	}
	return nil
}

// sealedWriteLen applies the seals to a write of n bytes at off in a file
// of size bytes (i.mu held): the bytes that may be written, or EPERM. As
// shmem's write_begin, F_SEAL_GROW stops the write at the first page chunk
// that would cross the end of file.
func (i *inode) sealedWriteLen(off int64, n int, size int64) (int, error) {
	if i.seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		return 0, unix.EPERM
	}
	if i.seals&unix.F_SEAL_GROW == 0 || off+int64(n) <= size {
		return n, nil
	}
	// Whole chunks up to the page boundaries below size.
	pos := off
	for pos < off+int64(n) {
		next := min((pos/memfile.PageSize+1)*memfile.PageSize, off+int64(n))
		if next > size {
			break
		}
		pos = next
	}
	if pos == off {
		return 0, unix.EPERM
	}
	return int(pos - off), nil
}

// WriteSealed reports whether new shared mappings of the file may not be
// writable (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE): mmap gives EPERM for
// PROT_WRITE and mprotect may not add it.
func (f *regFile) WriteSealed() bool {
	f.i.mu.Lock()
	defer f.i.mu.Unlock()
	return f.i.seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0
}
