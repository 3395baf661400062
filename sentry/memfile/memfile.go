// Package memfile is the host memory file that holds all application
// memory of a sandbox. Platforms map ranges of it into application address
// spaces; the Sentry reads and writes application memory through its own
// single mapping of the whole file, never through ptrace or
// process_vm_readv.
//
// Pages are reference counted so private mappings can share pages after
// fork (copy-on-write) and file page caches can lend pages to mappings.
package memfile

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// PageSize is the host and application page size.
const PageSize = 4096

// maxSize is how much of the file the Sentry reserves address space for.
// The file is sparse: host memory is used only for pages that are touched.
const maxSize = 1 << 36 // 64 GiB

// File is the memory file.
type File struct {
	fd   int
	base []byte // the Sentry's mapping of [0, maxSize)

	mu   sync.Mutex
	next int64   // bump allocation frontier
	free []span  // freed page runs, reused first-fit
	refs []int32 // per page reference count, indexed by off/PageSize
}

type span struct{ off, len int64 }

// New creates the memory file.
func New() (*File, error) {
	fd, err := unix.MemfdCreate("veil-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfile: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, maxSize); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memfile: ftruncate: %w", err)
	}
	base, err := unix.Mmap(fd, 0, maxSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memfile: map: %w", err)
	}
	return &File{fd: fd, base: base}, nil
}

// FD returns the host file descriptor of the memory file.
func (f *File) FD() int { return f.fd }

// Slice returns the Sentry's view of [off, off+length).
func (f *File) Slice(off int64, length int64) []byte {
	return f.base[off : off+length : off+length]
}

// Allocate returns the offset of length bytes (a multiple of PageSize) of
// zeroed, contiguous pages, each with reference count 1.
func (f *File) Allocate(length int64) (int64, error) {
	if length <= 0 || length%PageSize != 0 {
		return 0, fmt.Errorf("memfile: bad allocation length %d", length)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	off := int64(-1)
	for i, s := range f.free {
		if s.len >= length {
			off = s.off
			if s.len == length {
				f.free = append(f.free[:i], f.free[i+1:]...)
			} else {
				f.free[i] = span{s.off + length, s.len - length}
			}
			break
		}
	}
	if off < 0 {
		if f.next+length > maxSize {
			return 0, fmt.Errorf("memfile: out of memory (%d bytes in use)", f.next)
		}
		off = f.next
		f.next += length
		for int64(len(f.refs)) < f.next/PageSize {
			f.refs = append(f.refs, 0)
		}
	}
	for p := off / PageSize; p < (off+length)/PageSize; p++ {
		f.refs[p] = 1
	}
	return off, nil
}

// IncRef takes one more reference on each page of [off, off+length).
func (f *File) IncRef(off, length int64) {
	f.mu.Lock()
	for p := off / PageSize; p < (off+length)/PageSize; p++ {
		f.refs[p]++
	}
	f.mu.Unlock()
}

// DecRef drops one reference on each page of [off, off+length); pages that
// reach zero are returned to the host (so they read as zero when reused)
// and to the free list.
func (f *File) DecRef(off, length int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	runStart := int64(-1)
	flush := func(end int64) {
		if runStart < 0 {
			return
		}
		n := end - runStart
		// Punching a hole frees the host memory and zeroes the range.
		if err := unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, runStart, n); err != nil {
			// Reusing the pages would leak their old contents; zero them.
			clear(f.base[runStart : runStart+n])
		}
		f.release(span{runStart, n})
		runStart = -1
	}
	for p := off / PageSize; p < (off+length)/PageSize; p++ {
		f.refs[p]--
		switch {
		case f.refs[p] < 0:
			panic(fmt.Sprintf("memfile: page %#x over-released", p*PageSize))
		case f.refs[p] == 0:
			if runStart < 0 {
				runStart = p * PageSize
			}
		default:
			flush(p * PageSize)
		}
	}
	flush(off + length)
}

// DecRefPages drops one reference on each page at the offsets pages
// (sorted here, in place). Consecutive pages are dropped as one run, so
// that an address space going away returns its freed memory to the host
// with one hole punched per run rather than one system call per page.
func (f *File) DecRefPages(pages []int64) {
	slices.Sort(pages)
	for i := 0; i < len(pages); {
		j := i + 1
		for j < len(pages) && pages[j] == pages[j-1]+PageSize {
			j++
		}
		f.DecRef(pages[i], int64(j-i)*PageSize)
		i = j
	}
}

// release returns s to the free list, which is kept sorted by offset with
// neighbours merged (the memory manager frees page by page but allocates
// runs, so unmerged single pages would never be reused), and gives a free
// run at the frontier back to it. f.mu is held.
func (f *File) release(s span) {
	i := sort.Search(len(f.free), func(i int) bool { return f.free[i].off > s.off })
	f.free = append(f.free, span{})
	copy(f.free[i+1:], f.free[i:])
	f.free[i] = s
	if i+1 < len(f.free) && f.free[i].off+f.free[i].len == f.free[i+1].off {
		f.free[i].len += f.free[i+1].len
		f.free = append(f.free[:i+1], f.free[i+2:]...)
	}
	if i > 0 && f.free[i-1].off+f.free[i-1].len == f.free[i].off {
		f.free[i-1].len += f.free[i].len
		f.free = append(f.free[:i], f.free[i+1:]...)
		i--
	}
	if last := f.free[len(f.free)-1]; last.off+last.len == f.next {
		f.next = last.off
		f.free = f.free[:len(f.free)-1]
	}
}

// RefCount returns the reference count of the page at off.
func (f *File) RefCount(off int64) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refs[off/PageSize]
}

// InUse returns the number of bytes allocated and not freed.
func (f *File) InUse() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.next
	for _, s := range f.free {
		n -= s.len
	}
	return n
}
