package mm

import (
	"bytes"
	"testing"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"golang.org/x/sys/unix"
)

// mapped reports how m's platform address space maps page.
func mapped(m *MemoryManager, page uintptr) (platform.AccessType, bool) {
	return m.as.(interface {
		Mapped(uintptr) (platform.AccessType, bool)
	}).Mapped(page)
}

func newTestMM(t *testing.T) (*MemoryManager, *memfile.File) {
	t.Helper()
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(&platformtest.Platform{}, mf)
	if err != nil {
		t.Fatal(err)
	}
	return m, mf
}

func TestMMapCopyRoundTrip(t *testing.T) {
	m, _ := newTestMM(t)
	addr, err := m.MMap(MMapOpts{Length: 3 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3*pageSize)
	if _, err := m.CopyIn(addr, buf); err != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatalf("fresh memory not zero: %v", err)
	}
	msg := []byte("across a page boundary")
	if _, err := m.CopyOut(addr+pageSize-5, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	m.CopyIn(addr+pageSize-5, got)
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %q", got)
	}
	if _, err := m.CopyIn(addr+3*pageSize, got); err != unix.EFAULT {
		t.Fatalf("read past mapping: %v, want EFAULT", err)
	}
}

func TestMprotectSplitsAndFaults(t *testing.T) {
	m, _ := newTestMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 4 * pageSize, Prot: unix.PROT_NONE})
	if fr := m.HandleFault(Fault{Addr: addr}); fr == nil || fr.Signo != int(unix.SIGSEGV) {
		t.Fatalf("fault on PROT_NONE: %+v", fr)
	}
	if err := m.Mprotect(addr+pageSize, 2*pageSize, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	if len(m.vmas) != 3 {
		t.Fatalf("want 3 vmas after mprotect of the middle, got %d", len(m.vmas))
	}
	if fr := m.HandleFault(Fault{Addr: addr + pageSize + 8}); fr != nil {
		t.Fatalf("fault in RW part not resolved: %+v", fr)
	}
	if at, ok := mapped(m, addr+pageSize); !ok || !at.Write {
		t.Fatalf("page not mapped writable: %+v %v", at, ok)
	}
	if _, ok := mapped(m, addr); ok {
		t.Fatal("PROT_NONE page was mapped")
	}
	if _, err := m.CopyOut(addr, []byte{1}); err != unix.EFAULT {
		t.Fatalf("write to PROT_NONE: %v", err)
	}
	// Back to one protection: the vmas merge again.
	m.Mprotect(addr, 4*pageSize, unix.PROT_READ)
	if len(m.vmas) != 1 {
		t.Fatalf("want 1 vma, got %d", len(m.vmas))
	}
}

func TestForkIsCopyOnWrite(t *testing.T) {
	m, mf := newTestMM(t)
	addr, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.CopyOut(addr, []byte("parent"))
	m.HandleFault(Fault{Addr: addr}) // mapped writable in the parent
	c, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mapped(m, addr); ok {
		t.Fatal("parent keeps a writable mapping after fork")
	}
	// The child's first write fault copies.
	if fr := c.HandleFault(Fault{Addr: addr}); fr != nil {
		t.Fatal(fr)
	}
	if at, _ := mapped(c, addr); at.Write {
		t.Fatal("shared page mapped writable in child")
	}
	if fr := c.HandleFault(Fault{Addr: addr, AccessErr: true}); fr != nil {
		t.Fatalf("COW write fault not resolved: %+v", fr)
	}
	c.CopyOut(addr, []byte("child!"))
	got := make([]byte, 6)
	m.CopyIn(addr, got)
	if string(got) != "parent" {
		t.Fatalf("parent sees %q after child write", got)
	}
	c.DecUsers()
	if m.mf.RefCount(m.ptes[addr].off) != 1 {
		t.Fatal("page still shared after child exit")
	}
	m.DecUsers()
	if n := mf.InUse(); n != 0 {
		t.Fatalf("%d bytes still allocated after both exits", n)
	}
}

