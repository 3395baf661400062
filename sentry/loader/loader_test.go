package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

var (
	mfOnce   sync.Once
	sharedMF *memfile.File
	mfErr    error
)

// memFile returns the memory file all tests share (each one reserves
// 64 GiB of address space).
func memFile(t *testing.T) *memfile.File {
	t.Helper()
	mfOnce.Do(func() { sharedMF, mfErr = memfile.New() })
	if mfErr != nil {
		t.Fatal(mfErr)
	}
	return sharedMF
}

func newMM(t *testing.T) *mm.MemoryManager {
	t.Helper()
	m, err := mm.New(&platformtest.Platform{}, memFile(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.DecUsers)
	return m
}

// testFile is an executable held in memory, mappable through a page cache
// filled from its bytes, as a gofer file would be.
type testFile struct {
	data []byte
	pc   *mm.PageCache
}

func newTestFile(t *testing.T, data []byte) *testFile {
	f := &testFile{data: data}
	f.pc = &mm.PageCache{
		MF:   memFile(t),
		Size: func() int64 { return int64(len(data)) },
		Fill: func(dst []byte, off int64) (int, error) {
			if off >= int64(len(data)) {
				return 0, nil
			}
			return copy(dst, data[off:]), nil
		},
	}
	return f
}

func (f *testFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.data).ReadAt(p, off)
}

func (f *testFile) Mappable() mm.Mappable { return f.pc }

// seg is one program header.
type seg struct {
	typ                       elf.ProgType
	flags                     elf.ProgFlag
	off, vaddr, filesz, memsz uint64
}

// elfImage describes an ELF file to build by hand.
type elfImage struct {
	typ   elf.Type
	entry uint64
	segs  []seg
	size  int // file size
}

const (
	ehdrSize = 64
	phdrSize = 56
)

// build writes the ELF header and program headers (at offset 64) into a
// zeroed file of the given size; the caller fills in segment contents.
func (e elfImage) build() []byte {
	b := make([]byte, e.size)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(b[16:], uint16(e.typ))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], e.entry)
	le.PutUint64(b[32:], ehdrSize) // e_phoff
	le.PutUint16(b[52:], ehdrSize)
	le.PutUint16(b[54:], phdrSize)
	le.PutUint16(b[56:], uint16(len(e.segs)))
	for i, s := range e.segs {
		ph := b[ehdrSize+i*phdrSize:]
		le.PutUint32(ph[0:], uint32(s.typ))
		le.PutUint32(ph[4:], uint32(s.flags))
		le.PutUint64(ph[8:], s.off)
		le.PutUint64(ph[16:], s.vaddr)
		le.PutUint64(ph[24:], s.vaddr)
		le.PutUint64(ph[32:], s.filesz)
		le.PutUint64(ph[40:], s.memsz)
		le.PutUint64(ph[48:], 0x1000)
	}
	return b
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// The static executable most tests load:
//
//	text: file [0, 0x200) at 0x400000, R|X (headers, then code at 0x180)
//	data: file [0x1100, 0x1120) at 0x402100, R|W, memsz 0x3000 (bss)
//
// The file bytes around the data that share its pages are not zero, so
// whatever the loader maps from the file beyond filesz shows up.
const (
	textBase  = 0x400000
	textEntry = textBase + 0x180
	dataVaddr = 0x402100
	dataOff   = 0x1100
	dataFile  = 0x20
	dataMem   = 0x3000
)

var dataBytes = []byte("initialized data, 32 bytes long!")

func staticELF() []byte {
	img := elfImage{
		typ:   elf.ET_EXEC,
		entry: textEntry,
		size:  0x2000,
		segs: []seg{
			{typ: elf.PT_PHDR, flags: elf.PF_R, off: ehdrSize, vaddr: textBase + ehdrSize, filesz: 3 * phdrSize, memsz: 3 * phdrSize},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: textBase, filesz: 0x200, memsz: 0x200},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: dataOff, vaddr: dataVaddr, filesz: dataFile, memsz: dataMem},
		},
	}
	b := img.build()
	fill(b[0x180:0x200], 0x90)    // "code"
	fill(b[0x200:0x1000], 0xcc)   // past the text's filesz, same file page
	fill(b[0x1000:dataOff], 0xdd) // before the data, same page
	copy(b[dataOff:], dataBytes)
	fill(b[dataOff+dataFile:], 0xee) // rest of the data's last file page
	return b
}

