package vfs

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

type fdEntry struct {
	file    *FileDescription
	cloexec bool
}

// FDTable maps file descriptor numbers to open file descriptions. Tasks
// created with CLONE_FILES share one table (IncRef); fork copies it (Fork).
// The table holds one reference on each FileDescription it contains, per
// descriptor.
//
// The table is also the owner of POSIX record locks (like Linux's
// files_struct): closing any descriptor of a file releases the table's
// locks on that file.
type FDTable struct {
	mu    sync.Mutex
	files []fdEntry
	limit int32 // RLIMIT_NOFILE: descriptors must be below it
	refs  atomic.Int32
}

// NewFDTable returns an empty table with one reference and the default
// limit (DefaultFDLimit).
func NewFDTable() *FDTable {
	t := &FDTable{limit: DefaultFDLimit}
	t.refs.Store(1)
	return t
}

// IncRef takes a reference (a CLONE_FILES task sharing the table).
func (t *FDTable) IncRef() { t.refs.Add(1) }

// DecRef drops a reference; the last one closes every descriptor.
func (t *FDTable) DecRef() {
	if t.refs.Add(-1) == 0 {
		t.CloseAll()
	}
}

// Limit returns the descriptor limit.
func (t *FDTable) Limit() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// SetLimit sets the descriptor limit (setrlimit(RLIMIT_NOFILE)); existing
// descriptors above it stay open.
func (t *FDTable) SetLimit(n int32) {
	if n > MaxFDLimit {
		n = MaxFDLimit
	}
	if n < 0 {
		n = 0
	}
	t.mu.Lock()
	t.limit = n
	t.mu.Unlock()
}

// Get returns the description of fd with a new reference (the caller
// DecRefs it), and its close-on-exec flag; EBADF if fd is not open.
func (t *FDTable) Get(fd int32) (*FileDescription, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.files) || t.files[fd].file == nil {
		return nil, false, unix.EBADF
	}
	e := t.files[fd]
	e.file.IncRef()
	return e.file, e.cloexec, nil
}

// GetFile is Get without the flag.
func (t *FDTable) GetFile(fd int32) (*FileDescription, error) {
	f, _, err := t.Get(fd)
	return f, err
}

// NewFD installs file at the lowest free descriptor >= min (open, dup,
// F_DUPFD). The table takes its own reference: the caller keeps (and
// eventually drops) its own. EMFILE if no descriptor below the limit is
// free; EINVAL if min is negative or not below the limit (F_DUPFD).
func (t *FDTable) NewFD(min int32, file *FileDescription, cloexec bool) (int32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if min < 0 {
		return -1, unix.EINVAL
	}
	if min >= t.limit {
		return -1, unix.EMFILE
	}
	fd := min
	for int(fd) < len(t.files) && t.files[fd].file != nil {
		fd++
	}
	if fd >= t.limit {
		return -1, unix.EMFILE
	}
	t.setLocked(fd, file, cloexec)
	return fd, nil
}

// NewFDs installs several files at the lowest free descriptors (pipe2,
// socketpair) atomically: either all get one or none does (EMFILE).
func (t *FDTable) NewFDs(files []*FileDescription, cloexec bool) ([]int32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var fds []int32
	for fd := int32(0); fd < t.limit && len(fds) < len(files); fd++ {
		if int(fd) >= len(t.files) || t.files[fd].file == nil {
			fds = append(fds, fd)
		}
	}
	if len(fds) < len(files) {
		return nil, unix.EMFILE
	}
	for i, fd := range fds {
		t.setLocked(fd, files[i], cloexec)
	}
	return fds, nil
}

func (t *FDTable) setLocked(fd int32, file *FileDescription, cloexec bool) {
	for int(fd) >= len(t.files) {
		t.files = append(t.files, make([]fdEntry, max(len(t.files), 8))...)
	}
	file.IncRef()
	t.files[fd] = fdEntry{file, cloexec}
}

