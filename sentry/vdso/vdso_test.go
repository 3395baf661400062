package vdso

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

func newTestVDSO(t *testing.T, o Options) (*VDSO, *memfile.File) {
	t.Helper()
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(mf, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v, mf
}

func newMM(t *testing.T, mf *memfile.File) *mm.MemoryManager {
	t.Helper()
	m, err := mm.New(&platformtest.Platform{}, mf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mapsLine returns the /proc/self/maps line of the mapping called name.
func mapsLine(m *mm.MemoryManager, name string) string {
	for _, l := range strings.Split(m.MapsText(), "\n") {
		if strings.HasSuffix(l, " "+name) {
			return l
		}
	}
	return ""
}

func TestMap(t *testing.T) {
	v, mf := newTestVDSO(t, Options{})
	m := newMM(t, mf)
	top := uintptr(0x7ffd00000000)
	ehdr, err := v.Map(m, top)
	if err != nil {
		t.Fatal(err)
	}
	size := uintptr(pageSize + v.text.size)
	if ehdr != top-size+pageSize {
		t.Errorf("ELF header at %#x, want %#x (the mapping ending at %#x)", ehdr, top-size+pageSize, top)
	}
	wantVvar := fmt.Sprintf("%08x-%08x r--p ", ehdr-pageSize, ehdr)
	wantVdso := fmt.Sprintf("%08x-%08x r-xp ", ehdr, top)
	if l := mapsLine(m, "[vvar]"); !strings.HasPrefix(l, wantVvar) {
		t.Errorf("[vvar]: %q, want %q...", l, wantVvar)
	}
	if l := mapsLine(m, "[vdso]"); !strings.HasPrefix(l, wantVdso) {
		t.Errorf("[vdso]: %q, want %q...", l, wantVdso)
	}

	// The application sees the image at the ELF header.
	img := imageBytes()
	got := make([]byte, len(img))
	if _, err := m.CopyIn(ehdr, got); err != nil || !bytes.Equal(got, img) {
		t.Errorf("image not readable at %#x: %v", ehdr, err)
	}
	// The data page cannot be written by the Sentry on the
	// application's behalf, nor made writable.
	if _, err := m.CopyOut(ehdr-pageSize, []byte{1}); err == nil {
		t.Errorf("wrote into [vvar]")
	}
	if err := m.Mprotect(ehdr-pageSize, pageSize, unix.PROT_READ|unix.PROT_WRITE); err != unix.EACCES {
		t.Errorf("mprotect([vvar], PROT_WRITE) = %v, want EACCES", err)
	}
	if _, err := m.CopyOut(ehdr, []byte{1}); err == nil {
		t.Errorf("wrote into the read-only [vdso]")
	}
}

// TestMapShared: every address space, forked ones included, sees the same
// data page, which the Sentry updates in place.
func TestMapShared(t *testing.T) {
	v, mf := newTestVDSO(t, Options{TSC: TSCOff})
	m1, m2 := newMM(t, mf), newMM(t, mf)
	e1, err := v.Map(m1, 0x7ffd00000000)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := v.Map(m2, 0x7ffc00000000)
	if err != nil {
		t.Fatal(err)
	}
	m3, err := m1.Fork(&platformtest.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	if mapsLine(m3, "[vdso]") != mapsLine(m1, "[vdso]") || mapsLine(m3, "[vvar]") != mapsLine(m1, "[vvar]") {
		t.Errorf("fork lost the vDSO:\n%s", m3.MapsText())
	}
	// A private copy of the image in one address space (a debugger's
	// breakpoint) leaves the others alone.
	if err := m1.Mprotect(e1, pageSize, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.CopyOut(e1+100, []byte{0xcc}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if m2.CopyIn(e2+100, b[:]); b[0] != image[100] {
		t.Errorf("a write to one address space's vDSO shows in another")
	}

	for i := uint64(1); i <= 3; i++ {
		v.page.publish(params{tscBase: i, monoBase: 10 * i, realBase: 100 * i, mult: 1000 * i})
		for _, c := range []struct {
			m    *mm.MemoryManager
			ehdr uintptr
		}{{m1, e1}, {m2, e2}, {m3, e1}} {
			var page [offParams + 2*paramsSize]byte
			if _, err := c.m.CopyIn(c.ehdr-pageSize, page[:]); err != nil {
				t.Fatal(err)
			}
			seq := binary.LittleEndian.Uint32(page[offSeq:])
			slot := offParams + int(seq&1)*paramsSize
			if seq != uint32(i) || binary.LittleEndian.Uint64(page[slot+offMult:]) != 1000*i ||
				binary.LittleEndian.Uint32(page[offMode:]) != modeSyscall {
				t.Errorf("update %d: data page reads seq %d, mult %d", i, seq, binary.LittleEndian.Uint64(page[slot+offMult:]))
			}
		}
	}
}

// TestMapElsewhere: if the range below the stack is taken, the vDSO goes
// wherever there is room.
func TestMapElsewhere(t *testing.T) {
	v, mf := newTestVDSO(t, Options{TSC: TSCOff})
	m := newMM(t, mf)
	top := uintptr(0x7ffd00000000)
	if _, err := m.MMap(mm.MMapOpts{Addr: top - 0x10000, Length: 0x10000, Fixed: true, Prot: unix.PROT_READ}); err != nil {
		t.Fatal(err)
	}
	ehdr, err := v.Map(m, top)
	if err != nil {
		t.Fatal(err)
	}
	if ehdr >= top-0x10000 && ehdr < top {
		t.Errorf("vDSO mapped over an existing mapping at %#x", ehdr)
	}
	got := make([]byte, 4)
	if _, err := m.CopyIn(ehdr, got); err != nil || string(got) != "\x7fELF" {
		t.Errorf("no ELF header at %#x: %q %v", ehdr, got, err)
	}
}

func TestModes(t *testing.T) {
	v, _ := newTestVDSO(t, Options{TSC: TSCOff})
	if ok, why := v.UsesTSC(); ok || why != "disabled" {
		t.Errorf("TSCOff: %v %q", ok, why)
	}
	if mode, _ := v.page.current(); mode != modeSyscall {
		t.Errorf("TSCOff: mode %d", mode)
	}
	if ok, _ := tscReliable(); !ok {
		return
	}
	v, _ = newTestVDSO(t, Options{})
	ok, why := v.UsesTSC()
	if !ok {
		t.Fatalf("TSC reliable but not used: %s", why)
	}
	mode, p := v.page.current()
	if mode != modeTSC || p.mult == 0 {
		t.Errorf("mode %d, params %+v", mode, p)
	}
	v.Close()
	if mode, _ := v.page.current(); mode != modeSyscall {
		t.Errorf("after Close: mode %d", mode)
	}
}
