// Package loader loads ELF executables into a fresh address space and
// builds the initial stack (argv, envp, auxv) the way Linux's binfmt_elf
// does. It handles static, static-PIE and dynamically linked programs
// (whose PT_INTERP interpreter it loads as well).
package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

// File is an opened executable.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	Mappable() mm.Mappable
}

// Identified is implemented by Files that know what /proc/PID/maps shows
// for their mappings: the file's path (where the VFS found it, through
// any symlinks) and its st_dev and st_ino. Mappings of other Files show
// the path they were opened by and no device or inode.
type Identified interface {
	MapIdentity() (path string, dev, ino uint64)
}

// ErrNotELF is returned for a file that is not an amd64 ELF executable;
// execve reports it as ENOEXEC.
var ErrNotELF = errors.New("not an ELF executable")

// Args describe the program to load.
type Args struct {
	Argv, Envv []string
	// Filename is the path given to execve (AT_EXECFN).
	Filename string
	// OpenInterp opens the program interpreter named by PT_INTERP.
	OpenInterp func(path string) (File, error)
	// Random fills AT_RANDOM.
	Random               [16]byte
	UID, EUID, GID, EGID uint32
	// Secure is AT_SECURE: the exec changed privilege, so the C library
	// must distrust the environment (LD_PRELOAD, ...).
	Secure bool
	// VDSO, if not nil, is mapped below the stack and announced with
	// AT_SYSINFO_EHDR. (veil: vdso)
	VDSO VDSO
	// StackSize is the stack limit (RLIMIT_STACK's soft limit, ^0 for
	// none): the size of the stack mapping; 0 means the default 8 MiB.
	StackSize uint64
}

// VDSO maps a vDSO (see sentry/vdso) into new address spaces. (veil: vdso)
type VDSO interface {
	// Map maps the vDSO and its data into m, ending at top if that range
	// is free, and returns the address of its ELF header.
	Map(m *mm.MemoryManager, top uintptr) (uintptr, error)
}

// vdsoGap separates the vDSO from the bottom of the stack, like Linux's
// stack guard gap. (veil: vdso)
const vdsoGap = 1 << 20

// Result is where the new program starts.
type Result struct {
	Entry, Stack uintptr
}

// pieBase is where static-PIE and PIE executables are placed (Linux's
// ELF_ET_DYN_BASE without randomisation).
const pieBase = 0x555555554000

// stackSize is the size of the initial stack mapping with the default
// RLIMIT_STACK. The Sentry's stacks do not grow: the mapping is as large
// as the limit (within [minStack, maxStack]; an unlimited stack gets
// maxStack), so a program can use as much stack as under Linux and gets
// SIGSEGV beyond it.
const (
	stackSize = 8 << 20
	minStack  = 128 << 10
	maxStack  = 4 << 30
)

// stackFor returns the stack mapping size for RLIMIT_STACK limit.
func stackFor(limit uint64) uintptr {
	if limit == 0 {
		return stackSize
	}
	return uintptr(max(min(limit, maxStack), minStack)) &^ 4095
}