// A fault the platform knows to be a write copies a page that needs it
// at once and maps it writable: one fault where a read-only mapping
// would take two.
func TestWriteFaultCopiesAtOnce(t *testing.T) {
	m, mf := newTestMM(t)
	data := bytes.Repeat([]byte("file"), pageSize/2)
	pc := &PageCache{MF: mf, Size: func() int64 { return int64(len(data)) },
		Fill: func(dst []byte, off int64) (int, error) { return copy(dst, data[off:]), nil }}
	faddr, err := m.MMap(MMapOpts{Length: 2 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE, Mappable: pc})
	if err != nil {
		t.Fatal(err)
	}
	if fr := m.HandleFault(Fault{Addr: faddr + pageSize + 8, Write: true}); fr != nil {
		t.Fatal(fr)
	}
	if at, ok := mapped(m, faddr+pageSize); !ok || !at.Write {
		t.Fatalf("written file page mapped %+v %v, want writable", at, ok)
	}
	if at, ok := mapped(m, faddr); !ok || at.Write {
		t.Fatalf("unwritten file page mapped %+v %v, want read-only", at, ok)
	}
	fileOff, _ := pc.TranslatePage(pageSize)
	if m.ptes[faddr+pageSize].off == fileOff {
		t.Fatal("written page maps the file's own page")
	}
	m.CopyOut(faddr+pageSize, []byte("FILE"))
	if got := string(mf.Slice(fileOff, 4)); got != "file" {
		t.Fatalf("private write reached the file: %q", got)
	}

	// Forked anonymous memory: the child's write fault copies.
	addr, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.CopyOut(addr, []byte("parent"))
	c, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	if fr := c.HandleFault(Fault{Addr: addr, Write: true}); fr != nil {
		t.Fatal(fr)
	}
	if at, ok := mapped(c, addr); !ok || !at.Write {
		t.Fatalf("child's written page mapped %+v %v, want writable", at, ok)
	}
	if c.ptes[addr].off == m.ptes[addr].off {
		t.Fatal("child writes the parent's page")
	}
	// A write fault on a read-only mapping maps it read-only, and its
	// repetition is a protection fault.
	ro, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ})
	if fr := m.HandleFault(Fault{Addr: ro, Write: true}); fr != nil {
		t.Fatal(fr)
	}
	if at, ok := mapped(m, ro); !ok || at.Write {
		t.Fatalf("read-only page mapped %+v %v", at, ok)
	}
	if fr := m.HandleFault(Fault{Addr: ro, AccessErr: true, Write: true, Repeated: true}); fr == nil || fr.Code != 2 {
		t.Fatalf("write to read-only page: %+v, want SEGV_ACCERR", fr)
	}
	c.DecUsers()
	m.DecUsers()
	// What is left is the file's page cache.
	if n := mf.InUse(); n != int64(len(data)) {
		t.Fatalf("%d bytes still allocated after both exits, want the file's %d", n, len(data))
	}
}

