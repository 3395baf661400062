package vdso

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// exported are the symbols the vDSO must export, all in version LINUX_2.6.
var exported = []string{
	"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres", "__vdso_getcpu",
	"clock_gettime", "gettimeofday", "time", "clock_getres", "getcpu",
}

// TestImageSourceHash fails when csrc/vdso.c, csrc/vdso.lds or mkimage.go
// changed without `go generate ./sentry/vdso` (no compiler needed).
func TestImageSourceHash(t *testing.T) {
	h := sha256.New()
	for _, name := range []string{"csrc/vdso.c", "csrc/vdso.lds", "mkimage.go"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != imageSourceHash {
		t.Fatalf("vdso_image.go was built from other sources (hash %s, sources now %s): run `go generate ./sentry/vdso`",
			imageSourceHash, got)
	}
}

// TestImageRebuild rebuilds the image with the compiler that built the
// committed one, when it is installed, and checks that the result is
// byte for byte the committed file.
func TestImageRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the vDSO")
	}
	ver, err := exec.Command("gcc", "--version").Output()
	if err != nil {
		t.Skipf("no gcc: %v", err)
	}
	if v, _, _ := strings.Cut(string(ver), "\n"); v != imageCompiler {
		t.Skipf("gcc is %q, the image was built by %q: outputs may differ", v, imageCompiler)
	}
	out := filepath.Join(t.TempDir(), "vdso_image.go")
	if b, err := exec.Command("go", "run", "mkimage.go", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("go run mkimage.go: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("vdso_image.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("rebuilding the vDSO gives a different vdso_image.go: run `go generate ./sentry/vdso` and commit the result")
	}
}

func TestImageLayout(t *testing.T) {
	img := imageBytes()
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		t.Fatalf("not an x86-64 ELF64 shared object: %v %v %v", f.Type, f.Machine, f.Class)
	}
	var loads, dyns int
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			loads++
			if p.Off != 0 || p.Vaddr != 0 || p.Flags != elf.PF_R|elf.PF_X || p.Filesz != p.Memsz || p.Filesz > uint64(len(img)) {
				t.Errorf("PT_LOAD %+v", p.ProgHeader)
			}
		case elf.PT_DYNAMIC:
			dyns++
		case elf.PT_TLS, elf.PT_INTERP:
			t.Errorf("unexpected %v", p.Type)
		}
	}
	if loads != 1 || dyns != 1 {
		t.Errorf("%d PT_LOAD, %d PT_DYNAMIC; want 1 each", loads, dyns)
	}
	for _, tag := range []elf.DynTag{elf.DT_NEEDED, elf.DT_REL, elf.DT_RELA, elf.DT_TEXTREL, elf.DT_JMPREL} {
		if v, _ := f.DynValue(tag); len(v) > 0 {
			t.Errorf("dynamic section has %v", tag)
		}
	}
	if so, _ := f.DynString(elf.DT_SONAME); len(so) != 1 || so[0] != "linux-vdso.so.1" {
		t.Errorf("DT_SONAME %q", so)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]elf.Symbol{}
	for _, s := range syms {
		byName[s.Name] = s
	}
	for _, name := range exported {
		s, ok := byName[name]
		if !ok {
			t.Errorf("%s not exported", name)
			continue
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF || s.Version != "LINUX_2.6" {
			t.Errorf("%s: %+v", name, s)
		}
		if strings.HasPrefix(name, "__vdso_") && byName[strings.TrimPrefix(name, "__vdso_")].Value != s.Value {
			t.Errorf("%s and its alias differ", name)
		}
	}
}

// The hash functions of the ELF gABI (DT_HASH) and GNU (DT_GNU_HASH).
func elfHash(name string) uint32 {
	var h uint32
	for _, c := range []byte(name) {
		h = h<<4 + uint32(c)
		if g := h & 0xf0000000; g != 0 {
			h ^= g >> 24
		}
		h &^= 0xf0000000
	}
	return h
}

func gnuHash(name string) uint32 {
	h := uint32(5381)
	for _, c := range []byte(name) {
		h = h*33 + uint32(c)
	}
	return h
}

// dynLookup finds symbols the way the vDSO's users do, from the mapped
// image alone (no section headers): through PT_DYNAMIC, with DT_GNU_HASH
// (Go's runtime, glibc) or DT_HASH (musl), checking the version through
// DT_VERSYM and DT_VERDEF.
type dynLookup struct {
	img                  []byte
	strtab, symtab       uint64
	hash, gnuhash        uint64
	versym, verdef       uint64
	haveHash, haveGNU    bool
	haveVersym, haveVdef bool
}

func (d *dynLookup) u32(off uint64) uint32 { return binary.LittleEndian.Uint32(d.img[off:]) }
func (d *dynLookup) u16(off uint64) uint16 { return binary.LittleEndian.Uint16(d.img[off:]) }
func (d *dynLookup) u64(off uint64) uint64 { return binary.LittleEndian.Uint64(d.img[off:]) }

func (d *dynLookup) str(off uint64) string {
	b := d.img[d.strtab+off:]
	return string(b[:bytes.IndexByte(b, 0)])
}