func mustRead(t *testing.T, m *mm.MemoryManager, addr uintptr, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := m.CopyIn(addr, b); err != nil {
		t.Fatalf("read %d bytes at %#x: %v", n, addr, err)
	}
	return b
}

func readWord(t *testing.T, m *mm.MemoryManager, addr uintptr) uint64 {
	t.Helper()
	return binary.LittleEndian.Uint64(mustRead(t, m, addr, 8))
}

func readString(t *testing.T, m *mm.MemoryManager, addr uintptr) string {
	t.Helper()
	var s []byte
	for {
		c := mustRead(t, m, addr+uintptr(len(s)), 1)[0]
		if c == 0 {
			return string(s)
		}
		s = append(s, c)
		if len(s) > 4096 {
			t.Fatalf("unterminated string at %#x", addr)
		}
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// initialStack is the stack at the entry point, decoded.
type initialStack struct {
	argc       uint64
	argv, envp []string
	argvPtrs   []uintptr
	auxv       map[uint64]uint64
	auxvOrder  []uint64
}

func decodeStack(t *testing.T, m *mm.MemoryManager, sp uintptr) initialStack {
	t.Helper()
	var s initialStack
	s.argc = readWord(t, m, sp)
	if s.argc > 1000 {
		t.Fatalf("argc = %d", s.argc)
	}
	p := sp + 8
	for i := uint64(0); i < s.argc; i++ {
		a := uintptr(readWord(t, m, p))
		if a <= sp {
			t.Fatalf("argv[%d] = %#x is below the stack pointer %#x", i, a, sp)
		}
		s.argvPtrs = append(s.argvPtrs, a)
		s.argv = append(s.argv, readString(t, m, a))
		p += 8
	}
	if w := readWord(t, m, p); w != 0 {
		t.Fatalf("argv not NULL-terminated: %#x", w)
	}
	p += 8
	for {
		a := uintptr(readWord(t, m, p))
		p += 8
		if a == 0 {
			break
		}
		if a <= sp {
			t.Fatalf("envp entry %#x is below the stack pointer %#x", a, sp)
		}
		s.envp = append(s.envp, readString(t, m, a))
		if len(s.envp) > 1000 {
			t.Fatal("envp not terminated")
		}
	}
	s.auxv = map[uint64]uint64{}
	for {
		k, v := readWord(t, m, p), readWord(t, m, p+8)
		p += 16
		if k == atNull {
			break
		}
		if _, dup := s.auxv[k]; dup {
			t.Fatalf("auxv key %d appears twice", k)
		}
		s.auxv[k] = v
		s.auxvOrder = append(s.auxvOrder, k, v)
		if len(s.auxv) > 100 {
			t.Fatal("auxv not terminated")
		}
	}
	return s
}

// mapsLine returns the /proc/pid/maps line of the mapping starting at
// start.
func mapsLine(m *mm.MemoryManager, start uintptr) string {
	prefix := fmt.Sprintf("%08x-", start)
	for _, l := range strings.Split(m.MapsText(), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestNotELF(t *testing.T) {
	valid := staticELF()
	elf32 := append([]byte(nil), valid[:0x200]...)
	elf32[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	binary.LittleEndian.PutUint16(elf32[18:], uint16(elf.EM_386))
	// x32 programs are ELFCLASS32 with EM_X86_64.
	x32 := append([]byte(nil), valid[:0x200]...)
	x32[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	bigEndian := append([]byte(nil), valid...)
	bigEndian[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	arm64 := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint16(arm64[18:], uint16(elf.EM_AARCH64))
	rel := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint16(rel[16:], uint16(elf.ET_REL))
	core := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint16(core[16:], uint16(elf.ET_CORE))
	noLoad := elfImage{typ: elf.ET_EXEC, entry: textEntry, size: 0x200, segs: []seg{
		{typ: elf.PT_NOTE, flags: elf.PF_R, off: 0x100, vaddr: textBase + 0x100, filesz: 0x10, memsz: 0x10},
	}}.build()
	emptyLoad := elfImage{typ: elf.ET_EXEC, entry: textEntry, size: 0x200, segs: []seg{
		{typ: elf.PT_LOAD, flags: elf.PF_R, off: 0, vaddr: textBase, filesz: 0, memsz: 0},
	}}.build()
	noPhdrs := elfImage{typ: elf.ET_EXEC, entry: textEntry, size: 0x200}.build()
	truncPhdrs := valid[:ehdrSize+phdrSize] // header promises 3 program headers
	badAlign := elfImage{typ: elf.ET_EXEC, entry: textEntry, size: 0x2000, segs: []seg{
		{typ: elf.PT_LOAD, flags: elf.PF_R, off: 0x1000, vaddr: textBase + 0x10, filesz: 0x100, memsz: 0x100},
	}}.build()
	fileBiggerThanMem := elfImage{typ: elf.ET_EXEC, entry: textEntry, size: 0x200, segs: []seg{
		{typ: elf.PT_LOAD, flags: elf.PF_R, off: 0, vaddr: textBase, filesz: 0x200, memsz: 0x100},
	}}.build()

	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"script", []byte("#!/bin/sh\necho hello\n")},
		{"text", bytes.Repeat([]byte("not an executable "), 100)},
		{"truncated header", valid[:20]},
		{"header one byte short", valid[:ehdrSize-1]},
		{"32-bit", elf32},
		{"x32", x32},
		{"big-endian", bigEndian},
		{"aarch64", arm64},
		{"relocatable", rel},
		{"core", core},
		{"no PT_LOAD", noLoad},
		{"only an empty PT_LOAD", emptyLoad},
		{"no program headers", noPhdrs},
		{"truncated program headers", truncPhdrs},
		{"PT_LOAD offset and address not congruent", badAlign},
		{"PT_LOAD filesz > memsz", fileBiggerThanMem},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMM(t)
			res, err := Load(m, newTestFile(t, c.data), Args{Argv: []string{"x"}, Filename: "/x"})
			if !errors.Is(err, ErrNotELF) {
				t.Fatalf("Load = %+v, %v; want ErrNotELF", res, err)
			}
			if n := m.VirtualBytes(); n != 0 {
				t.Fatalf("a rejected file left %d bytes mapped:\n%s", n, m.MapsText())
			}
		})
	}
}

func TestLoadStatic(t *testing.T) {
	m := newMM(t)
	data := staticELF()
	f := newTestFile(t, data)
	argv := []string{"prog", "-x", "", "last arg"}
	envv := []string{"HOME=/root", "PATH=/bin:/usr/bin", "EMPTY="}
	random := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	a := Args{Argv: argv, Envv: envv, Filename: "/usr/bin/prog", Random: random,
		UID: 1000, EUID: 1001, GID: 2000, EGID: 2001}
	res, err := Load(m, f, a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Entry != textEntry {
		t.Fatalf("entry = %#x, want %#x", res.Entry, textEntry)
	}
	if res.Stack%16 != 0 {
		t.Fatalf("stack pointer %#x is not 16-byte aligned", res.Stack)
	}
	if top := m.StackTop(); res.Stack >= top || res.Stack < top-stackSize {
		t.Fatalf("stack pointer %#x not inside the stack below %#x", res.Stack, top)
	}
	if l := mapsLine(m, m.StackTop()-stackSize); !strings.Contains(l, "rw-p") || !strings.Contains(l, "[stack]") {
		t.Fatalf("stack mapping: %q\n%s", l, m.MapsText())
	}

	s := decodeStack(t, m, res.Stack)
	if s.argc != uint64(len(argv)) || fmt.Sprint(s.argv) != fmt.Sprint(argv) {
		t.Fatalf("argc %d argv %q, want %q", s.argc, s.argv, argv)
	}
	if fmt.Sprint(s.envp) != fmt.Sprint(envv) {
		t.Fatalf("envp %q, want %q", s.envp, envv)
	}
	wantAux := map[uint64]uint64{
		atPagesz: 4096,
		atPhdr:   textBase + ehdrSize,
		atPhent:  phdrSize,
		atPhnum:  3,
		atEntry:  textEntry,
		atBase:   0,
		atUID:    1000, atEUID: 1001, atGID: 2000, atEGID: 2001,
		atSecure: 0,
	}
	for k, v := range wantAux {
		got, ok := s.auxv[k]
		if !ok || got != v {
			t.Errorf("auxv[%d] = %#x (present %v), want %#x", k, got, ok, v)
		}
	}
	for _, k := range []uint64{atRandom, atExecfn, atPlatform, atHwcap, atClktck} {
		if _, ok := s.auxv[k]; !ok {
			t.Errorf("auxv lacks key %d", k)
		}
	}
	// AT_PHDR points at the program headers, as mapped.
	if got := mustRead(t, m, uintptr(s.auxv[atPhdr]), 3*phdrSize); !bytes.Equal(got, data[ehdrSize:ehdrSize+3*phdrSize]) {
		t.Error("memory at AT_PHDR is not the program header table")
	}
	if got := mustRead(t, m, uintptr(s.auxv[atRandom]), 16); !bytes.Equal(got, random[:]) {
		t.Errorf("AT_RANDOM bytes = %x, want %x", got, random)
	}
	if r := uintptr(s.auxv[atRandom]); r <= res.Stack || r+16 > m.StackTop() {
		t.Errorf("AT_RANDOM %#x not on the stack above sp", r)
	}
	if got := readString(t, m, uintptr(s.auxv[atExecfn])); got != a.Filename {
		t.Errorf("AT_EXECFN string = %q, want %q", got, a.Filename)
	}
	if got := readString(t, m, uintptr(s.auxv[atPlatform])); got != "x86_64" {
		t.Errorf("AT_PLATFORM string = %q", got)
	}
	// The kernel's copy (for /proc/pid/auxv) matches the stack.
	if len(m.Auxv) != len(s.auxvOrder)+2 || fmt.Sprint(m.Auxv[:len(s.auxvOrder)]) != fmt.Sprint(s.auxvOrder) {
		t.Errorf("mm.Auxv = %v, stack has %v", m.Auxv, s.auxvOrder)
	}
	// /proc/pid/cmdline and environ are read from these ranges.
	if got, want := string(mustRead(t, m, m.ArgvStart, int(m.ArgvEnd-m.ArgvStart))), strings.Join(argv, "\x00")+"\x00"; got != want {
		t.Errorf("[ArgvStart, ArgvEnd) = %q, want %q", got, want)
	}
	if got, want := string(mustRead(t, m, m.EnvStart, int(m.EnvEnd-m.EnvStart))), strings.Join(envv, "\x00")+"\x00"; got != want {
		t.Errorf("[EnvStart, EnvEnd) = %q, want %q", got, want)
	}
	if m.ArgvStart != s.argvPtrs[0] {
		t.Errorf("ArgvStart %#x, argv[0] at %#x", m.ArgvStart, s.argvPtrs[0])
	}

	// The text: the file page as it is in the file, read-only.
	if got := mustRead(t, m, textBase, 0x1000); !bytes.Equal(got, data[:0x1000]) {
		t.Error("text page differs from the file")
	}
	if _, err := m.CopyOut(textEntry, []byte{0xcc}); err != unix.EFAULT {
		t.Errorf("write to the text segment: %v, want EFAULT", err)
	}
	if l := mapsLine(m, textBase); !strings.Contains(l, "r-xp") {
		t.Errorf("text mapping %q, want r-xp", l)
	}
	// Nothing between the segments.
	if _, err := m.CopyIn(textBase+0x1000, make([]byte, 1)); err != unix.EFAULT {
		t.Errorf("read of the gap after the text: %v, want EFAULT", err)
	}

	// The data: file contents up to filesz, the rest of that page zeroed
	// (padzero), then anonymous zero pages up to memsz.
	if got := mustRead(t, m, dataVaddr&^0xfff, dataVaddr&0xfff); !bytes.Equal(got, data[0x1000:dataOff]) {
		t.Error("bytes before the data segment in its first page differ from the file")
	}
	if got := mustRead(t, m, dataVaddr, dataFile); !bytes.Equal(got, dataBytes) {
		t.Errorf("initialized data = %q", got)
	}
	bssEnd := uintptr(dataVaddr + dataMem)
	pageEnd := (bssEnd + 0xfff) &^ 0xfff
	if got := mustRead(t, m, dataVaddr+dataFile, int(pageEnd-(dataVaddr+dataFile))); !isZero(got) {
		i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 })
		t.Errorf("bss not zero: first non-zero byte at %#x", dataVaddr+dataFile+uintptr(i))
	}
	if _, err := m.CopyIn(pageEnd, make([]byte, 1)); err != unix.EFAULT {
		t.Errorf("read past the bss: %v, want EFAULT", err)
	}
	if _, err := m.CopyOut(bssEnd-8, []byte("writable")); err != nil {
		t.Errorf("bss not writable: %v", err)
	}
	if l := mapsLine(m, dataVaddr&^0xfff); !strings.Contains(l, "rw-p") {
		t.Errorf("data mapping %q, want rw-p", l)
	}
	// Zeroing the tail was a private write: the file is untouched.
	cached := make([]byte, 0x10)
	f.pc.ReadAt(cached, dataOff+dataFile)
	if !bytes.Equal(cached, bytes.Repeat([]byte{0xee}, 0x10)) {
		t.Errorf("padzero reached the file's page cache: %x", cached)
	}
	// The heap starts after the bss.
	if got := m.Brk(0); got != pageEnd {
		t.Errorf("initial brk = %#x, want %#x", got, pageEnd)
	}
}

func TestLoadNoArgsNoEnv(t *testing.T) {
	m := newMM(t)
	res, err := Load(m, newTestFile(t, staticELF()), Args{Filename: "prog"})
	if err != nil {
		t.Fatal(err)
	}
	s := decodeStack(t, m, res.Stack)
	if s.argc != 0 || len(s.envp) != 0 || res.Stack%16 != 0 {
		t.Fatalf("argc %d envp %q sp %#x", s.argc, s.envp, res.Stack)
	}
	if got := readString(t, m, uintptr(s.auxv[atExecfn])); got != "prog" {
		t.Fatalf("AT_EXECFN = %q", got)
	}
}

// The stack pointer is 16-byte aligned whatever the sizes of the strings
// and the number of pointers.
func TestStackAlignment(t *testing.T) {
	for n := 0; n < 6; n++ {
		for l := 0; l < 17; l += 3 {
			m := newMM(t)
			var argv []string
			for i := 0; i < n; i++ {
				argv = append(argv, strings.Repeat("a", l+i))
			}
			envv := argv[:n/2]
			res, err := Load(m, newTestFile(t, staticELF()), Args{Argv: argv, Envv: envv, Filename: strings.Repeat("f", l)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stack%16 != 0 {
				t.Fatalf("argc %d, len %d: sp %#x not 16-byte aligned", n, l, res.Stack)
			}
			s := decodeStack(t, m, res.Stack)
			if fmt.Sprint(s.argv) != fmt.Sprint(argv) || fmt.Sprint(s.envp) != fmt.Sprint(envv) {
				t.Fatalf("argv %q envp %q, want %q %q", s.argv, s.envp, argv, envv)
			}
		}
	}
}

func TestLoadStaticPIE(t *testing.T) {
	img := elfImage{
		typ:   elf.ET_DYN,
		entry: 0x180,
		size:  0x2000,
		segs: []seg{
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0, filesz: 0x200, memsz: 0x200},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x1100, vaddr: 0x1100, filesz: 0x10, memsz: 0x100},
		},
	}
	data := img.build()
	fill(data[0x180:0x200], 0x90)
	copy(data[0x1100:], "pie data 16 byte")
	fill(data[0x1110:0x2000], 0xee)
	m := newMM(t)
	res, err := Load(m, newTestFile(t, data), Args{Argv: []string{"pie"}, Filename: "/pie"})
	if err != nil {
		t.Fatal(err)
	}
	const base = 0x555555554000
	if res.Entry != base+0x180 {
		t.Fatalf("entry = %#x, want %#x", res.Entry, base+0x180)
	}
	if got := mustRead(t, m, base, 0x200); !bytes.Equal(got, data[:0x200]) {
		t.Fatal("first segment not at the PIE base")
	}
	if got := string(mustRead(t, m, base+0x1100, 0x10)); got != "pie data 16 byte" {
		t.Fatalf("data segment at base+0x1100 = %q", got)
	}
	if !isZero(mustRead(t, m, base+0x1110, 0x2000-0x1110)) {
		t.Fatal("bss of the PIE not zero")
	}
	if _, err := m.CopyIn(0x1100, make([]byte, 1)); err != unix.EFAULT {
		t.Fatal("PIE also mapped at its link address")
	}
	s := decodeStack(t, m, res.Stack)
	// No PT_PHDR: AT_PHDR comes from the PT_LOAD holding the headers.
	if s.auxv[atPhdr] != base+ehdrSize || s.auxv[atEntry] != base+0x180 || s.auxv[atBase] != 0 {
		t.Fatalf("AT_PHDR %#x AT_ENTRY %#x AT_BASE %#x", s.auxv[atPhdr], s.auxv[atEntry], s.auxv[atBase])
	}
	if got := mustRead(t, m, uintptr(s.auxv[atPhdr]), 2*phdrSize); !bytes.Equal(got, data[ehdrSize:ehdrSize+2*phdrSize]) {
		t.Fatal("memory at AT_PHDR is not the program header table")
	}
	if got := m.Brk(0); got != base+0x2000 {
		t.Fatalf("initial brk = %#x, want %#x", got, base+0x2000)
	}
}

const interpPath = "/lib/ld-test.so.1"

// dynamicELF is staticELF with a PT_INTERP naming interpPath.
func dynamicELF() []byte {
	img := elfImage{
		typ:   elf.ET_EXEC,
		entry: textEntry,
		size:  0x1000,
		segs: []seg{
			{typ: elf.PT_INTERP, flags: elf.PF_R, off: 0x100, vaddr: textBase + 0x100, filesz: uint64(len(interpPath) + 1), memsz: uint64(len(interpPath) + 1)},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: textBase, filesz: 0x200, memsz: 0x200},
		},
	}
	b := img.build()
	copy(b[0x100:], interpPath)
	return b
}

// interpELF is a position-independent interpreter with a bss.
func interpELF(typ elf.Type) []byte {
	img := elfImage{
		typ:   typ,
		entry: 0x250,
		size:  0x1100,
		segs: []seg{
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0, filesz: 0x300, memsz: 0x300},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x1000, vaddr: 0x3000, filesz: 0x10, memsz: 0x2000},
		},
	}
	b := img.build()
	fill(b[0x200:0x300], 0x90)
	copy(b[0x1000:], "ld.so's own data")
	fill(b[0x1010:], 0xee)
	return b
}

