package mm

import (
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

// PageQuota counts the pages held by the page caches that share it and
// bounds their number: one tmpfs filesystem's size= (Linux's shmem
// used_blocks / max_blocks). Only pages that exist count, so holes and
// truncating a file up cost nothing.
type PageQuota struct {
	max  int64 // pages; 0: no limit
	used atomic.Int64
}

// NewPageQuota returns a quota of maxPages pages (0: unlimited, only
// counted).
func NewPageQuota(maxPages int64) *PageQuota {
	return &PageQuota{max: maxPages}
}

// Max returns the limit in pages (0: none).
func (q *PageQuota) Max() int64 { return q.max }

// Used returns the number of pages charged.
func (q *PageQuota) Used() int64 { return q.used.Load() }

// Charge takes n pages, or fails with ENOSPC (taking nothing) if that
// would exceed the limit.
func (q *PageQuota) Charge(n int64) error {
	for {
		u := q.used.Load()
		if q.max > 0 && u+n > q.max {
			return unix.ENOSPC
		}
		if q.used.CompareAndSwap(u, u+n) {
			return nil
		}
	}
}

// Uncharge gives back n pages.
func (q *PageQuota) Uncharge(n int64) {
	if q.used.Add(-n) < 0 {
		panic("mm: page quota over-released")
	}
}

// allocPageLocked gives file page idx a new zeroed page, charged to the
// quota (c.mu held).
func (c *PageCache) allocPageLocked(idx int64) (int64, error) {
	if err := c.Quota.Charge(1); err != nil {
		return 0, err
	}
	m, err := c.MF.Allocate(memfile.PageSize)
	if err != nil {
		c.Quota.Uncharge(1)
		return 0, err
	}
	if c.pages == nil {
		c.pages = make(map[int64]int64)
	}
	c.pages[idx] = m
	return m, nil
}

// cachedPage returns the memory file offset of the page at file offset
// off if the cache holds it, without allocating.
func (c *PageCache) cachedPage(off int64) (int64, bool) {
	if off >= roundUp(c.Size()) {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.pages[off/memfile.PageSize]
	return m, ok
}

// Allocate gives every page of [off, off+length) a page, as fallocate(2)
// does on tmpfs, even past Size (FALLOC_FL_KEEP_SIZE). With a quota, it
// fails with ENOSPC and allocates nothing if the missing pages do not fit.
func (c *PageCache) Allocate(off, length int64) error {
	if off < 0 || length <= 0 || off+length < off {
		return unix.EINVAL
	}
	first, end := off/memfile.PageSize, roundUp(off+length)/memfile.PageSize
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []int64
	for idx := first; idx < end; idx++ {
		if _, ok := c.pages[idx]; !ok {
			missing = append(missing, idx)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	n := int64(len(missing))
	if c.Quota != nil {
		if err := c.Quota.Charge(n); err != nil {
			return err
		}
	}
	m, err := c.MF.Allocate(n * memfile.PageSize)
	if err != nil {
		if c.Quota != nil {
			c.Quota.Uncharge(n)
		}
		return unix.ENOSPC
	}
	if c.pages == nil {
		c.pages = make(map[int64]int64)
	}
	for i, idx := range missing {
		c.pages[idx] = m + int64(i)*memfile.PageSize
	}
	return nil
}

// CachedPages returns how many pages the cache holds (st_blocks of a tmpfs
// file is this many pages).
func (c *PageCache) CachedPages() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(len(c.pages))
}

// ZeroTail zeroes the bytes of the cached page holding offset size from
// size to the end of the page: what lies past end of file there (written
// through a mapping) must read as zeros once the file grows over it.
func (c *PageCache) ZeroTail(size int64) {
	po := size % memfile.PageSize
	if po == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.pages[size/memfile.PageSize]; ok {
		clear(c.MF.Slice(m+po, memfile.PageSize-po))
	}
}
