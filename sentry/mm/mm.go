// Package mm implements application address spaces: VMAs (what the
// application mapped) and the private pages behind them (which memory file
// pages back each virtual page), demand paging, copy-on-write, and the
// Sentry's own access to application memory.
//
// All application memory lives in one memory file (sentry/memfile). A VMA
// is backed either by private pages owned by this address space (anonymous
// memory, or copies of file pages made on first write) or by a Mappable's
// pages (MAP_SHARED mappings, and the not yet written pages of private file
// mappings). Nothing is mapped into the platform address space until the
// application faults on it; a fault maps a whole window around the faulting
// page so that sequential access costs one trap per window rather than per
// page.
package mm

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

const pageSize = memfile.PageSize

// faultWindow is how much a single fault maps around the faulting page.
const faultWindow = 64 * pageSize

// vma is one mapping made by mmap/brk/the loader.
type vma struct {
	start, end uintptr
	prot       int  // PROT_READ|PROT_WRITE|PROT_EXEC
	maxProt    int  // what mprotect may grant (shared file mappings opened read-only)
	shared     bool // MAP_SHARED: writes go to the Mappable
	mappable   Mappable
	off        int64 // Mappable offset of start
	name       string
	dev, ino   uint64 // the mapped file, for /proc/PID/maps
	// stack: the initial stack or a MAP_GROWSDOWN mapping (not data for
	// RLIMIT_DATA). locked: mlock(2)ed (VM_LOCKED), onFault with
	// MLOCK_ONFAULT. dontFork and wipeOnFork: madvise(2)'s
	// MADV_DONTFORK and MADV_WIPEONFORK.
	stack, locked, onFault bool
	dontFork, wipeOnFork   bool
}

// pte is a private page of this address space.
type pte struct {
	off     int64 // memory file offset
	mappedW bool  // mapped writable in the platform address space
}

// MemoryManager is one application address space (struct mm_struct).
type MemoryManager struct {
	mf *memfile.File
	as platform.AddressSpace

	mu       sync.Mutex
	vmas     []*vma // sorted by start, non-overlapping
	ptes     map[uintptr]pte
	brkStart uintptr
	brk      uintptr
	mmapTop  uintptr // top-down mmap allocation starts below this
	maxAddr  uintptr
	// patchTab is the platform's trampoline table, if a system call site
	// was patched (patch.go).
	patchTab *patchTable
	// noPatch: no more patching here (UnpatchSyscallSites).
	noPatch bool
	// lockFuture: mlockall(MCL_FUTURE), and lockOnFault with
	// MCL_ONFAULT: new mappings are locked.
	lockFuture, lockOnFault bool

	// prefault: see SetPrefault.
	prefault []uintptr

	users atomic.Int32

	// OwnerPID is the pid of the process the address space belongs to
	// (the kernel sets it), reported to MappingCounters as the process
	// that attached or detached (a SysV segment's shm_lpid); 0 while
	// unknown (the copy fork makes, counted in the parent's name).
	OwnerPID atomic.Int32

	// The largest the address space and its private resident set have
	// been (VmPeak, VmHWM; see Peaks).
	peakVirtual  uintptr
	peakResident uint64

	// Information about the program, for /proc and prctl.
	Exe                string
	ArgvStart, ArgvEnd uintptr
	EnvStart, EnvEnd   uintptr
	Auxv               []uint64
	// The program's text and data as its ELF file lays them out, and the
	// initial stack pointer (/proc/PID/stat, VmExe).
	StartCode, EndCode uintptr
	StartData, EndData uintptr
	StartStack         uintptr
}

// New returns an empty address space.
func New(p platform.Platform, mf *memfile.File) (*MemoryManager, error) {
	as, err := p.NewAddressSpace()
	if err != nil {
		return nil, fmt.Errorf("mm: new address space: %w", err)
	}
	m := &MemoryManager{mf: mf, as: as, ptes: make(map[uintptr]pte), maxAddr: p.MaxUserAddress()}
	m.mmapTop = m.StackTop() - stackGap
	m.users.Store(1)
	return m, nil
}

// stackGap separates the top-down mmap area from the stack, as Linux's
// mmap_base leaves room for the stack rlimit.
const stackGap = 1 << 30

// StackTop is where the initial stack of a new program ends.
func (m *MemoryManager) StackTop() uintptr { return m.maxAddr - pageSize }

// AddressSpace returns the platform address space.
func (m *MemoryManager) AddressSpace() platform.AddressSpace { return m.as }

// Users returns how many tasks share the address space.
func (m *MemoryManager) Users() int32 { return m.users.Load() }

