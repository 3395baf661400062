package tmpfs

import "github.com/veil-sandbox/veil/sentry/mm"

// PageCache lets address spaces find the cache behind a tmpfs mapping, so
// truncation can unmap pages past the new end of file.
func (m *mappable) PageCache() *mm.PageCache { return m.pc }