// SetFD installs file at exactly fd (dup2, dup3), closing what was there.
// EBADF if fd is negative or not below the limit.
func (t *FDTable) SetFD(fd int32, file *FileDescription, cloexec bool) error {
	t.mu.Lock()
	if fd < 0 || fd >= t.limit {
		t.mu.Unlock()
		return unix.EBADF
	}
	var old fdEntry
	if int(fd) < len(t.files) {
		old = t.files[fd]
	}
	t.setLocked(fd, file, cloexec)
	t.mu.Unlock()
	if old.file != nil {
		t.release(old.file)
	}
	return nil
}

// release drops the table's reference on a removed file, releasing the
// table's POSIX locks on it first.
func (t *FDTable) release(f *FileDescription) {
	releasePOSIX(t, f.inode)
	f.DecRef()
}

// Remove closes fd: the descriptor is freed and the table's reference on
// the description dropped. EBADF if fd is not open.
func (t *FDTable) Remove(fd int32) error {
	t.mu.Lock()
	if fd < 0 || int(fd) >= len(t.files) || t.files[fd].file == nil {
		t.mu.Unlock()
		return unix.EBADF
	}
	f := t.files[fd].file
	t.files[fd] = fdEntry{}
	t.mu.Unlock()
	t.release(f)
	return nil
}

// SetCloseOnExec sets or clears FD_CLOEXEC on fd.
func (t *FDTable) SetCloseOnExec(fd int32, cloexec bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.files) || t.files[fd].file == nil {
		return unix.EBADF
	}
	t.files[fd].cloexec = cloexec
	return nil
}

// Fork returns a copy of the table (fork without CLONE_FILES) sharing
// the open file descriptions, with one reference.
func (t *FDTable) Fork() *FDTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &FDTable{limit: t.limit, files: make([]fdEntry, len(t.files))}
	n.refs.Store(1)
	for i, e := range t.files {
		if e.file != nil {
			e.file.IncRef()
			n.files[i] = e
		}
	}
	return n
}

// CloseOnExec closes every descriptor with FD_CLOEXEC (execve).
func (t *FDTable) CloseOnExec() {
	t.closeMatching(0, int32(MaxFDLimit), func(e fdEntry) bool { return e.cloexec })
}

// CloseAll closes every descriptor (exit).
func (t *FDTable) CloseAll() {
	t.closeMatching(0, int32(MaxFDLimit), func(fdEntry) bool { return true })
}

// CloseRange implements close_range(2) for [first, last] (last inclusive,
// already clamped by the caller to int32); with cloexec it sets FD_CLOEXEC
// instead of closing.
func (t *FDTable) CloseRange(first, last int32, cloexec bool) {
	if cloexec {
		t.mu.Lock()
		for fd := first; fd <= last && int(fd) < len(t.files); fd++ {
			if t.files[fd].file != nil {
				t.files[fd].cloexec = true
			}
		}
		t.mu.Unlock()
		return
	}
	t.closeMatching(first, last, func(fdEntry) bool { return true })
}

func (t *FDTable) closeMatching(first, last int32, match func(fdEntry) bool) {
	var closed []*FileDescription
	t.mu.Lock()
	for fd := first; fd >= 0 && fd <= last && int(fd) < len(t.files); fd++ {
		if e := t.files[fd]; e.file != nil && match(e) {
			closed = append(closed, e.file)
			t.files[fd] = fdEntry{}
		}
	}
	t.mu.Unlock()
	for _, f := range closed {
		t.release(f)
	}
}

// ForEach calls fn for every open descriptor in increasing order (for
// /proc/self/fd). fn runs without the table locked; it must not keep f
// beyond the call without taking a reference.
func (t *FDTable) ForEach(fn func(fd int32, f *FileDescription, cloexec bool)) {
	type ent struct {
		fd int32
		fdEntry
	}
	var ents []ent
	t.mu.Lock()
	for i, e := range t.files {
		if e.file != nil {
			e.file.IncRef()
			ents = append(ents, ent{int32(i), e})
		}
	}
	t.mu.Unlock()
	for _, e := range ents {
		fn(e.fd, e.file, e.cloexec)
		e.file.DecRef()
	}
}

// Count returns the number of open descriptors.
func (t *FDTable) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.files {
		if e.file != nil {
			n++
		}
	}
	return n
}
