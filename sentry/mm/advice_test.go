package mm

import (
	"testing"

	"github.com/veil-sandbox/veil/platform/platformtest"
	"golang.org/x/sys/unix"
)

const rw = unix.PROT_READ | unix.PROT_WRITE

func mustMap(t *testing.T, m *MemoryManager, o MMapOpts) uintptr {
	t.Helper()
	if o.Prot == 0 {
		o.Prot = rw
	}
	a, err := m.MMap(o)
	if err != nil {
		t.Fatalf("MMap(%+v): %v", o, err)
	}
	return a
}

func byteAt(m *MemoryManager, a uintptr) byte {
	var b [1]byte
	m.CopyIn(a, b[:])
	return b[0]
}

func TestMremapMovesPages(t *testing.T) {
	m, _ := newTestMM(t)
	a := mustMap(t, m, MMapOpts{Length: 4 * pageSize})
	m.CopyOut(a+pageSize, []byte{7})
	// Shrink: the tail goes.
	if r, err := m.Mremap(a, 4*pageSize, 2*pageSize, MremapOpts{}); err != nil || r != a {
		t.Fatalf("shrink: %#x, %v", r, err)
	}
	if m.find(a+2*pageSize) != nil {
		t.Fatal("tail still mapped after shrinking")
	}
	// Grow in place: the pages after are free.
	if r, err := m.Mremap(a, 2*pageSize, 3*pageSize, MremapOpts{}); err != nil || r != a {
		t.Fatalf("grow in place: %#x, %v", r, err)
	}
	// Blocked growth moves with MAYMOVE, taking the data along.
	mustMap(t, m, MMapOpts{Addr: a + 3*pageSize, Length: pageSize, Fixed: true})
	if _, err := m.Mremap(a, 3*pageSize, 5*pageSize, MremapOpts{}); err != unix.ENOMEM {
		t.Fatalf("blocked grow without MAYMOVE: %v", err)
	}
	r, err := m.Mremap(a, 3*pageSize, 5*pageSize, MremapOpts{MayMove: true})
	if err != nil || r == a {
		t.Fatalf("move: %#x, %v", r, err)
	}
	if byteAt(m, r+pageSize) != 7 || m.find(a) != nil {
		t.Fatal("data not moved or source still mapped")
	}
	// DONTUNMAP: the old range stays, empty.
	d, err := m.Mremap(r, pageSize*2, pageSize*2, MremapOpts{MayMove: true, DontUnmap: true})
	if err != nil || byteAt(m, d+pageSize) != 7 || m.find(r) == nil || byteAt(m, r+pageSize) != 0 {
		t.Fatalf("DONTUNMAP: %#x, %v", d, err)
	}
	// FIXED onto an overlapping range, and errors.
	if _, err := m.Mremap(d, pageSize, pageSize, MremapOpts{MayMove: true, Fixed: true, NewAddr: d}); err != unix.EINVAL {
		t.Errorf("FIXED overlapping: %v", err)
	}
	if _, err := m.Mremap(0x10000, pageSize, pageSize, MremapOpts{}); err != unix.EFAULT {
		t.Errorf("unmapped source: %v", err)
	}
	if _, err := m.Mremap(d, 0, pageSize, MremapOpts{MayMove: true}); err != unix.EINVAL {
		t.Errorf("duplicating private memory: %v", err)
	}
}

func TestLimits(t *testing.T) {
	m, _ := newTestMM(t)
	l := &Limits{AS: 64 * pageSize, Data: 16 * pageSize, MemLock: 4 * pageSize}
	if _, err := m.MMap(MMapOpts{Length: 128 * pageSize, Prot: unix.PROT_READ, Limits: l}); err != unix.ENOMEM {
		t.Errorf("past RLIMIT_AS: %v", err)
	}
	if _, err := m.MMap(MMapOpts{Length: 32 * pageSize, Prot: rw, Limits: l}); err != unix.ENOMEM {
		t.Errorf("past RLIMIT_DATA: %v", err)
	}
	ro := mustMap(t, m, MMapOpts{Length: 32 * pageSize, Prot: unix.PROT_READ, Limits: l})
	if err := m.MprotectLimited(ro, 32*pageSize, rw, l); err != unix.ENOMEM {
		t.Errorf("mprotect past RLIMIT_DATA: %v", err)
	}
	if _, err := m.MMap(MMapOpts{Length: 8 * pageSize, Prot: unix.PROT_READ, Locked: true, Limits: l}); err != unix.EAGAIN {
		t.Errorf("MAP_LOCKED past RLIMIT_MEMLOCK: %v", err)
	}
	a := mustMap(t, m, MMapOpts{Length: 8 * pageSize, Limits: l})
	if err := m.Mlock(a, 8*pageSize, false, l); err != unix.ENOMEM {
		t.Errorf("mlock past RLIMIT_MEMLOCK: %v", err)
	}
	if err := m.Mlock(a, 2*pageSize, false, l); err != nil {
		t.Errorf("mlock: %v", err)
	}
	if m.LockedBytes() != 2*pageSize {
		t.Errorf("locked %d bytes", m.LockedBytes())
	}
	if err := m.Mlock(a, pageSize, false, &Limits{}); err != unix.EPERM {
		t.Errorf("mlock with RLIMIT_MEMLOCK 0: %v", err)
	}
	if err := m.Mlockall(MclCurrent, l); err != unix.ENOMEM {
		t.Errorf("mlockall past the limit: %v", err)
	}
	m.Munlockall()
	if m.LockedBytes() != 0 {
		t.Error("munlockall left locked memory")
	}
	m.SetBrkStart(0x600000)
	if got := m.BrkLimited(0x600000+32*pageSize, l); got != 0x600000 {
		t.Errorf("brk past RLIMIT_DATA moved to %#x", got)
	}
	if got := m.BrkLimited(0x600000+4*pageSize, l); got != 0x600000+4*pageSize {
		t.Errorf("brk within the limits: %#x", got)
	}
}

