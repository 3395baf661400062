package mm

import (
	"io"
	"runtime"
	"sync"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

// Mappable is something mmap can map: a file's pages in the memory file.
// Regular files of every filesystem provide one (tmpfs keeps its data in
// it; gofer files cache host contents in it); MAP_SHARED|MAP_ANONYMOUS
// memory is an anonymous Mappable.
type Mappable interface {
	// TranslatePage returns the memory file offset of the page holding
	// file offset off (page-aligned), filling it if needed. A page past
	// end of file returns unix.EFAULT (the caller sends SIGBUS).
	TranslatePage(off int64) (int64, error)
}

// cacheChunk is how much a PageCache fills at once, so a sequential fault
// pattern costs one host read per 64 KiB rather than per page.
const cacheChunk = 16 * memfile.PageSize

// PageCache caches a file's pages in the memory file. It is the Mappable of
// gofer-backed files and the storage of tmpfs files.
type PageCache struct {
	MF *memfile.File
	// Fill reads file data at off into dst (as much as exists); nil means
	// pages start zeroed (tmpfs).
	Fill func(dst []byte, off int64) (int, error)
	// Size returns the current file size (for EOF / SIGBUS decisions).
	Size func() int64
	// Quota, if set, makes the cache allocate the pages that are
	// touched one at a time (never a chunk ahead) and charge them to
	// it: a tmpfs, whose size= counts allocated pages as Linux's does.
	// An allocation past its limit fails with ENOSPC (SIGBUS for a
	// fault). The one exception to allocating on touch is a shared
	// mapping's fault window, filled only when it fits (see fillAround).
	Quota *PageQuota

	mu    sync.Mutex
	pages map[int64]int64 // file page index -> memory file offset
	// mappers counts, per address space, the vmas mapping this cache, so
	// truncation can take pages away from them.
	mappers map[*MemoryManager]int
	// writableShared counts the shared vmas that may be made writable
	// (Linux's i_mmap_writable), for memfd's F_SEAL_WRITE.
	writableShared int
}

// PageCache returns c itself: Mappables that wrap a PageCache implement
// this too, which lets address spaces find the cache behind a mapping.
func (c *PageCache) PageCache() *PageCache { return c }

// cacheBacked is implemented by Mappables whose pages live in a PageCache.
type cacheBacked interface{ PageCache() *PageCache }

func cacheOf(mp Mappable) *PageCache {
	if b, ok := mp.(cacheBacked); ok {
		return b.PageCache()
	}
	return nil
}

func (c *PageCache) addMapper(m *MemoryManager, delta int, writableShared bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if writableShared {
		c.writableShared += delta
	}
	if c.mappers == nil {
		c.mappers = make(map[*MemoryManager]int)
	}
	if c.mappers[m] += delta; c.mappers[m] <= 0 {
		delete(c.mappers, m)
	}
}

// mapperCount returns how many address spaces map the cache.
func (c *PageCache) mapperCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mappers)
}

// forCachedPages calls fn with the file offset of each cached page in
// [from, to), walking whichever is smaller: the range or the cache.
func (c *PageCache) forCachedPages(from, to int64, fn func(off int64)) {
	c.mu.Lock()
	var offs []int64
	first, end := from/memfile.PageSize, roundUp(to)/memfile.PageSize
	if end-first < int64(len(c.pages)) {
		for idx := first; idx < end; idx++ {
			if _, ok := c.pages[idx]; ok {
				offs = append(offs, idx*memfile.PageSize)
			}
		}
	} else {
		for idx := range c.pages {
			if idx >= first && idx < end {
				offs = append(offs, idx*memfile.PageSize)
			}
		}
	}
	c.mu.Unlock()
	for _, off := range offs {
		fn(off)
	}
}

// WritableShared reports whether a shared mapping that is or may become
// writable maps the cache.
func (c *PageCache) WritableShared() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writableShared > 0
}

// Mapped reports whether some address space maps the cache.
func (c *PageCache) Mapped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mappers) > 0
}