// Load maps the executable f into m and builds its stack.
func Load(m *mm.MemoryManager, f File, a Args) (Result, error) {
	img, err := parse(f)
	if err != nil {
		return Result{}, err
	}
	stack := stackFor(a.StackSize)
	m.ReserveStack(stack) // before anything is placed below it
	bias := uintptr(0)
	if elf.Type(img.hdr.Type) == elf.ET_DYN {
		bias = pieBase - img.minVaddr
	}
	end, segments, err := mapImage(m, f, img, bias, a.Filename, nil)
	if err != nil {
		return Result{}, err
	}
	m.SetBrkStart(pageUp(end))
	setLayout(m, img, bias)

	entry := uintptr(img.hdr.Entry) + bias
	interpBase := uintptr(0)
	if img.interp != "" {
		if a.OpenInterp == nil {
			return Result{}, fmt.Errorf("loader: %w: needs interpreter %s", ErrNotELF, img.interp)
		}
		ifile, err := a.OpenInterp(img.interp)
		if err != nil {
			return Result{}, fmt.Errorf("loader: interpreter %s: %w", img.interp, err)
		}
		iimg, err := parse(ifile)
		if err != nil {
			return Result{}, fmt.Errorf("loader: interpreter %s: %w", img.interp, err)
		}
		if iimg.interp != "" || elf.Type(iimg.hdr.Type) != elf.ET_DYN {
			return Result{}, fmt.Errorf("loader: interpreter %s: %w", img.interp, ErrNotELF)
		}
		// Reserve the interpreter's span anywhere, then map it there.
		span := pageUp(iimg.maxVaddr) - pageDown(iimg.minVaddr)
		base, err := m.MMap(mm.MMapOpts{Length: span, Prot: unix.PROT_NONE})
		if err != nil {
			return Result{}, err
		}
		interpBase = base - pageDown(iimg.minVaddr)
		if _, segments, err = mapImage(m, ifile, iimg, interpBase, img.interp, segments); err != nil {
			return Result{}, err
		}
		entry = uintptr(iimg.hdr.Entry) + interpBase
	}

	top := m.StackTop()
	if _, err := m.MMap(mm.MMapOpts{Addr: top - stack, Length: stack, Fixed: true,
		Prot: unix.PROT_READ | unix.PROT_WRITE, Name: "[stack]", Stack: true}); err != nil {
		return Result{}, err
	}
	auxv := []uint64{
		atPhdr, uint64(img.phdrAddr + bias),
		atPhent, uint64(img.hdr.Phentsize),
		atPhnum, uint64(img.hdr.Phnum),
		atPagesz, 4096,
		atBase, uint64(interpBase),
		atFlags, 0,
		atEntry, uint64(uintptr(img.hdr.Entry) + bias),
		atUID, uint64(a.UID),
		atEUID, uint64(a.EUID),
		atGID, uint64(a.GID),
		atEGID, uint64(a.EGID),
		atSecure, boolAux(a.Secure),
		atClktck, 100,
		atHwcap, uint64(hwcap()),
	}
	// veil: vdso. Linux puts AT_SYSINFO_EHDR first.
	if a.VDSO != nil {
		ehdr, err := a.VDSO.Map(m, top-stack-vdsoGap)
		if err != nil {
			return Result{}, fmt.Errorf("loader: mapping the vDSO: %w", err)
		}
		auxv = append([]uint64{atSysinfoEhdr, uint64(ehdr)}, auxv...)
	}
	sp, err := buildStack(m, top, a, auxv)
	if err != nil {
		return Result{}, err
	}
	m.StartStack = sp
	// What every program touches first: its code at the entry point,
	// its stack, and the first page of each of its segments (headers,
	// data, bss) and of the vDSO.
	prefault := append([]uintptr{entry, sp}, segments...)
	if a.VDSO != nil {
		prefault = append(prefault, uintptr(auxv[1]))
	}
	m.SetPrefault(prefault)
	return Result{Entry: entry, Stack: sp}, nil
}

// setLayout records where the program's text and data are, as Linux's
// load_elf_binary computes mm->start_code and friends: the code spans the
// executable segments' file contents, the data runs from the start of the
// last segment to the end of the file contents of all.
func setLayout(m *mm.MemoryManager, img *image, bias uintptr) {
	startCode, endCode := ^uintptr(0), uintptr(0)
	var startData, endData uintptr
	for _, p := range img.phdrs {
		if elf.ProgType(p.Type) != elf.PT_LOAD {
			continue
		}
		lo, hi := uintptr(p.Vaddr), uintptr(p.Vaddr+p.Filesz)
		if p.Flags&uint32(elf.PF_X) != 0 {
			startCode, endCode = min(startCode, lo), max(endCode, hi)
		}
		startData, endData = max(startData, lo), max(endData, hi)
	}
	if startCode > endCode {
		startCode, endCode = 0, 0
	} else {
		startCode, endCode = startCode+bias, endCode+bias
	}
	m.StartCode, m.EndCode = startCode, endCode
	m.StartData, m.EndData = startData+bias, endData+bias
}

type image struct {
	hdr                elf.Header64
	phdrs              []elf.Prog64
	minVaddr, maxVaddr uintptr
	phdrAddr           uintptr // unbiased address of the program headers
	interp             string
}