// The windows SetPrefault names are mapped with the first fault, in the
// same platform call, on a platform that can map several ranges at once;
// on another SetPrefault does nothing.
func TestPrefaultWithFirstFault(t *testing.T) {
	for _, multi := range []bool{true, false} {
		mf, err := memfile.New()
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(&platformtest.Platform{Multi: multi}, mf)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("file"), pageSize)
		pc := &PageCache{MF: mf, Size: func() int64 { return int64(len(data)) },
			Fill: func(dst []byte, off int64) (int, error) { return copy(dst, data[off:]), nil }}
		anon, _ := m.MMap(MMapOpts{Length: 2 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
		file, _ := m.MMap(MMapOpts{Length: 4 * pageSize, Prot: unix.PROT_READ, Mappable: pc})
		stack, _ := m.MMap(MMapOpts{Length: 2 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
		none, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_NONE})
		m.SetPrefault([]uintptr{file + pageSize, stack + pageSize + 8, none, 0x1000 /* unmapped */})
		if fr := m.HandleFault(Fault{Addr: anon}); fr != nil {
			t.Fatal(fr)
		}
		_, fileMapped := mapped(m, file+3*pageSize)
		_, stackMapped := mapped(m, stack)
		_, noneMapped := mapped(m, none)
		if at, ok := mapped(m, anon+pageSize); !ok || !at.Write {
			t.Errorf("multi %v: faulting window mapped %+v %v", multi, at, ok)
		}
		if fileMapped != multi || stackMapped != multi {
			t.Errorf("multi %v: prefault windows mapped: file %v, stack %v", multi, fileMapped, stackMapped)
		}
		if noneMapped {
			t.Errorf("multi %v: PROT_NONE page mapped", multi)
		}
		if !multi {
			continue
		}
		as := m.as.(*platformtest.MultiAddressSpace)
		if n := as.MapCalls(); n != 1 {
			t.Errorf("%d platform calls for the first fault, want 1", n)
		}
		// Only the first fault does it.
		m.Munmap(file, 4*pageSize)
		m.MMap(MMapOpts{Addr: file, Length: 4 * pageSize, Fixed: true, Prot: unix.PROT_READ, Mappable: pc})
		m.HandleFault(Fault{Addr: anon})
		if _, ok := mapped(m, file); ok {
			t.Error("a later fault prefaulted again")
		}
		if n := as.MapCalls(); n != 2 {
			t.Errorf("%d platform calls for two faults, want 2", n)
		}
	}
}

func TestBrkAndMremap(t *testing.T) {
	m, _ := newTestMM(t)
	m.SetBrkStart(0x600000)
	if got := m.Brk(0x600000 + 3*pageSize + 10); got != 0x600000+3*pageSize+10 {
		t.Fatalf("brk = %#x", got)
	}
	if _, err := m.CopyOut(0x600000+3*pageSize, []byte{1}); err != nil {
		t.Fatal(err)
	}
	m.Brk(0x600000)
	if _, err := m.CopyOut(0x600000, []byte{1}); err != unix.EFAULT {
		t.Fatalf("write after shrinking brk: %v", err)
	}
	addr, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.CopyOut(addr, []byte("moved"))
	// Block growth in place, forcing a move.
	m.MMap(MMapOpts{Addr: addr + pageSize, Length: pageSize, Fixed: true, Prot: unix.PROT_READ})
	n, err := m.Mremap(addr, pageSize, 4*pageSize, MremapOpts{MayMove: true})
	if err != nil || n == addr {
		t.Fatalf("mremap = %#x, %v", n, err)
	}
	got := make([]byte, 5)
	m.CopyIn(n, got)
	if string(got) != "moved" {
		t.Fatalf("contents after move: %q", got)
	}
	if _, err := m.CopyIn(addr, got); err != unix.EFAULT {
		t.Fatal("old range still mapped")
	}
}

func TestPrivateFileMappingCopiesOnWrite(t *testing.T) {
	m, mf := newTestMM(t)
	data := bytes.Repeat([]byte("file"), pageSize/2)
	pc := &PageCache{MF: mf, Size: func() int64 { return int64(len(data)) },
		Fill: func(dst []byte, off int64) (int, error) { return copy(dst, data[off:]), nil }}
	addr, err := m.MMap(MMapOpts{Length: 2 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE, Mappable: pc})
	if err != nil {
		t.Fatal(err)
	}
	m.CopyOut(addr, []byte("FILE"))
	off, _ := pc.TranslatePage(0)
	if got := string(mf.Slice(off, 4)); got != "file" {
		t.Fatalf("private write reached the file: %q", got)
	}
	// A page wholly past EOF is SIGBUS.
	addr2, _ := m.MMap(MMapOpts{Length: 4 * pageSize, Prot: unix.PROT_READ, Mappable: pc})
	if fr := m.HandleFault(Fault{Addr: addr2 + 3*pageSize}); fr == nil || fr.Signo != int(unix.SIGBUS) {
		t.Fatalf("fault past EOF: %+v", fr)
	}
}

// Two threads can fault on the same copy-on-write page at once: the second
// fault arrives after the first was resolved and must be retried, not
// turned into SIGSEGV. Only the same fault repeated is a real violation.
func TestStaleAccessFaultIsRetried(t *testing.T) {
	m, _ := newTestMM(t)
	addr, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.CopyOut(addr, []byte("x"))
	c, _ := m.Fork(&platformtest.Platform{})
	defer c.DecUsers()
	if fr := m.HandleFault(Fault{Addr: addr}); fr != nil {
		t.Fatal(fr)
	}
	if fr := m.HandleFault(Fault{Addr: addr, AccessErr: true}); fr != nil { // thread A copies
		t.Fatal(fr)
	}
	if fr := m.HandleFault(Fault{Addr: addr, AccessErr: true}); fr != nil { // thread B's stale fault
		t.Fatalf("stale fault gave %+v, want a retry", fr)
	}
	if fr := m.HandleFault(Fault{Addr: addr, AccessErr: true, Repeated: true}); fr == nil || fr.Signo != int(unix.SIGSEGV) {
		t.Fatalf("repeated fault on a writable page gave %+v, want SIGSEGV", fr)
	}
	// A write to a read-only mapping is a violation once repeated.
	ro, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ})
	m.HandleFault(Fault{Addr: ro})
	if fr := m.HandleFault(Fault{Addr: ro, AccessErr: true}); fr != nil {
		t.Fatalf("first access fault gave %+v, want a retry", fr)
	}
	if fr := m.HandleFault(Fault{Addr: ro, AccessErr: true, Repeated: true}); fr == nil || fr.Code != 2 {
		t.Fatalf("repeated write to read-only page gave %+v, want SIGSEGV/SEGV_ACCERR", fr)
	}
}

// Fork write-protects neighbouring private writable vmas with one
// platform call, and leaves read-only ones mapped.
func TestForkUnmapsNeighboursTogether(t *testing.T) {
	m, _ := newTestMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 4 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.Mprotect(addr+pageSize, pageSize, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC)
	m.Mprotect(addr+3*pageSize, pageSize, unix.PROT_READ)
	if len(m.vmas) != 4 {
		t.Fatalf("%d vmas, want 4", len(m.vmas))
	}
	for i := uintptr(0); i < 4; i++ {
		if fr := m.HandleFault(Fault{Addr: addr + i*pageSize}); fr != nil {
			t.Fatal(fr)
		}
	}
	as := m.as.(*platformtest.AddressSpace)
	before := as.Unmaps()
	c, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DecUsers()
	if n := as.Unmaps() - before; n != 1 {
		t.Errorf("fork made %d Unmap calls, want 1", n)
	}
	for i := uintptr(0); i < 3; i++ {
		if _, ok := mapped(m, addr+i*pageSize); ok {
			t.Errorf("writable page %d still mapped in the parent", i)
		}
	}
	if _, ok := mapped(m, addr+3*pageSize); !ok {
		t.Error("read-only page unmapped by fork")
	}
}