func TestMadviseAndMincore(t *testing.T) {
	m, _ := newTestMM(t)
	a := mustMap(t, m, MMapOpts{Length: 4 * pageSize})
	if fr := m.HandleFault(Fault{Addr: a}); fr != nil {
		t.Fatal(fr)
	}
	m.CopyOut(a, []byte{1})
	vec, err := m.Mincore(a, 4*pageSize)
	if err != nil || vec[0] != 1 {
		t.Fatalf("mincore after a write: %v, %v", vec, err)
	}
	if err := m.Madvise(a, 4*pageSize, MadvDontneed); err != nil {
		t.Fatal(err)
	}
	if vec, _ := m.Mincore(a, 4*pageSize); vec[0] != 0 || byteAt(m, a) != 0 {
		t.Fatalf("after MADV_DONTNEED: %v, byte %d", vec, byteAt(m, a))
	}
	if _, err := m.Mincore(0x10000, pageSize); err != unix.ENOMEM {
		t.Errorf("mincore of nothing: %v", err)
	}
	if err := m.Madvise(a, pageSize, 12345); err != unix.EINVAL {
		t.Errorf("unknown advice: %v", err)
	}
	if err := m.Madvise(a, pageSize, MadvRemove); err != unix.EINVAL {
		t.Errorf("MADV_REMOVE on private memory: %v", err)
	}

	// MADV_WIPEONFORK and MADV_DONTFORK across Fork.
	w := mustMap(t, m, MMapOpts{Length: pageSize})
	nf := mustMap(t, m, MMapOpts{Length: pageSize})
	m.CopyOut(w, []byte{5})
	m.CopyOut(nf, []byte{6})
	if err := m.Madvise(w, pageSize, MadvWipeonfork); err != nil {
		t.Fatal(err)
	}
	if err := m.Madvise(nf, pageSize, MadvDontfork); err != nil {
		t.Fatal(err)
	}
	c, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	if byteAt(c, w) != 0 || c.find(nf) != nil {
		t.Errorf("child: wiped page reads %d, DONTFORK mapping present %v", byteAt(c, w), c.find(nf) != nil)
	}
	if byteAt(m, w) != 5 || byteAt(m, nf) != 6 {
		t.Error("parent lost its pages")
	}

	// MADV_REMOVE punches a hole in shared memory.
	s := mustMap(t, m, MMapOpts{Length: 2 * pageSize, Shared: true, Mappable: NewAnonymousMappable(m.mf, 2*pageSize)})
	m.CopyOut(s, []byte{9})
	m.CopyOut(s+pageSize, []byte{8})
	if err := m.Madvise(s, pageSize, MadvRemove); err != nil {
		t.Fatal(err)
	}
	if byteAt(m, s) != 0 || byteAt(m, s+pageSize) != 8 {
		t.Errorf("after MADV_REMOVE: %d %d", byteAt(m, s), byteAt(m, s+pageSize))
	}
}

func TestMsync(t *testing.T) {
	m, _ := newTestMM(t)
	a := mustMap(t, m, MMapOpts{Length: pageSize})
	for _, tc := range []struct {
		addr  uintptr
		flags int
		err   error
	}{
		{a, MsSync, nil},
		{a + 1, MsSync, unix.EINVAL},
		{a, MsSync | MsAsync, unix.EINVAL},
		{a, 8, unix.EINVAL},
		{0x10000, MsSync, unix.ENOMEM},
	} {
		if err := m.Msync(tc.addr, pageSize, tc.flags); err != tc.err {
			t.Errorf("Msync(%#x, %d) = %v, want %v", tc.addr, tc.flags, err, tc.err)
		}
	}
	m.Mlock(a, pageSize, false, NoLimits)
	if err := m.Msync(a, pageSize, MsInvalidate); err != unix.EBUSY {
		t.Errorf("MS_INVALIDATE of locked memory: %v", err)
	}
}