func parse(f File) (*image, error) {
	var hb [64]byte
	if n, _ := f.ReadAt(hb[:], 0); n < len(hb) || !bytes.HasPrefix(hb[:], []byte(elf.ELFMAG)) {
		return nil, ErrNotELF
	}
	img := &image{}
	binary.Read(bytes.NewReader(hb[:]), binary.LittleEndian, &img.hdr)
	h := &img.hdr
	if elf.Class(h.Ident[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(h.Ident[elf.EI_DATA]) != elf.ELFDATA2LSB ||
		elf.Machine(h.Machine) != elf.EM_X86_64 || (elf.Type(h.Type) != elf.ET_EXEC && elf.Type(h.Type) != elf.ET_DYN) {
		return nil, ErrNotELF
	}
	if h.Phentsize != 56 || h.Phnum == 0 || h.Phnum > 128 {
		return nil, fmt.Errorf("%w: bad program headers", ErrNotELF)
	}
	pb := make([]byte, int(h.Phnum)*56)
	if n, _ := f.ReadAt(pb, int64(h.Phoff)); n < len(pb) {
		return nil, fmt.Errorf("%w: truncated program headers", ErrNotELF)
	}
	img.phdrs = make([]elf.Prog64, h.Phnum)
	binary.Read(bytes.NewReader(pb), binary.LittleEndian, img.phdrs)
	first := true
	for _, p := range img.phdrs {
		switch elf.ProgType(p.Type) {
		case elf.PT_LOAD:
			if p.Memsz == 0 {
				continue
			}
			if p.Filesz > p.Memsz || p.Vaddr%4096 != p.Off%4096 {
				return nil, fmt.Errorf("%w: bad PT_LOAD", ErrNotELF)
			}
			if first || uintptr(p.Vaddr) < img.minVaddr {
				img.minVaddr = pageDown(uintptr(p.Vaddr))
			}
			first = false
			img.maxVaddr = max(img.maxVaddr, uintptr(p.Vaddr+p.Memsz))
			if p.Off <= h.Phoff && h.Phoff < p.Off+p.Filesz && img.phdrAddr == 0 {
				img.phdrAddr = uintptr(p.Vaddr + h.Phoff - p.Off)
			}
		case elf.PT_PHDR:
			img.phdrAddr = uintptr(p.Vaddr)
		case elf.PT_INTERP:
			if p.Filesz == 0 || p.Filesz > 4096 {
				return nil, fmt.Errorf("%w: bad PT_INTERP", ErrNotELF)
			}
			b := make([]byte, p.Filesz)
			if n, err := f.ReadAt(b, int64(p.Off)); n < len(b) && err != io.EOF {
				return nil, err
			}
			img.interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	if first {
		return nil, fmt.Errorf("%w: no loadable segments", ErrNotELF)
	}
	return img, nil
}

// mapImage maps img's PT_LOAD segments at bias and returns the end of the
// highest one, and segments with the start of each segment's file part
// and of its bss appended.
func mapImage(m *mm.MemoryManager, f File, img *image, bias uintptr, name string, segments []uintptr) (uintptr, []uintptr, error) {
	var dev, ino uint64
	if id, ok := f.(Identified); ok {
		var path string
		if path, dev, ino = id.MapIdentity(); path != "" {
			name = path
		}
	}
	var end uintptr
	for _, p := range img.phdrs {
		if elf.ProgType(p.Type) != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		prot := 0
		if p.Flags&uint32(elf.PF_R) != 0 {
			prot |= unix.PROT_READ
		}
		if p.Flags&uint32(elf.PF_W) != 0 {
			prot |= unix.PROT_WRITE
		}
		if p.Flags&uint32(elf.PF_X) != 0 {
			prot |= unix.PROT_EXEC
		}
		vaddr := uintptr(p.Vaddr) + bias
		start := pageDown(vaddr)
		fileEnd := vaddr + uintptr(p.Filesz)
		memEnd := vaddr + uintptr(p.Memsz)
		if p.Filesz > 0 {
			// Map writable first if the file part's tail page needs
			// zeroing, then drop write if the segment lacks it.
			if _, err := m.MMap(mm.MMapOpts{Addr: start, Length: pageUp(fileEnd) - start, Fixed: true,
				Prot: prot | unix.PROT_WRITE, Mappable: f.Mappable(), Offset: int64(p.Off) - int64(vaddr-start),
				Name: name, Dev: dev, Ino: ino}); err != nil {
				return 0, nil, err
			}
			// Like Linux's padzero, clear the whole rest of the last
			// file page, not just up to memsz: ld.so's early allocator
			// uses the space after its bss and expects zeros there.
			if tail := pageUp(fileEnd) - fileEnd; tail > 0 && memEnd > fileEnd {
				if _, err := m.ZeroOut(fileEnd, int(tail)); err != nil {
					return 0, nil, err
				}
			}
			if prot&unix.PROT_WRITE == 0 {
				if err := m.Mprotect(start, pageUp(fileEnd)-start, prot); err != nil {
					return 0, nil, err
				}
			}
		}
		bss := pageUp(fileEnd)
		if p.Filesz == 0 {
			bss = start // a segment with no file data is all bss, from its first page
		}
		if pageUp(memEnd) > bss && p.Memsz > p.Filesz {
			if _, err := m.MMap(mm.MMapOpts{Addr: bss, Length: pageUp(memEnd) - bss, Fixed: true, Prot: prot}); err != nil {
				return 0, nil, err
			}
		}
		segments = append(segments, start, bss)
		end = max(end, memEnd)
	}
	return end, segments, nil
}

// buildStack writes strings, argv, envp and auxv below top and returns the
// initial stack pointer (pointing at argc).
func buildStack(m *mm.MemoryManager, top uintptr, a Args, auxv []uint64) (uintptr, error) {
	sp := top
	push := func(b []byte) (uintptr, error) {
		sp -= uintptr(len(b))
		_, err := m.CopyOut(sp, b)
		return sp, err
	}
	pushString := func(s string) (uintptr, error) { return push(append([]byte(s), 0)) }

	execfn, err := pushString(a.Filename)
	if err != nil {
		return 0, err
	}
	platform, _ := pushString("x86_64")
	random, _ := push(a.Random[:])
	envp := make([]uint64, len(a.Envv))
	for i := len(a.Envv) - 1; i >= 0; i-- {
		p, err := pushString(a.Envv[i])
		if err != nil {
			return 0, err
		}
		envp[i] = uint64(p)
	}
	// The environment strings end where the AT_RANDOM bytes begin.
	envEnd := random
	argv := make([]uint64, len(a.Argv))
	for i := len(a.Argv) - 1; i >= 0; i-- {
		p, err := pushString(a.Argv[i])
		if err != nil {
			return 0, err
		}
		argv[i] = uint64(p)
	}
	argEnd := envEnd
	if len(envp) > 0 {
		argEnd = uintptr(envp[0])
	}
	auxv = append(auxv, atRandom, uint64(random), atPlatform, uint64(platform),
		atExecfn, uint64(execfn), atNull, 0)

	// argc, argv..., 0, envp..., 0, auxv...: 16-byte aligned at argc.
	words := 1 + len(argv) + 1 + len(envp) + 1 + len(auxv)
	sp = (sp - uintptr(words*8)) &^ 15
	buf := make([]byte, 0, words*8)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(argv)))
	for _, v := range argv {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	buf = binary.LittleEndian.AppendUint64(buf, 0)
	for _, v := range envp {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	buf = binary.LittleEndian.AppendUint64(buf, 0)
	for _, v := range auxv {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	if _, err := m.CopyOut(sp, buf); err != nil {
		return 0, err
	}
	if len(argv) > 0 {
		m.ArgvStart, m.ArgvEnd = uintptr(argv[0]), argEnd
	}
	if len(envp) > 0 {
		m.EnvStart, m.EnvEnd = uintptr(envp[0]), envEnd
	}
	m.Auxv = auxv
	return sp, nil
}

func pageUp(n uintptr) uintptr   { return (n + 4095) &^ 4095 }
func pageDown(n uintptr) uintptr { return n &^ 4095 }

func boolAux(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