// IncUsers adds a user (a task sharing this mm through CLONE_VM).
func (m *MemoryManager) IncUsers() { m.users.Add(1) }

// DecUsers drops a user; the last one frees all memory and the platform
// address space.
func (m *MemoryManager) DecUsers() {
	if m.users.Add(-1) != 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noteHWMLocked()
	// The platform mappings go first: no page may be freed, and so
	// reused by another address space, while a stub could still reach
	// it (this one's private pages, or those of a Mappable that frees
	// its pages when its last mapping goes, a removed SysV shm segment).
	m.as.Release()
	pages := make([]int64, 0, len(m.ptes))
	for _, p := range m.ptes {
		pages = append(pages, p.off)
	}
	clear(m.ptes)
	m.mf.DecRefPages(pages)
	for _, v := range m.vmas {
		m.track(v, -1)
	}
	m.vmas = nil
}

// MMapOpts are the arguments of MMap.
type MMapOpts struct {
	Addr      uintptr
	Length    uintptr
	Prot      int
	MaxProt   int // 0 means PROT_READ|PROT_WRITE|PROT_EXEC
	Fixed     bool
	NoReplace bool // MAP_FIXED_NOREPLACE
	Shared    bool
	Mappable  Mappable // nil: anonymous private memory
	Offset    int64
	Name      string
	// Dev and Ino identify the mapped file in /proc/PID/maps.
	Dev, Ino uint64
	// Stack marks the initial stack and MAP_GROWSDOWN mappings; Locked
	// is MAP_LOCKED; Below2G is MAP_32BIT (an address in [1 GiB,
	// 2 GiB) unless Addr says where); Populate is MAP_POPULATE.
	Stack, Locked, Below2G, Populate bool
	// Limits are the caller's (nil: none, for the Sentry's own
	// mappings).
	Limits *Limits
}