func TestLoadInterpreter(t *testing.T) {
	m := newMM(t)
	interp := interpELF(elf.ET_DYN)
	var opened []string
	res, err := Load(m, newTestFile(t, dynamicELF()), Args{
		Argv: []string{"dyn"}, Filename: "/bin/dyn",
		OpenInterp: func(p string) (File, error) {
			opened = append(opened, p)
			return newTestFile(t, interp), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(opened) != fmt.Sprint([]string{interpPath}) {
		t.Fatalf("OpenInterp called with %q, want %q", opened, interpPath)
	}
	s := decodeStack(t, m, res.Stack)
	base := uintptr(s.auxv[atBase])
	if base == 0 || base%4096 != 0 {
		t.Fatalf("AT_BASE = %#x", base)
	}
	if res.Entry != base+0x250 {
		t.Fatalf("entry %#x, want the interpreter's %#x", res.Entry, base+0x250)
	}
	if s.auxv[atEntry] != textEntry || s.auxv[atPhdr] != textBase+ehdrSize {
		t.Fatalf("AT_ENTRY %#x AT_PHDR %#x must describe the program, not the interpreter", s.auxv[atEntry], s.auxv[atPhdr])
	}
	if got := mustRead(t, m, base, 0x300); !bytes.Equal(got, interp[:0x300]) {
		t.Fatal("interpreter text not at AT_BASE")
	}
	if got := string(mustRead(t, m, base+0x3000, 0x10)); got != "ld.so's own data" {
		t.Fatalf("interpreter data = %q", got)
	}
	if !isZero(mustRead(t, m, base+0x3010, 0x2000-0x10)) {
		t.Fatal("interpreter bss not zero")
	}
	if got := mustRead(t, m, textBase, 0x200); !bytes.Equal(got, dynamicELF()[:0x200]) {
		t.Fatal("program not mapped at its address")
	}
}

func TestLoadInterpreterErrors(t *testing.T) {
	t.Run("no OpenInterp", func(t *testing.T) {
		res, err := Load(newMM(t), newTestFile(t, dynamicELF()), Args{Argv: []string{"dyn"}, Filename: "/bin/dyn"})
		if err == nil {
			t.Fatalf("Load = %+v, want an error", res)
		}
		if !strings.Contains(err.Error(), interpPath) {
			t.Errorf("error %q does not name the interpreter", err)
		}
	})
	t.Run("interpreter missing", func(t *testing.T) {
		_, err := Load(newMM(t), newTestFile(t, dynamicELF()), Args{Argv: []string{"dyn"}, Filename: "/bin/dyn",
			OpenInterp: func(string) (File, error) { return nil, unix.ENOENT }})
		// execve reports a missing interpreter as ENOENT.
		if !errors.Is(err, unix.ENOENT) {
			t.Fatalf("err = %v, want ENOENT", err)
		}
	})
	for name, data := range map[string][]byte{
		"interpreter not ELF":         []byte("#!/bin/sh\n"),
		"interpreter is ET_EXEC":      interpELF(elf.ET_EXEC),
		"interpreter has PT_INTERP":   dynamicELF(),
		"interpreter truncated":       interpELF(elf.ET_DYN)[:40],
		"interpreter without PT_LOAD": elfImage{typ: elf.ET_DYN, size: 0x100, segs: []seg{{typ: elf.PT_NOTE, off: 0x80, filesz: 4, memsz: 4}}}.build(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(newMM(t), newTestFile(t, dynamicELF()), Args{Argv: []string{"dyn"}, Filename: "/bin/dyn",
				OpenInterp: func(string) (File, error) { return newTestFile(t, data), nil }})
			if !errors.Is(err, ErrNotELF) {
				t.Fatalf("err = %v, want ErrNotELF", err)
			}
		})
	}
}

// A PT_LOAD with no file contents (filesz 0) at an address that is not
// page aligned: Linux (since 6.7, "binfmt_elf: Support segments with 0
// filesz and misaligned starts") maps [PAGESTART(vaddr), vaddr+memsz) as
// zeroed memory.
func TestLoadBSSOnlySegmentUnaligned(t *testing.T) {
	img := elfImage{
		typ:   elf.ET_EXEC,
		entry: textEntry,
		size:  0x1000,
		segs: []seg{
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: textBase, filesz: 0x200, memsz: 0x200},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x210, vaddr: 0x403210, filesz: 0, memsz: 0x100},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x210, vaddr: 0x405210, filesz: 0, memsz: 0x2000},
		},
	}
	m := newMM(t)
	if _, err := Load(m, newTestFile(t, img.build()), Args{Argv: []string{"bss"}, Filename: "/bss"}); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, r := range [][2]uintptr{{0x403210, 0x100}, {0x405210, 0x2000}} {
		b := make([]byte, r[1])
		if n, err := m.CopyIn(r[0], b); err != nil {
			missing = append(missing, fmt.Sprintf("[%#x, %#x) readable only up to %#x (%v)", r[0], r[0]+r[1], r[0]+uintptr(n), err))
		} else if !isZero(b) {
			t.Fatalf("bss at %#x not zero", r[0])
		}
	}
	if len(missing) > 0 {
		t.Skipf("bug: a filesz==0 PT_LOAD at an unaligned address is mapped from pageUp(vaddr) instead of "+
			"pageDown(vaddr): %s\n%s", strings.Join(missing, "; "), m.MapsText())
	}
}

