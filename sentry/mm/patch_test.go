package mm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"golang.org/x/sys/unix"
)

// fakePatcher patches 7-byte sites into "JMP" + the cell address, with
// cells of 32 bytes holding the site's old bytes.
type fakePatcher struct{ table uintptr }

func (f *fakePatcher) PatchTable() (addr, size, cell uintptr) { return f.table, 2 * pageSize, 32 }

func (f *fakePatcher) PatchSite(addr uintptr, code []byte, cellAddr uintptr) (cell, patch []byte, ok bool) {
	if code[0] != 0xb8 {
		return nil, nil, false
	}
	return append([]byte("CELL"), code...), []byte{'J', 'M', 'P', byte(cellAddr), byte(cellAddr >> 8), byte(cellAddr >> 16), 0}, true
}

func (f *fakePatcher) Stopped(as platform.AddressSpace, fn func()) { fn() }

const site = "\xb8\x27\x00\x00\x00\x0f\x05"

// A site in a private file mapping is rewritten by copy-on-write: the file
// keeps its bytes, the address space sees the patch, the trampoline is in
// a read+execute table the application cannot make writable.
func TestPatchSyscallSite(t *testing.T) {
	m, mf := newTestMM(t)
	data := []byte(strings.Repeat("\x90", 100) + site + strings.Repeat("\x90", pageSize))
	pc := &PageCache{MF: mf, Size: func() int64 { return int64(len(data)) },
		Fill: func(dst []byte, off int64) (int, error) { return copy(dst, data[off:]), nil }}
	text, err := m.MMap(MMapOpts{Length: 2 * pageSize, Prot: unix.PROT_READ | unix.PROT_EXEC, Mappable: pc})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePatcher{table: 0x60000}
	if !m.PatchSyscallSite(text+100, []byte(site), p) {
		t.Fatal("PatchSyscallSite refused")
	}
	got := make([]byte, 7)
	m.CopyIn(text+100, got)
	if string(got[:3]) != "JMP" {
		t.Fatalf("site holds %q after patching", got)
	}
	off, _ := pc.TranslatePage(0)
	if string(mf.Slice(off+100, 7)) != site {
		t.Fatal("the patch reached the file")
	}
	cell := make([]byte, 11)
	if _, err := m.CopyIn(0x60000, cell); err != nil || string(cell) != "CELL"+site {
		t.Fatalf("trampoline %q (%v)", cell, err)
	}
	if !strings.Contains(m.MapsText(), "00060000-00062000 r-xp 00000000 00:00 0") {
		t.Errorf("maps:\n%s", m.MapsText())
	}
	if err := m.Mprotect(0x60000, pageSize, unix.PROT_READ|unix.PROT_WRITE); err != unix.EACCES {
		t.Errorf("mprotect of the table writable: %v, want EACCES", err)
	}
	if !m.PatchedSyscall(text+105) || m.PatchedSyscall(text+100) || m.PatchedSyscall(text+107) {
		t.Error("PatchedSyscall does not single out the old syscall instruction")
	}
	// Not twice, not a site whose bytes changed, not a pattern the
	// platform refuses.
	if m.PatchSyscallSite(text+100, []byte(site), p) || m.PatchSyscallSite(text+102, []byte(site), p) ||
		m.PatchSyscallSite(text+200, []byte(site), p) {
		t.Error("patched a site twice, or one that does not hold its bytes")
	}

	// The child of a fork has the patch too.
	c, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.PatchedSyscall(text+105) || c.PatchedSites() != 1 {
		t.Error("the fork's child lost the patch")
	}

	// A child that is single-stepped has its patches undone, and no
	// more; its parent keeps its own.
	c2, err := m.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	c2.UnpatchSyscallSites()
	c2.CopyIn(text+100, got)
	if string(got) != site || c2.PatchedSyscall(text+105) || c2.SyscallSitesPatched() || c2.PatchSyscallSite(text+100, []byte(site), p) {
		t.Fatalf("after UnpatchSyscallSites the site holds %q, or is patched again", got)
	}
	if !m.SyscallSitesPatched() || !m.PatchedSyscall(text+105) {
		t.Fatal("undoing a child's patches undid the parent's")
	}

	// Mapping over the table undoes every patch first.
	if _, err := m.MMap(MMapOpts{Addr: 0x61000, Length: pageSize, Prot: unix.PROT_READ, Fixed: true}); err != nil {
		t.Fatal(err)
	}
	m.CopyIn(text+100, got)
	if string(got) != site || m.PatchedSyscall(text+105) || m.PatchedSites() != 0 {
		t.Fatalf("after mapping over the table the site holds %q", got)
	}
	// The child still has its own.
	c.CopyIn(text+100, got)
	if string(got[:3]) != "JMP" {
		t.Error("undoing the parent's patch changed the child's")
	}
	// With something in the way, no table and no patch.
	if m.PatchSyscallSite(text+100, []byte(site), p) {
		t.Error("patched with the table's place taken")
	}
}

// A site in a shared mapping is never rewritten (that would change the
// file), and neither is one in a mapping too short for the site.
func TestPatchSyscallSiteRefused(t *testing.T) {
	m, mf := newTestMM(t)
	data := []byte(site + strings.Repeat("\x90", pageSize))
	pc := &PageCache{MF: mf, Size: func() int64 { return int64(len(data)) },
		Fill: func(dst []byte, off int64) (int, error) { return copy(dst, data[off:]), nil }}
	shared, err := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ | unix.PROT_EXEC, Shared: true, Mappable: pc})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePatcher{table: 0x60000}
	if m.PatchSyscallSite(shared, []byte(site), p) {
		t.Error("patched a shared mapping")
	}
	anon, _ := m.MMap(MMapOpts{Length: pageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	m.CopyOut(anon+pageSize-7, []byte(site))
	if !m.PatchSyscallSite(anon+pageSize-7, []byte(site), p) {
		t.Error("refused a site at the end of its mapping")
	}
	if m.PatchSyscallSite(anon+pageSize-3, []byte(site), p) {
		t.Error("patched a site running past its mapping")
	}
	// Unmapping the site forgets it.
	m.Munmap(anon, pageSize)
	if m.PatchedSites() != 0 {
		t.Errorf("%d patches after unmapping the site", m.PatchedSites())
	}
	if !bytes.Equal(data[:7], []byte(site)) {
		t.Fatal("file changed")
	}
}