// MMap creates a mapping and returns its address.
func (m *MemoryManager) MMap(o MMapOpts) (uintptr, error) {
	if o.Length == 0 {
		return 0, unix.EINVAL
	}
	length := pageRoundUp(o.Length)
	if o.Addr%pageSize != 0 && (o.Fixed || o.NoReplace) {
		return 0, unix.EINVAL
	}
	if length < o.Length {
		return 0, unix.ENOMEM // PAGE_ALIGN wrapped to 0
	}
	if o.MaxProt == 0 {
		o.MaxProt = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
	}
	if o.Prot&^o.MaxProt != 0 {
		return 0, unix.EACCES
	}
	if length > m.maxAddr {
		return 0, unix.ENOMEM
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	addr := o.Addr
	switch {
	case o.Fixed || o.NoReplace:
		if addr+length > m.maxAddr || addr+length < addr {
			return 0, unix.ENOMEM
		}
		if o.NoReplace && m.overlaps(addr, addr+length) {
			return 0, unix.EEXIST
		}
	default:
		addr = pageRoundDown(addr)
		if addr == 0 || addr+length < addr || addr+length > m.maxAddr || m.overlaps(addr, addr+length) ||
			(o.Below2G && (addr < below2GStart || addr+length > below2GEnd)) {
			var ok bool
			if o.Below2G {
				addr, ok = m.findFreeIn(length, below2GStart, below2GEnd)
			} else {
				addr, ok = m.findFree(length)
			}
			if !ok {
				return 0, unix.ENOMEM
			}
		}
	}
	v := &vma{start: addr, end: addr + length, prot: o.Prot, maxProt: o.MaxProt,
		shared: o.Shared, mappable: o.Mappable, off: o.Offset, name: o.Name, dev: o.Dev, ino: o.Ino, stack: o.Stack,
		locked: o.Locked || m.lockFuture, onFault: !o.Locked && m.lockOnFault}
	replace := uintptr(0)
	if o.Fixed {
		replace = addr
	}
	if err := m.mayMapLocked(o.Limits, replace, length, v.isData(), v.locked); err != nil {
		return 0, err
	}
	m.unmapLocked(addr, length)
	m.insert(v)
	m.merge()
	m.notePeakLocked()
	if (v.locked && !v.onFault) || o.Populate {
		m.populateLocked(addr, addr+length)
	}
	return addr, nil
}

// MAP_32BIT's range on x86-64 (arch/x86/kernel/sys_x86_64.c).
const (
	below2GStart = 1 << 30
	below2GEnd   = 2 << 30
)

// populateLocked gives the private anonymous pages of [start, end) their
// memory now (mlock, MAP_POPULATE, MADV_POPULATE_*), so they count as
// resident (mincore) without a fault each.
func (m *MemoryManager) populateLocked(start, end uintptr) {
	for a := start; a < end; {
		v := m.find(a)
		if v == nil {
			a += pageSize
			continue
		}
		e := min(v.end, end)
		if !v.shared && v.mappable == nil && v.prot != unix.PROT_NONE {
			m.populateAnon(a, e)
		}
		a = e
	}
}

// Munmap removes mappings in [addr, addr+length).
func (m *MemoryManager) Munmap(addr, length uintptr) error {
	if addr%pageSize != 0 || length == 0 {
		return unix.EINVAL
	}
	length = pageRoundUp(length)
	if addr+length > m.maxAddr || addr+length < addr {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unmapLocked(addr, length)
	return nil
}

// Mprotect changes the protection of [addr, addr+length).
func (m *MemoryManager) Mprotect(addr, length uintptr, prot int) error {
	return m.MprotectLimited(addr, length, prot, nil)
}

// MprotectLimited is Mprotect within the caller's limits: making private
// memory writable may not take it past RLIMIT_DATA (ENOMEM).
func (m *MemoryManager) MprotectLimited(addr, length uintptr, prot int, l *Limits) error {
	if addr%pageSize != 0 {
		return unix.EINVAL
	}
	length = pageRoundUp(length)
	end := addr + length
	if end < addr {
		return unix.ENOMEM
	}
	if length == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// The whole range must be mapped.
	for a := addr; a < end; {
		v := m.find(a)
		if v == nil {
			return unix.ENOMEM
		}
		if prot&^v.maxProt != 0 {
			return unix.EACCES
		}
		a = v.end
	}
	if l != nil && prot&unix.PROT_WRITE != 0 {
		// What becomes data: private, not a stack, not writable yet.
		var more uintptr
		for a := addr; a < end; {
			v := m.find(a)
			e := min(v.end, end)
			if !v.shared && !v.stack && v.prot&unix.PROT_WRITE == 0 {
				more += e - a
			}
			a = e
		}
		if _, data, _ := m.usageLocked(0, 0); more > 0 && uint64(data+more) > l.Data {
			return unix.ENOMEM
		}
	}
	m.patchesAffected(addr, end)
	m.split(addr)
	m.split(end)
	for _, v := range m.vmas {
		if v.start >= addr && v.end <= end {
			v.prot = prot
		}
	}
	m.merge()
	// Drop the platform mappings; the next access faults them back in
	// with the new protection.
	m.invalidate(addr, end)
	return nil
}

// Brk implements brk(2): it moves the program break and returns the new
// (or, on failure, the old) break.
func (m *MemoryManager) Brk(addr uintptr) uintptr { return m.BrkLimited(addr, nil) }

// BrkLimited is Brk within the caller's limits: the heap may not take the
// address space past RLIMIT_AS, nor its size past RLIMIT_DATA (Linux's
// check_data_rlimit, without the data segment, which the Sentry does not
// track), nor locked memory past RLIMIT_MEMLOCK under mlockall(MCL_FUTURE).
func (m *MemoryManager) BrkLimited(addr uintptr, l *Limits) uintptr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr < m.brkStart || addr > m.maxAddr {
		return m.brk
	}
	oldEnd, newEnd := pageRoundUp(m.brk), pageRoundUp(addr)
	switch {
	case newEnd > oldEnd:
		if newEnd > m.maxAddr || m.overlaps(oldEnd, newEnd) {
			return m.brk
		}
		if l != nil && uint64(addr-m.brkStart) > l.Data {
			return m.brk
		}
		v := &vma{start: oldEnd, end: newEnd, prot: unix.PROT_READ | unix.PROT_WRITE,
			maxProt: unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, name: "[heap]",
			locked: m.lockFuture, onFault: m.lockOnFault}
		if err := m.mayMapLocked(l, 0, newEnd-oldEnd, true, v.locked); err != nil {
			return m.brk
		}
		m.insert(v)
		m.merge()
		m.notePeakLocked()
	case newEnd < oldEnd:
		m.unmapLocked(newEnd, oldEnd-newEnd)
	}
	m.brk = addr
	return m.brk
}

// BrkStart returns the start of the heap.
func (m *MemoryManager) BrkStart() uintptr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.brkStart
}

// SetBrkStart sets the start of the heap (after the loaded program).
func (m *MemoryManager) SetBrkStart(addr uintptr) {
	m.mu.Lock()
	m.brkStart, m.brk = addr, addr
	m.mu.Unlock()
}