// TranslatePage implements Mappable.
func (c *PageCache) TranslatePage(off int64) (int64, error) {
	if off >= roundUp(c.Size()) {
		return 0, unix.EFAULT
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := off / memfile.PageSize
	if m, ok := c.pages[idx]; ok {
		return m, nil
	}
	if c.Quota != nil {
		return c.allocPageLocked(idx)
	}
	if c.pages == nil {
		c.pages = make(map[int64]int64)
	}
	// Fill a chunk-aligned run of missing pages in one allocation.
	first := idx - idx%(cacheChunk/memfile.PageSize)
	last := first + cacheChunk/memfile.PageSize
	if lim := roundUp(c.Size()) / memfile.PageSize; last > lim {
		last = lim
	}
	start := idx
	for start > first {
		if _, ok := c.pages[start-1]; ok {
			break
		}
		start--
	}
	end := idx + 1
	for end < last {
		if _, ok := c.pages[end]; ok {
			break
		}
		end++
	}
	n := (end - start) * memfile.PageSize
	m, err := c.MF.Allocate(n)
	if err != nil {
		return 0, err
	}
	if c.Fill != nil {
		buf := c.MF.Slice(m, n)
		if _, err := c.Fill(buf, start*memfile.PageSize); err != nil && err != io.EOF {
			c.MF.DecRef(m, n)
			return 0, err
		}
	}
	for i := start; i < end; i++ {
		c.pages[i] = m + (i-start)*memfile.PageSize
	}
	return c.pages[idx], nil
}

// ReadAt copies cached file data at off into dst, for files whose cache is
// the only copy of their data (tmpfs). Holes read as zeros.
func (c *PageCache) ReadAt(dst []byte, off int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(dst) {
		idx := (off + int64(n)) / memfile.PageSize
		po := (off + int64(n)) % memfile.PageSize
		chunk := min(int64(len(dst)-n), memfile.PageSize-po)
		if m, ok := c.pages[idx]; ok {
			copy(dst[n:n+int(chunk)], c.MF.Slice(m+po, chunk))
		} else {
			clear(dst[n : n+int(chunk)])
		}
		n += int(chunk)
	}
	return n
}

// WriteAt copies src into the cache at off, allocating pages as needed,
// and returns how much it copied: less than len(src) only with an error
// (the quota or the memory file ran out), then a page-aligned amount.
// Callers extending a file must update Size first.
func (c *PageCache) WriteAt(src []byte, off int64) (int, error) {
	n := 0
	for n < len(src) {
		cur := off + int64(n)
		po := cur % memfile.PageSize
		chunk := min(int64(len(src)-n), memfile.PageSize-po)
		if err := c.writePage(src[n:n+int(chunk)], cur-po, po); err != nil {
			return n, err
		}
		n += int(chunk)
	}
	return n, nil
}

func (c *PageCache) writePage(src []byte, pageOff, po int64) error {
	c.mu.Lock()
	m, ok := c.pages[pageOff/memfile.PageSize]
	c.mu.Unlock()
	if !ok {
		var err error
		if m, err = c.TranslatePage(pageOff); err != nil {
			return err
		}
	}
	copy(c.MF.Slice(m+po, int64(len(src))), src)
	return nil
}

// UpdateIfCached writes src into already cached pages only: used by files
// whose real data lives elsewhere (the host) to keep mappings coherent
// with write(2).
func (c *PageCache) UpdateIfCached(src []byte, off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := 0; n < len(src); {
		cur := off + int64(n)
		po := cur % memfile.PageSize
		chunk := min(int64(len(src)-n), memfile.PageSize-po)
		if m, ok := c.pages[cur/memfile.PageSize]; ok {
			copy(c.MF.Slice(m+po, chunk), src[n:n+int(chunk)])
		}
		n += int(chunk)
	}
}

// Truncate drops cached pages at or beyond size and zeroes the tail of the
// last partial page. Address spaces mapping the dropped pages lose them
// first, so a later access faults (and gets SIGBUS past the new end). The
// caller must have made Size report the new size already.
func (c *PageCache) Truncate(size int64) {
	c.mu.Lock()
	var ms []*MemoryManager
	for m := range c.mappers {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	for _, m := range ms {
		m.invalidateCache(c, roundUp(size))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var dropped int64
	for idx, m := range c.pages {
		if idx*memfile.PageSize >= size {
			c.MF.DecRef(m, memfile.PageSize)
			delete(c.pages, idx)
			dropped++
		}
	}
	if c.Quota != nil && dropped > 0 {
		c.Quota.Uncharge(dropped)
	}
	if po := size % memfile.PageSize; po != 0 {
		if m, ok := c.pages[size/memfile.PageSize]; ok {
			clear(c.MF.Slice(m+po, memfile.PageSize-po))
		}
	}
}

// Release drops all cached pages (mappings hold their own references).
func (c *PageCache) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Quota != nil && len(c.pages) > 0 {
		c.Quota.Uncharge(int64(len(c.pages)))
	}
	for idx, m := range c.pages {
		c.MF.DecRef(m, memfile.PageSize)
		delete(c.pages, idx)
	}
}

func roundUp(n int64) int64 {
	return (n + memfile.PageSize - 1) &^ (memfile.PageSize - 1)
}

// NewAnonymousMappable returns the backing of a MAP_SHARED|MAP_ANONYMOUS
// mapping of size bytes: zero-filled pages shared by every process that
// inherits the mapping.
// Its pages are freed once no mapping refers to it any more.
func NewAnonymousMappable(mf *memfile.File, size int64) Mappable {
	size = roundUp(size)
	pc := &PageCache{MF: mf, Size: func() int64 { return size }}
	a := &anonMappable{pc}
	runtime.AddCleanup(a, func(pc *PageCache) { pc.Release() }, pc)
	return a
}

// anonMappable wraps the cache so that the cache itself (referenced by the
// cleanup) is not what keeps the mapping alive.
type anonMappable struct{ pc *PageCache }

func (a *anonMappable) TranslatePage(off int64) (int64, error) { return a.pc.TranslatePage(off) }
func (a *anonMappable) PageCache() *PageCache                  { return a.pc }
