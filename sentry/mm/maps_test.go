package mm

import (
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/platform/platformtest"
	"golang.org/x/sys/unix"
)

func mappingAt(t *testing.T, m *MemoryManager, addr uintptr) Mapping {
	t.Helper()
	for _, mp := range m.Mappings() {
		if mp.Start <= addr && addr < mp.End {
			return mp
		}
	}
	t.Fatalf("no mapping at %#x:\n%s", addr, m.MapsText())
	return Mapping{}
}

func TestMapsLineFormat(t *testing.T) {
	mp := Mapping{Start: 0x400000, End: 0x401000, Prot: unix.PROT_READ | unix.PROT_EXEC, Offset: 0x2000,
		Dev: unix.Mkdev(254, 1), Ino: 42, Name: "/bin/x"}
	want := "00400000-00401000 r-xp 00002000 fe:01 42"
	if got := mp.MapsLine(); got != want+strings.Repeat(" ", 73-len(want))+"/bin/x" {
		t.Errorf("named line %q", got)
	}
	mp.Name, mp.Dev, mp.Ino, mp.Shared = "", 0, 0, true
	if got := mp.MapsLine(); got != "00400000-00401000 r-xs 00002000 00:00 0 " {
		t.Errorf("unnamed line %q (Linux ends it with a space)", got)
	}
}

func TestUsageCountsTouchedPages(t *testing.T) {
	m, mf := newTestMM(t)
	addr, err := m.MMap(MMapOpts{Length: 8 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	if err != nil {
		t.Fatal(err)
	}
	if u := mappingAt(t, m, addr).Usage; u.Rss != 0 {
		t.Fatalf("untouched memory is resident: %+v", u)
	}
	// Written through the Sentry: 2 pages.
	if _, err := m.CopyOut(addr, make([]byte, pageSize+1)); err != nil {
		t.Fatal(err)
	}
	u := mappingAt(t, m, addr).Usage
	if u.Rss == 0 || u.Rss != u.PrivateDirty || u.Rss != u.Anonymous || u.Pss != u.Rss || u.SharedDirty != 0 {
		t.Fatalf("private anonymous usage %+v", u)
	}
	// After fork the same pages are shared by two address spaces: Pss
	// halves.
	c, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DecUsers()
	shared := mappingAt(t, m, addr).Usage
	if shared.Rss != u.Rss || shared.SharedDirty != u.Rss || shared.Pss != u.Rss/2 || shared.PrivateDirty != 0 {
		t.Fatalf("after fork %+v (before %+v)", shared, u)
	}

	// A file mapping: its cached pages are resident, clean for a file
	// with a backing store.
	size := int64(3 * pageSize)
	pc := &PageCache{MF: mf, Size: func() int64 { return size }, Fill: func(dst []byte, off int64) (int, error) { return len(dst), nil }}
	faddr, err := m.MMap(MMapOpts{Length: 3 * pageSize, Prot: unix.PROT_READ, Mappable: pc, Name: "/f", Dev: 7, Ino: 9})
	if err != nil {
		t.Fatal(err)
	}
	if fr := m.HandleFault(Fault{Addr: faddr}); fr != nil {
		t.Fatalf("fault: %+v", fr)
	}
	fu := mappingAt(t, m, faddr)
	if fu.Rss != uint64(size) || fu.PrivateClean != fu.Rss || fu.Anonymous != 0 || fu.Dev != 7 || fu.Ino != 9 || !fu.File {
		t.Fatalf("file mapping %+v", fu)
	}
	if got := m.ResidentBytes(); got != int64(shared.Rss+fu.Rss) {
		t.Errorf("ResidentBytes = %d, want %d", got, shared.Rss+fu.Rss)
	}
}

func TestSetAnonName(t *testing.T) {
	m, _ := newTestMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 4 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	if err := m.SetAnonName(addr+pageSize, 2*pageSize, "arena"); err != nil {
		t.Fatal(err)
	}
	if n := mappingAt(t, m, addr+pageSize).Name; n != "[anon:arena]" {
		t.Errorf("named part is %q", n)
	}
	if n := mappingAt(t, m, addr).Name; n != "" {
		t.Errorf("the rest is named %q", n)
	}
	if err := m.SetAnonName(addr, 4*pageSize, ""); err != nil {
		t.Fatal(err)
	}
	if mp := mappingAt(t, m, addr); mp.Name != "" || mp.End != addr+4*pageSize {
		t.Errorf("after removing the name, %+v (the parts must merge again)", mp)
	}
	if err := m.SetAnonName(addr+8*pageSize, pageSize, "x"); err != unix.ENOMEM {
		t.Errorf("naming unmapped memory: %v, want ENOMEM", err)
	}
	pc := &PageCache{MF: m.mf, Size: func() int64 { return pageSize }}
	faddr, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ, Mappable: pc})
	if err := m.SetAnonName(faddr, pageSize, "x"); err != unix.EBADF {
		t.Errorf("naming a file mapping: %v, want EBADF", err)
	}
}

func TestPeaks(t *testing.T) {
	m, _ := newTestMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 16 * pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.CopyOut(addr, make([]byte, 4*pageSize))
	if err := m.Munmap(addr, 16*pageSize); err != nil {
		t.Fatal(err)
	}
	virt, res := m.Peaks(uint64(m.ResidentBytes()))
	// The Sentry allocates anonymous memory a fault window at a time, so
	// more than the 4 pages written may have been resident.
	if virt != 16*pageSize || res < 4*pageSize || res > 16*pageSize {
		t.Errorf("peaks %d %d, want %d and 4 to 16 pages", virt, res, 16*pageSize)
	}
	if m.VirtualBytes() != 0 || m.ResidentBytes() != 0 {
		t.Error("memory left after munmap")
	}
}