// Fork returns a copy-on-write copy of m in a new platform address space.
func (m *MemoryManager) Fork(p platform.Platform) (*MemoryManager, error) {
	c, err := New(p, m.mf)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	special := false // MADV_DONTFORK or MADV_WIPEONFORK somewhere
	for _, v := range m.vmas {
		special = special || v.dontFork || v.wipeOnFork
		if v.dontFork {
			continue
		}
		nv := *v
		// fork(2): memory locks are not inherited.
		nv.locked, nv.onFault = false, false
		c.vmas = append(c.vmas, &nv)
		c.track(&nv, 1)
	}
	for a, pg := range m.ptes {
		if special {
			if v := m.find(a); v != nil && (v.dontFork || v.wipeOnFork) {
				continue // the child gets nothing, or zeroes
			}
		}
		m.mf.IncRef(pg.off, pageSize)
		c.ptes[a] = pte{off: pg.off}
		if pg.mappedW {
			m.ptes[a] = pte{off: pg.off}
		}
	}
	// Write-protect the parent: drop its mappings of private writable
	// memory so the next write faults and copies. Neighbouring vmas go
	// in one platform call (a program's .data, .bss and heap are one
	// run): each call is an injection into the stub.
	var runStart, runEnd uintptr
	for _, v := range m.vmas {
		if v.shared || v.prot&unix.PROT_WRITE == 0 {
			continue
		}
		if v.start != runEnd {
			if runEnd > runStart {
				m.as.Unmap(runStart, runEnd-runStart)
			}
			runStart = v.start
		}
		runEnd = v.end
	}
	if runEnd > runStart {
		m.as.Unmap(runStart, runEnd-runStart)
	}
	c.brkStart, c.brk, c.mmapTop = m.brkStart, m.brk, m.mmapTop
	c.patchTab, c.noPatch = m.patchTab.fork(), m.noPatch
	c.Exe, c.ArgvStart, c.ArgvEnd, c.EnvStart, c.EnvEnd = m.Exe, m.ArgvStart, m.ArgvEnd, m.EnvStart, m.EnvEnd
	c.Auxv = append([]uint64(nil), m.Auxv...)
	c.StartCode, c.EndCode, c.StartData, c.EndData, c.StartStack = m.StartCode, m.EndCode, m.StartData, m.EndData, m.StartStack
	c.peakVirtual, c.peakResident = m.virtualLocked(), uint64(len(m.ptes))*pageSize
	return c, nil
}

// FaultResult says what the application gets for a fault that could not
// be fixed: a signal and its si_code.
type FaultResult struct {
	Signo int
	Code  int32
}

// Fault is a page fault the platform reported.
type Fault struct {
	Addr uintptr
	// AccessErr: the page was mapped but the access not allowed
	// (SEGV_ACCERR); then a write to a copy-on-write page is resolved.
	AccessErr bool
	// Write: the platform knows that the access was a write. Then a page
	// that needs copying is copied right away instead of being mapped
	// read-only first (which would cost a second fault).
	Write bool
	// Repeated: the same thread faulted at the same address and
	// instruction the last time too.
	Repeated bool
}

// HandleFault resolves page fault f. It returns nil when the application
// can retry the access.
//
// The platform need not say what kind of access faulted, and another
// thread may have fixed the page since this fault happened. So a fault on
// a page that looks correctly mapped is retried once; only a repeated one
// makes it a protection violation.
func (m *MemoryManager) HandleFault(f Fault) *FaultResult {
	addr, accessErr, repeated := f.Addr, f.AccessErr, f.Repeated
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.find(addr)
	if v == nil {
		return &FaultResult{Signo: int(unix.SIGSEGV), Code: 1 /* SEGV_MAPERR */}
	}
	if v.prot == unix.PROT_NONE {
		return &FaultResult{Signo: int(unix.SIGSEGV), Code: 2 /* SEGV_ACCERR */}
	}
	page := pageRoundDown(addr)
	if accessErr {
		p, private := m.ptes[page]
		if v.shared || v.prot&unix.PROT_WRITE == 0 || (private && p.mappedW) {
			if !repeated {
				return nil
			}
			return &FaultResult{Signo: int(unix.SIGSEGV), Code: 2}
		}
		off, err := m.privatePageForWrite(v, page)
		if err != nil {
			return &FaultResult{Signo: int(unix.SIGBUS), Code: 2 /* BUS_ADRERR */}
		}
		m.ptes[page] = pte{off: off, mappedW: true}
		if err := m.as.MapFile(page, m.mf.FD(), off, pageSize, accessOf(v.prot)); err != nil {
			return &FaultResult{Signo: int(unix.SIGBUS), Code: 2}
		}
		return nil
	}
	if f.Write && m.needsCopy(v, page) {
		off, err := m.privatePageForWrite(v, page)
		if err != nil {
			return &FaultResult{Signo: int(unix.SIGBUS), Code: 2}
		}
		m.ptes[page] = pte{off: off} // backing maps it writable now
	}
	start, end := windowOf(v, page)
	runs, err := m.windowRuns(v, start, end, page)
	if err != nil {
		return &FaultResult{Signo: int(unix.SIGBUS), Code: 2}
	}
	ws := []window{{v, runs}}
	if m.prefault != nil {
		ws = m.prefaultWindows(ws, start)
	}
	if err := m.mapWindows(ws); err != nil {
		return &FaultResult{Signo: int(unix.SIGBUS), Code: 2}
	}
	return nil
}