// A real static executable built by the host toolchain, checked against
// what debug/elf says about it.
func TestLoadGCCStatic(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "prog.c")
	err = os.WriteFile(src, []byte(`
char msg[] = "hello from .data";
long counter = 42;
char big[20000];
const char ro[] = "read-only";
void _start(void) { for (;;) big[counter]++; }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"-static", "-static-pie"} {
		t.Run(mode, func(t *testing.T) {
			bin := filepath.Join(dir, "prog"+mode)
			out, err := exec.Command(gcc, mode, "-nostdlib", "-O1", "-fno-stack-protector", "-o", bin, src).CombinedOutput()
			if err != nil {
				t.Skipf("gcc %s failed: %v\n%s", mode, err, out)
			}
			data, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]elf.Type{"-static": elf.ET_EXEC, "-static-pie": elf.ET_DYN}[mode]; ef.Type != want {
				t.Skipf("gcc %s made an %v", mode, ef.Type)
			}
			bias := uint64(0)
			if ef.Type == elf.ET_DYN {
				bias = 0x555555554000
			}
			m := newMM(t)
			res, err := Load(m, newTestFile(t, data), Args{Argv: []string{"prog"}, Envv: []string{"A=b"}, Filename: bin})
			if err != nil {
				t.Fatal(err)
			}
			if uint64(res.Entry) != ef.Entry+bias {
				t.Fatalf("entry %#x, want %#x", res.Entry, ef.Entry+bias)
			}
			for _, p := range ef.Progs {
				if p.Type != elf.PT_LOAD || p.Memsz == 0 {
					continue
				}
				got := mustRead(t, m, uintptr(p.Vaddr+bias), int(p.Memsz))
				if !bytes.Equal(got[:p.Filesz], data[p.Off:p.Off+p.Filesz]) {
					t.Errorf("segment at %#x differs from the file", p.Vaddr)
				}
				if !isZero(got[p.Filesz:]) {
					t.Errorf("bss of the segment at %#x not zero", p.Vaddr)
				}
				_, werr := m.CopyOut(uintptr(p.Vaddr+bias), got[:1])
				if writable := p.Flags&elf.PF_W != 0; writable != (werr == nil) {
					t.Errorf("segment at %#x (flags %v): write gives %v", p.Vaddr, p.Flags, werr)
				}
			}
			syms, err := ef.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, s := range syms {
				addr := uintptr(s.Value + bias)
				switch s.Name {
				case "msg":
					if got := readString(t, m, addr); got != "hello from .data" {
						t.Errorf("msg = %q", got)
					}
				case "counter":
					if got := readWord(t, m, addr); got != 42 {
						t.Errorf("counter = %d", got)
					}
				case "big":
					if !isZero(mustRead(t, m, addr, 20000)) {
						t.Error("big not zero")
					}
				case "ro":
					if got := readString(t, m, addr); got != "read-only" {
						t.Errorf("ro = %q", got)
					}
				default:
					continue
				}
				found++
			}
			if found != 4 {
				t.Fatalf("found %d of the 4 symbols", found)
			}
			s := decodeStack(t, m, res.Stack)
			if s.auxv[atPhdr] == 0 || s.auxv[atPhnum] != uint64(len(ef.Progs)) {
				t.Fatalf("AT_PHDR %#x AT_PHNUM %d", s.auxv[atPhdr], s.auxv[atPhnum])
			}
			phoff := binary.LittleEndian.Uint64(data[32:])
			if got := mustRead(t, m, uintptr(s.auxv[atPhdr]), len(ef.Progs)*phdrSize); !bytes.Equal(got, data[phoff:phoff+uint64(len(ef.Progs)*phdrSize)]) {
				t.Fatal("memory at AT_PHDR is not the program header table")
			}
		})
	}
}