func newDynLookup(t *testing.T, img []byte) *dynLookup {
	d := &dynLookup{img: img}
	phoff, phnum := d.u64(32), uint64(d.u16(56))
	var dyn uint64
	for i := uint64(0); i < phnum; i++ {
		ph := phoff + i*56
		if d.u32(ph) == uint32(elf.PT_DYNAMIC) {
			dyn = d.u64(ph + 8) // p_offset
		}
	}
	if dyn == 0 {
		t.Fatal("no PT_DYNAMIC")
	}
	for ; d.u64(dyn) != 0; dyn += 16 {
		v := d.u64(dyn + 8) // an address: the image is linked at 0
		switch elf.DynTag(d.u64(dyn)) {
		case elf.DT_STRTAB:
			d.strtab = v
		case elf.DT_SYMTAB:
			d.symtab = v
		case elf.DT_HASH:
			d.hash, d.haveHash = v, true
		case elf.DT_GNU_HASH:
			d.gnuhash, d.haveGNU = v, true
		case elf.DT_VERSYM:
			d.versym, d.haveVersym = v, true
		case elf.DT_VERDEF:
			d.verdef, d.haveVdef = v, true
		}
	}
	if d.strtab == 0 || d.symtab == 0 || !d.haveHash || !d.haveGNU || !d.haveVersym || !d.haveVdef {
		t.Fatalf("dynamic section lacks something: %+v", d)
	}
	return d
}

// version returns the index of version name (vdsoFindVersion in Go's
// runtime).
func (d *dynLookup) version(name string) uint16 {
	for def := d.verdef; ; {
		flags, ndx, hash := d.u16(def+2), d.u16(def+4), d.u32(def+8)
		aux := def + uint64(d.u32(def+12))
		if flags&1 == 0 && hash == elfHash(name) && d.str(uint64(d.u32(aux))) == name {
			return ndx & 0x7fff
		}
		next := d.u32(def + 16)
		if next == 0 {
			return 0
		}
		def += uint64(next)
	}
}

// match checks symbol i against name and version index ver.
func (d *dynLookup) match(i uint32, name string, ver uint16) (uint64, bool) {
	sym := d.symtab + uint64(i)*24
	info, shndx := d.img[sym+4], d.u16(sym+6)
	typ, bind := info&0xf, info>>4
	if typ != uint8(elf.STT_FUNC) || (bind != uint8(elf.STB_GLOBAL) && bind != uint8(elf.STB_WEAK)) || shndx == 0 {
		return 0, false
	}
	if d.str(uint64(d.u32(sym))) != name || d.u16(d.versym+uint64(i)*2)&0x7fff != ver {
		return 0, false
	}
	return d.u64(sym + 8), true
}

func (d *dynLookup) lookupHash(name string, ver uint16) (uint64, bool) {
	nbucket := d.u32(d.hash)
	chain := d.hash + 8 + uint64(nbucket)*4
	for i := d.u32(d.hash + 8 + uint64(elfHash(name)%nbucket)*4); i != 0; i = d.u32(chain + uint64(i)*4) {
		if v, ok := d.match(i, name, ver); ok {
			return v, true
		}
	}
	return 0, false
}

func (d *dynLookup) lookupGNUHash(name string, ver uint16) (uint64, bool) {
	nbucket, symoff, bloomSize := d.u32(d.gnuhash), d.u32(d.gnuhash+4), d.u32(d.gnuhash+8)
	buckets := d.gnuhash + 16 + uint64(bloomSize)*8
	chains := buckets + uint64(nbucket)*4
	h := gnuHash(name)
	i := d.u32(buckets + uint64(h%nbucket)*4)
	if i < symoff {
		return 0, false
	}
	for ; ; i++ {
		ch := d.u32(chains + uint64(i-symoff)*4)
		if ch|1 == h|1 {
			if v, ok := d.match(i, name, ver); ok {
				return v, true
			}
		}
		if ch&1 != 0 {
			return 0, false
		}
	}
}

// TestImageSymbolLookup finds every exported function through both hash
// tables, with its version, as Go's runtime, glibc and musl do.
func TestImageSymbolLookup(t *testing.T) {
	// Go's runtime hard-codes these (runtime/vdso_linux_amd64.go).
	if elfHash("LINUX_2.6") != 0x3ae75f6 || elfHash("__vdso_clock_gettime") != 0xd35ec75 ||
		gnuHash("__vdso_clock_gettime") != 0x6e43a318 || gnuHash("__vdso_gettimeofday") != 0xb01bca00 {
		t.Fatal("hash functions are wrong")
	}
	img := imageBytes()
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := f.DynamicSymbols()
	want := map[string]uint64{}
	for _, s := range syms {
		want[s.Name] = s.Value
	}
	d := newDynLookup(t, img)
	ver := d.version("LINUX_2.6")
	if ver == 0 {
		t.Fatal("version LINUX_2.6 not defined")
	}
	for _, name := range exported {
		v1, ok1 := d.lookupHash(name, ver)
		v2, ok2 := d.lookupGNUHash(name, ver)
		if !ok1 || !ok2 || v1 != want[name] || v2 != want[name] {
			t.Errorf("%s: DT_HASH %#x %v, DT_GNU_HASH %#x %v, want %#x", name, v1, ok1, v2, ok2, want[name])
		}
	}
	if _, ok := d.lookupGNUHash("__vdso_getrandom", ver); ok {
		t.Errorf("found a symbol that does not exist")
	}
	if _, ok := d.lookupHash("__vdso_clock_gettime", ver+1); ok {
		t.Errorf("found a symbol with the wrong version")
	}
}