// windowOf returns the fault window of v around page.
func windowOf(v *vma, page uintptr) (start, end uintptr) {
	start = max(v.start, page&^(faultWindow-1))
	return start, min(v.end, start+faultWindow)
}

// SetPrefault records addresses a freshly loaded program is about to use
// (its entry point, its stack, the starts of its segments): their fault
// windows are mapped along with the window of its first page fault, in
// the same platform call, where the platform can make several mappings at
// once (platform.MultiMapper). Each of them would otherwise be a fault of
// its own, which on such a platform costs far more than one more range in
// a call that is made anyway.
func (m *MemoryManager) SetPrefault(addrs []uintptr) {
	if _, ok := m.as.(platform.MultiMapper); !ok {
		return
	}
	m.mu.Lock()
	m.prefault = addrs
	m.mu.Unlock()
}

// prefaultWindows adds the windows of the recorded prefault addresses to
// ws, whose first window starts at faultStart, and forgets them. Windows
// that cannot be mapped are left to their own faults.
func (m *MemoryManager) prefaultWindows(ws []window, faultStart uintptr) []window {
	addrs := m.prefault
	m.prefault = nil
	seen := map[uintptr]bool{faultStart: true}
	for _, a := range addrs {
		v := m.find(a)
		if v == nil || v.prot == unix.PROT_NONE {
			continue
		}
		start, end := windowOf(v, pageRoundDown(a))
		if seen[start] {
			continue
		}
		seen[start] = true
		if runs, err := m.windowRuns(v, start, end, pageRoundDown(a)); err == nil {
			ws = append(ws, window{v, runs})
		}
	}
	return ws
}

// window is the runs of memory file pages that map part of one vma.
type window struct {
	v    *vma
	runs []platform.Mapping
}

// mapWindows maps the runs of ws, in one platform call where the platform
// can make several at once.
func (m *MemoryManager) mapWindows(ws []window) error {
	runs := ws[0].runs
	if len(ws) > 1 {
		runs = nil
		for _, w := range ws {
			runs = append(runs, w.runs...)
		}
	}
	if err := m.mapRuns(runs); err != nil {
		return err
	}
	for _, w := range ws {
		if w.v.shared {
			continue
		}
		for _, r := range w.runs {
			if !r.Access.Write {
				continue
			}
			for a := r.Addr; a < r.Addr+r.Length; a += pageSize {
				p := m.ptes[a]
				p.mappedW = true
				m.ptes[a] = p
			}
		}
	}
	return nil
}

// windowRuns returns the runs of memory file pages that back [start, end)
// of v, creating private anonymous pages as needed. Pages a Mappable
// cannot provide (past end of file) end the window; if that includes the
// faulting page it is an error.
func (m *MemoryManager) windowRuns(v *vma, start, end, faultPage uintptr) ([]platform.Mapping, error) {
	if !v.shared && v.mappable == nil {
		m.populateAnon(start, end)
	}
	if c := cacheOf(v.mappable); v.shared && c != nil && c.Quota != nil {
		m.fillAround(v, c, start, end)
	}
	var runs []platform.Mapping
	for a := start; a < end; a += pageSize {
		off, at, err := m.backing(v, a, a != faultPage)
		if err == errNotCached {
			continue
		}
		if err != nil {
			if a <= faultPage {
				return nil, err
			}
			break
		}
		if n := len(runs); n > 0 {
			r := &runs[n-1]
			if r.Addr+r.Length == a && r.Off+int64(r.Length) == off && r.Access == at {
				r.Length += pageSize
				continue
			}
		}
		runs = append(runs, platform.Mapping{Addr: a, Off: off, Length: pageSize, Access: at})
	}
	return runs, nil
}

// mapRuns maps runs of the memory file into the platform address space,
// in one platform call where the platform can make several at once.
func (m *MemoryManager) mapRuns(runs []platform.Mapping) error {
	if mm, ok := m.as.(platform.MultiMapper); ok && len(runs) > 1 {
		return mm.MapFiles(m.mf.FD(), runs)
	}
	for _, r := range runs {
		if err := m.as.MapFile(r.Addr, m.mf.FD(), r.Off, r.Length, r.Access); err != nil {
			return err
		}
	}
	return nil
}

// fillAround gives the holes of a shared tmpfs mapping's fault window
// their pages, all or none: only if the filesystem has room for every one
// of them. Linux allocates only the faulting page (its fault-around maps
// pages that exist), but here each fault costs two ptrace round trips, so
// first touching a shared mapping page by page would cost a fault per
// page. The pages count like any others (st_blocks, df); when they do not
// all fit, only the faulting page is allocated, so a fault gets SIGBUS
// only if that page does not fit.
func (m *MemoryManager) fillAround(v *vma, c *PageCache, start, end uintptr) {
	off := v.off + int64(start-v.start)
	n := min(int64(end-start), roundUp(c.Size())-off)
	if n > 0 {
		c.Allocate(off, n) // ENOSPC: no room for the window
	}
}

// errNotCached is backing's answer for a page of the fault window that
// only a fault on that very page should allocate.
var errNotCached = errors.New("mm: page not cached")

// backing returns the memory file page that backs page a of v right now
// and the access the platform may grant to it. around says that a is not
// the faulting page but one mapped with it: then a page of a cache with a
// Quota that does not exist yet gives errNotCached, because such pages
// count against a tmpfs's size and only fillAround may allocate them
// ahead of use.
func (m *MemoryManager) backing(v *vma, a uintptr, around bool) (int64, platform.AccessType, error) {
	at := accessOf(v.prot)
	if v.shared {
		off, err := m.translate(v, a, around)
		return off, at, err
	}
	if p, ok := m.ptes[a]; ok {
		if at.Write && m.mf.RefCount(p.off) > 1 {
			at.Write = false // shared with a fork: copy on write
		}
		return p.off, at, nil
	}
	if v.mappable == nil {
		return 0, at, unix.ENOMEM // populateAnon could not allocate it
	}
	// An unwritten page of a private file mapping: the file's page,
	// read-only until written.
	at.Write = false
	off, err := m.translate(v, a, around)
	return off, at, err
}

// translate returns the Mappable's page behind page a of v (see backing
// for around).
func (m *MemoryManager) translate(v *vma, a uintptr, around bool) (int64, error) {
	off := v.off + int64(a-v.start)
	if around {
		if c := cacheOf(v.mappable); c != nil && c.Quota != nil {
			if p, ok := c.cachedPage(off); ok {
				return p, nil
			}
			return 0, errNotCached
		}
	}
	return v.mappable.TranslatePage(off)
}

// populateAnon gives every page in [start, end) of an anonymous private
// vma a private page, allocating the missing ones as one contiguous run so
// they can be mapped with one platform call.
func (m *MemoryManager) populateAnon(start, end uintptr) {
	var missing []uintptr
	for a := start; a < end; a += pageSize {
		if _, ok := m.ptes[a]; !ok {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return
	}
	off, err := m.mf.Allocate(int64(len(missing)) * pageSize)
	if err != nil {
		return // backing reports the missing pages as ENOMEM
	}
	for i, a := range missing {
		m.ptes[a] = pte{off: off + int64(i)*pageSize}
	}
}

// needsCopy reports whether a write to page of v needs a page of its own
// first: a private writable mapping whose page is a file's or shared
// with a fork. (A missing anonymous page is no such case: populateAnon
// gives it a private one along with its neighbours.)
func (m *MemoryManager) needsCopy(v *vma, page uintptr) bool {
	if v.shared || v.prot&unix.PROT_WRITE == 0 {
		return false
	}
	if p, ok := m.ptes[page]; ok {
		return m.mf.RefCount(p.off) > 1
	}
	return v.mappable != nil
}

// privatePageForWrite returns a page of v at page that this address space
// owns exclusively, copying a shared (forked) or file page if needed. The
// caller records the result in m.ptes.
func (m *MemoryManager) privatePageForWrite(v *vma, page uintptr) (int64, error) {
	if p, ok := m.ptes[page]; ok {
		if m.mf.RefCount(p.off) == 1 {
			return p.off, nil
		}
		n, err := m.mf.Allocate(pageSize)
		if err != nil {
			return 0, err
		}
		copy(m.mf.Slice(n, pageSize), m.mf.Slice(p.off, pageSize))
		m.mf.DecRef(p.off, pageSize)
		return n, nil
	}
	n, err := m.mf.Allocate(pageSize)
	if err != nil {
		return 0, err
	}
	if v.mappable != nil {
		src, err := v.mappable.TranslatePage(v.off + int64(page-v.start))
		if err != nil {
			m.mf.DecRef(n, pageSize)
			return 0, err
		}
		copy(m.mf.Slice(n, pageSize), m.mf.Slice(src, pageSize))
	}
	return n, nil
}

// find returns the vma containing addr, or nil.
func (m *MemoryManager) find(addr uintptr) *vma {
	i := sort.Search(len(m.vmas), func(i int) bool { return m.vmas[i].end > addr })
	if i < len(m.vmas) && m.vmas[i].start <= addr {
		return m.vmas[i]
	}
	return nil
}

func (m *MemoryManager) overlaps(start, end uintptr) bool {
	i := sort.Search(len(m.vmas), func(i int) bool { return m.vmas[i].end > start })
	return i < len(m.vmas) && m.vmas[i].start < end
}

// findFree finds a free range of length bytes, top-down from mmapTop.
func (m *MemoryManager) findFree(length uintptr) (uintptr, bool) {
	return m.findFreeIn(length, pageSize*16, m.mmapTop) // never hand out the low pages
}

// findFreeIn finds a free range of length bytes in [lo, hi), top-down.
func (m *MemoryManager) findFreeIn(length, lo, hi uintptr) (uintptr, bool) {
	end := hi
	for i := len(m.vmas) - 1; i >= -1; i-- {
		gapStart := lo
		if i >= 0 {
			gapStart = max(m.vmas[i].end, lo)
		}
		if gapStart >= end {
			if i >= 0 && m.vmas[i].start < end {
				end = m.vmas[i].start
			}
			continue
		}
		if end-gapStart >= length {
			return end - length, true
		}
		if i >= 0 {
			end = m.vmas[i].start
		}
	}
	return 0, false
}

// insert adds v, which must not overlap existing vmas. It does not merge
// (split relies on that); callers merge when done.
func (m *MemoryManager) insert(v *vma) {
	i := sort.Search(len(m.vmas), func(i int) bool { return m.vmas[i].start >= v.start })
	m.vmas = append(m.vmas, nil)
	copy(m.vmas[i+1:], m.vmas[i:])
	m.vmas[i] = v
	m.track(v, 1)
}

// track counts v as a user of its mappable's page cache (delta +1 when v
// appears, -1 when it goes).
func (m *MemoryManager) track(v *vma, delta int) {
	if c := cacheOf(v.mappable); c != nil {
		c.addMapper(m, delta, v.shared && v.maxProt&unix.PROT_WRITE != 0)
	}
	if mc, ok := v.mappable.(MappingCounter); ok {
		mc.CountMappings(delta, m.OwnerPID.Load())
	}
}

// MappingCounter is implemented by Mappables that count the mappings made
// of them: a SysV shared memory segment's shm_nattch (shmctl(2)) counts
// vmas, as Linux's does through vm_ops open/close, so fork, munmap, exit
// and execve keep it right. pid is the address space's OwnerPID.
// CountMappings is called with m's lock held.
type MappingCounter interface {
	CountMappings(delta int, pid int32)
}

// UnmapSegment is the address-space half of shmdt(2): it finds the
// mapping starting at addr at offset 0 of a Mappable that isSeg accepts
// (returning the segment's size), and unmaps every mapping of that same
// Mappable in [addr, addr+size) that maps it at the matching offset, as
// Linux's shmdt does. It returns the Mappable, or EINVAL when addr starts
// no such mapping.
func (m *MemoryManager) UnmapSegment(addr uintptr, isSeg func(Mappable) (int64, bool)) (Mappable, error) {
	if addr%pageSize != 0 {
		return nil, unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.find(addr)
	if v == nil || v.start != addr || v.off != 0 || v.mappable == nil {
		return nil, unix.EINVAL
	}
	size, ok := isSeg(v.mappable)
	if !ok {
		return nil, unix.EINVAL
	}
	mp := v.mappable
	end := addr + pageRoundUp(uintptr(size))
	var ranges [][2]uintptr
	for _, o := range m.vmas {
		if o.start >= end {
			break
		}
		if o.start >= addr && o.mappable == mp && o.off == int64(o.start-addr) {
			ranges = append(ranges, [2]uintptr{o.start, min(o.end, end)})
		}
	}
	for _, r := range ranges {
		m.unmapLocked(r[0], r[1]-r[0])
	}
	return mp, nil
}

// invalidateCache drops the platform mappings of c's pages at file
// offsets >= from, after a truncate. Private copies made by writes stay.
func (m *MemoryManager) invalidateCache(c *PageCache, from int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.vmas {
		if cacheOf(v.mappable) != c {
			continue
		}
		end := v.off + int64(v.end-v.start)
		if end <= from {
			continue
		}
		start := v.start
		if from > v.off {
			start += uintptr(from - v.off)
		}
		m.invalidate(start, v.end)
	}
}

// split makes addr a vma boundary if it falls inside one.
func (m *MemoryManager) split(addr uintptr) {
	v := m.find(addr)
	if v == nil || v.start == addr {
		return
	}
	nv := *v
	nv.start = addr
	nv.off = v.off + int64(addr-v.start)
	v.end = addr
	m.insert(&nv)
}

// merge joins adjacent vmas that are indistinguishable.
func (m *MemoryManager) merge() {
	out := m.vmas[:0]
	for _, v := range m.vmas {
		if n := len(out); n > 0 {
			p := out[n-1]
			if p.end == v.start && p.prot == v.prot && p.maxProt == v.maxProt && p.shared == v.shared &&
				p.mappable == v.mappable && p.name == v.name && p.stack == v.stack &&
				p.locked == v.locked && p.onFault == v.onFault && p.dontFork == v.dontFork &&
				p.wipeOnFork == v.wipeOnFork &&
				(p.mappable == nil || p.off+int64(p.end-p.start) == v.off) {
				p.end = v.end
				m.track(v, -1)
				continue
			}
		}
		out = append(out, v)
	}
	for i := len(out); i < len(m.vmas); i++ {
		m.vmas[i] = nil
	}
	m.vmas = out
}

// unmapLocked removes [addr, addr+length) from vmas, private pages and the
// platform address space.
func (m *MemoryManager) unmapLocked(addr, length uintptr) {
	end := addr + length
	if !m.overlaps(addr, end) {
		return
	}
	m.patchesAffected(addr, end)
	m.split(addr)
	m.split(end)
	out := m.vmas[:0]
	var gone []*vma
	for _, v := range m.vmas {
		if v.start >= addr && v.end <= end {
			gone = append(gone, v)
			continue
		}
		out = append(out, v)
	}
	for i := len(out); i < len(m.vmas); i++ {
		m.vmas[i] = nil
	}
	m.vmas = out
	m.noteHWMLocked()
	// Unmap first: no thread may reach a page once it is freed (private
	// pages below, or a Mappable's when its last mapping goes).
	m.as.Unmap(addr, length)
	for _, v := range gone {
		m.track(v, -1)
	}
	m.forPtes(addr, end, func(a uintptr, p pte) {
		m.mf.DecRef(p.off, pageSize)
		delete(m.ptes, a)
	})
}

// invalidate drops platform mappings of [start, end) so they are faulted
// in again.
func (m *MemoryManager) invalidate(start, end uintptr) {
	m.forPtes(start, end, func(a uintptr, p pte) {
		if p.mappedW {
			p.mappedW = false
			m.ptes[a] = p
		}
	})
	m.as.Unmap(start, end-start)
}

// forPtes calls fn for each private page in [start, end), walking whichever
// is smaller: the range or the page map (ranges can be huge reservations).
// fn may delete or replace the entry it is given.
func (m *MemoryManager) forPtes(start, end uintptr, fn func(uintptr, pte)) {
	if (end-start)/pageSize < uintptr(len(m.ptes)) {
		for a := start; a < end; a += pageSize {
			if p, ok := m.ptes[a]; ok {
				fn(a, p)
			}
		}
		return
	}
	for a, p := range m.ptes {
		if a >= start && a < end {
			fn(a, p)
		}
	}
}

func accessOf(prot int) platform.AccessType {
	return platform.AccessType{
		Read:    prot&unix.PROT_READ != 0,
		Write:   prot&unix.PROT_WRITE != 0,
		Execute: prot&unix.PROT_EXEC != 0,
	}
}

func pageRoundUp(n uintptr) uintptr   { return (n + pageSize - 1) &^ (pageSize - 1) }
func pageRoundDown(n uintptr) uintptr { return n &^ (pageSize - 1) }
