package ptrace

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Address-space layout of a stub process.
//
// The stub occupies two pages at stubBase: a read+execute page holding the
// ELF headers and the stub code, and a read+write (bss) page the stub uses as
// scratch memory for recvmsg. Everything else in the process is unmapped at
// start-up, so the Sentry owns [0, maxUserAddress) outright. The gap between
// maxUserAddress and stubBase keeps a stray application mapping from ever
// touching the stub.
//
// The code page must never be writable: the control thread executes stub
// code natively (PTRACE_CONT, not SYSEMU), so an application able to patch it
// could run arbitrary host system calls. The seccomp filter (seccomp.go)
// relies on this too: it trusts system calls by the address they are made
// from.
const (
	stubBase       = 0x7fff_0000_0000
	stubCodePage   = stubBase
	stubDataPage   = stubBase + pageSize
	stubEnd        = stubBase + 2*pageSize
	maxUserAddress = 0x7ffe_0000_0000

	// taskSize is the top of the 47-bit user address space; stub start-up
	// unmaps everything in [stubEnd, taskSize) (exec'd stack, vdso, vvar).
	taskSize = 0x7fff_ffff_f000

	pageSize = 0x1000

	// stubCodeOff is where the code starts in the file and in the code
	// page; the ELF headers sit in front of it.
	stubCodeOff = 0x100
)

// Addresses of the stub's entry points, and the addresses the tracer sees
// in rip after the int3 that ends each sequence. They are filled in by
// buildStubCode so the byte layout is the single source of truth.
var (
	stubEntry     uintptr // _start: the setup sequence (see buildStubCode)
	stubSyscall   uintptr // syscall; int3
	stubSyscallOK uintptr // rip after that int3
	stubClone     uintptr // syscall; test rax,rax; jz child; int3; child: pause loop
	stubCloneOK   uintptr // rip after the parent's int3
	stubRecv      uintptr // rebuild msghdr; recvmsg; rax = received fd; int3
	stubRecvOK    uintptr // rip after that int3

	// stubSetupFail is the int3 a failed setup step ends at;
	// stubSetupFailOK is the rip after it.
	stubSetupFail, stubSetupFailOK uintptr
	// stubSetupFprogAt is the offset in the code of the setup sequence's
	// imm64 that must hold stubFprog.
	stubSetupFprogAt int
)

// Addresses just after each syscall instruction of the stub code, which is
// what seccomp_data.instruction_pointer holds for a system call made there
// (see seccomp.go). Also filled in by buildStubCode.
var (
	stubSyscallRet uintptr // the generic site (stubSyscall)
	stubCloneRet   uintptr // clone
	stubPauseRet   uintptr // the clone child's pause loop
	stubRecvRet    uintptr // recvmsg
)

// stubFprog is the address of the struct sock_fprog describing the stub's
// seccomp filter, which follows it in the code page (see buildStubELF).
var stubFprog uintptr

// Scratch layout in the data page, used by the recvmsg sequence. The
// sequence rebuilds the msghdr from registers on every call, so the
// application (which can write this page) can only make the stub's recvmsg
// write into memory the application could write anyway.
const (
	recvMsghdr = stubDataPage + 0   // struct msghdr, 56 bytes
	recvIovec  = stubDataPage + 64  // struct iovec, 16 bytes
	recvBuf    = stubDataPage + 128 // 8-byte data buffer
	recvCmsg   = stubDataPage + 192 // cmsghdr + one int: CMSG_SPACE(4) = 24
)

// buildStubCode returns the stub machine code and sets the entry point
// variables. The code (Intel syntax, offsets from the start of the code):
//
//	_start:                            ; exec's SIGTRAP stops us before this;
//	                                   ; start resumes the stub once, here
//	         mov r12d, 1               ; step number, for errors
//	         munmap(0, stubBase)       ; mov args; mov eax, nr; syscall
//	         test rax, rax
//	         js   fail
//	         (step 2) munmap(stubEnd, taskSize-stubEnd), same check
//	         (step 3) close_range(1, ~0U, 0), -ENOSYS tolerated
//	         (step 4) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
//	         (step 5) seccomp(SECCOMP_SET_MODE_FILTER, 0, stubFprog)
//	         mov r12d, 6
//	         rax, rdi.. = SYS_clone, cloneFlags, 0, 0, 0, 0
//	         jmp  clone                ; the spare thread; traps at the
//	                                   ; clone site's int3 with its tid
//	syscall: syscall                   ; injected syscalls land here
//	         int3
//	clone:   syscall                   ; injected clone(CLONE_THREAD...)
//	         test rax, rax
//	         jz   child
//	         int3                      ; parent: back to the tracer
//	child:   mov  eax, SYS_pause       ; new thread idles until seized
//	         syscall
//	         jmp  child
//	recv:    xor  ecx, ecx             ; rsi=msghdr r8=iovec r9=buf r10=cmsg
//	         mov  [rsi], rcx           ; msg_name = NULL
//	         mov  [rsi+8], rcx         ; msg_namelen = 0
//	         mov  [rsi+16], r8         ; msg_iov
//	         mov  qword [rsi+24], 1    ; msg_iovlen
//	         mov  [rsi+32], r10        ; msg_control
//	         mov  qword [rsi+40], 24   ; msg_controllen
//	         mov  [rsi+48], rcx        ; msg_flags
//	         mov  [r8], r9             ; iov_base
//	         mov  qword [r8+8], 8      ; iov_len
//	         mov  dword [r10+16], -1   ; CMSG_DATA = -1 until a fd arrives
//	         syscall                   ; recvmsg(rdi, rsi, rdx)
//	         test rax, rax
//	         js   done                 ; keep -errno
//	         movsxd rax, dword [r10+16]; rax = received fd (or -1)
//	done:    int3
//	fail:    int3                      ; a setup step failed: r12 = step,
//	                                   ; rax = -errno
//
// Returning the fd in rax means the tracer never has to read stub memory.
// The setup sequence's syscall instructions are not injection sites: once
// its last step has installed the seccomp filter, a system call there (a
// stray jump to _start) kills the stub.
func buildStubCode() []byte {
	var code []byte
	at := func() uintptr { return stubBase + stubCodeOff + uintptr(len(code)) }
	emit := func(b ...byte) { code = append(code, b...) }

	// Fixups of rel32 jumps from the setup sequence.
	var toFail []int
	var toClone int
	imm32 := func(v uint32) { emit(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	imm64 := func(v uint64) { imm32(uint32(v)); imm32(uint32(v >> 32)) }
	step := func(n uint32) { emit(0x41, 0xbc); imm32(n) } // mov r12d, n
	call := func(nr uint32, tolerateENOSYS bool) {
		emit(0xb8) // mov eax, nr
		imm32(nr)
		emit(0x0f, 0x05) // syscall
		if tolerateENOSYS {
			emit(0x48, 0x83, 0xf8, byte(0x100-int(unix.ENOSYS))) // cmp rax, -ENOSYS
			emit(0x74, 9)                                        // je over the check
		}
		emit(0x48, 0x85, 0xc0) // test rax, rax
		emit(0x0f, 0x88)       // js fail (rel32)
		toFail = append(toFail, len(code))
		imm32(0)
	}

	stubEntry = at()
	// munmap(0, stubBase)
	step(1)
	emit(0x31, 0xff) // xor edi, edi
	emit(0x48, 0xbe) // mov rsi, imm64
	imm64(stubBase)
	call(unix.SYS_MUNMAP, false)
	// munmap(stubEnd, taskSize-stubEnd)
	step(2)
	emit(0x48, 0xbf) // mov rdi, imm64
	imm64(stubEnd)
	emit(0x48, 0xbe) // mov rsi, imm64
	imm64(taskSize - stubEnd)
	call(unix.SYS_MUNMAP, false)
	// close_range(1, ~0U, 0)
	step(3)
	emit(0xbf) // mov edi, 1
	imm32(1)
	emit(0xbe) // mov esi, 0xffffffff
	imm32(^uint32(0))
	emit(0x31, 0xd2) // xor edx, edx
	call(unix.SYS_CLOSE_RANGE, true)
	// prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	step(4)
	emit(0xbf) // mov edi, PR_SET_NO_NEW_PRIVS
	imm32(unix.PR_SET_NO_NEW_PRIVS)
	emit(0xbe) // mov esi, 1
	imm32(1)
	emit(0x31, 0xd2)       // xor edx, edx
	emit(0x45, 0x31, 0xd2) // xor r10d, r10d
	emit(0x45, 0x31, 0xc0) // xor r8d, r8d
	call(unix.SYS_PRCTL, false)
	// seccomp(SECCOMP_SET_MODE_FILTER, 0, stubFprog)
	step(5)
	emit(0xbf) // mov edi, SECCOMP_SET_MODE_FILTER
	imm32(unix.SECCOMP_SET_MODE_FILTER)
	emit(0x31, 0xf6) // xor esi, esi
	emit(0x48, 0xba) // mov rdx, imm64
	stubSetupFprogAt = len(code)
	imm64(0) // stubFprog, patched in by buildStubELF
	call(unix.SYS_SECCOMP, false)
	// The spare thread: clone(cloneFlags, 0, 0, 0, 0) at the clone site.
	step(6)
	emit(0xb8) // mov eax, SYS_CLONE
	imm32(unix.SYS_CLONE)
	emit(0xbf) // mov edi, cloneFlags
	imm32(cloneFlags)
	emit(0x31, 0xf6)       // xor esi, esi
	emit(0x31, 0xd2)       // xor edx, edx
	emit(0x45, 0x31, 0xd2) // xor r10d, r10d
	emit(0x45, 0x31, 0xc0) // xor r8d, r8d
	emit(0xe9)             // jmp clone (rel32)
	toClone = len(code)
	imm32(0)

	stubSyscall = at()
	emit(0x0f, 0x05) // syscall
	stubSyscallRet = at()
	emit(0xcc) // int3
	stubSyscallOK = at()

	stubClone = at()
	emit(0x0f, 0x05) // syscall
	stubCloneRet = at()
	emit(0x48, 0x85, 0xc0) // test rax, rax
	emit(0x74, 0x01)       // jz +1 (over the int3)
	emit(0xcc)             // int3
	stubCloneOK = at()
	emit(0xb8, byte(unix.SYS_PAUSE), 0, 0, 0) // mov eax, SYS_pause
	emit(0x0f, 0x05)                          // syscall
	stubPauseRet = at()
	emit(0xeb, 0xf7) // jmp -9 (back to mov)

	stubRecv = at()
	emit(0x31, 0xc9)                                     // xor ecx, ecx
	emit(0x48, 0x89, 0x0e)                               // mov [rsi], rcx
	emit(0x48, 0x89, 0x4e, 0x08)                         // mov [rsi+8], rcx
	emit(0x4c, 0x89, 0x46, 0x10)                         // mov [rsi+16], r8
	emit(0x48, 0xc7, 0x46, 0x18, 0x01, 0x00, 0x00, 0x00) // mov qword [rsi+24], 1
	emit(0x4c, 0x89, 0x56, 0x20)                         // mov [rsi+32], r10
	emit(0x48, 0xc7, 0x46, 0x28, 0x18, 0x00, 0x00, 0x00) // mov qword [rsi+40], 24
	emit(0x48, 0x89, 0x4e, 0x30)                         // mov [rsi+48], rcx
	emit(0x4d, 0x89, 0x08)                               // mov [r8], r9
	emit(0x49, 0xc7, 0x40, 0x08, 0x08, 0x00, 0x00, 0x00) // mov qword [r8+8], 8
	emit(0x41, 0xc7, 0x42, 0x10, 0xff, 0xff, 0xff, 0xff) // mov dword [r10+16], -1
	emit(0x0f, 0x05)                                     // syscall
	stubRecvRet = at()
	emit(0x48, 0x85, 0xc0)       // test rax, rax
	emit(0x78, 0x04)             // js +4
	emit(0x49, 0x63, 0x42, 0x10) // movsxd rax, dword [r10+16]
	emit(0xcc)                   // int3
	stubRecvOK = at()

	stubSetupFail = at()
	emit(0xcc) // int3
	stubSetupFailOK = at()

	le := binary.LittleEndian
	for _, at := range toFail {
		le.PutUint32(code[at:], uint32(int32(int(stubSetupFail-stubBase-stubCodeOff)-(at+4))))
	}
	le.PutUint32(code[toClone:], uint32(int32(int(stubClone-stubBase-stubCodeOff)-(toClone+4))))
	return code
}

// stubImage is the stub executable, built once at package initialisation.
var stubImage []byte

func init() { stubImage = buildStubELF() }

// buildStubELF returns a minimal static ELF64 executable: an ELF header, two
// PT_LOAD program headers (code page R+X backed by the file, data page R+W
// as bss), the stub code, and then the stub's seccomp filter: a struct
// sock_fprog at stubFprog followed by the BPF instructions it points to.
// The filter lives in the read-only code page so that nothing but the
// Sentry's own image can ever be installed. No section headers are needed
// to exec it.
func buildStubELF() []byte {
	code := buildStubCode()
	filter := buildStubFilter()
	const (
		ehdrSize  = 64
		phdrSize  = 56
		phnum     = 2
		fprogSize = 16 // struct sock_fprog: u16 len, padding, u64 filter
		insnSize  = 8  // struct sock_filter
	)
	fprogOff := (stubCodeOff + len(code) + 7) &^ 7
	filterOff := fprogOff + fprogSize
	size := filterOff + insnSize*len(filter)
	if ehdrSize+phnum*phdrSize > stubCodeOff || size > pageSize || len(filter) > 0xffff {
		panic("ptrace: stub layout overflow")
	}
	stubFprog = stubCodePage + uintptr(fprogOff)
	img := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint64(code[stubSetupFprogAt:], uint64(stubFprog))

	// ELF header.
	copy(img, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le.PutUint16(img[16:], 2)  // e_type = ET_EXEC
	le.PutUint16(img[18:], 62) // e_machine = EM_X86_64
	le.PutUint32(img[20:], 1)  // e_version
	le.PutUint64(img[24:], uint64(stubEntry))
	le.PutUint64(img[32:], ehdrSize) // e_phoff
	le.PutUint64(img[40:], 0)        // e_shoff
	le.PutUint32(img[48:], 0)        // e_flags
	le.PutUint16(img[52:], ehdrSize)
	le.PutUint16(img[54:], phdrSize)
	le.PutUint16(img[56:], phnum)

	phdr := func(i int, flags uint32, off, vaddr, filesz, memsz uint64) {
		p := img[ehdrSize+i*phdrSize:]
		le.PutUint32(p[0:], 1) // PT_LOAD
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], vaddr) // p_paddr
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], pageSize) // p_align
	}
	const pfX, pfW, pfR = 1, 2, 4
	phdr(0, pfR|pfX, 0, stubCodePage, uint64(len(img)), uint64(len(img)))
	phdr(1, pfR|pfW, 0, stubDataPage, 0, pageSize)

	copy(img[stubCodeOff:], code)

	le.PutUint16(img[fprogOff:], uint16(len(filter)))
	le.PutUint64(img[fprogOff+8:], uint64(stubCodePage+filterOff))
	for i, f := range filter {
		b := img[filterOff+i*insnSize:]
		le.PutUint16(b[0:], f.Code)
		b[2], b[3] = f.Jt, f.Jf
		le.PutUint32(b[4:], f.K)
	}
	return img
}

// writeStubFile puts the stub executable in a memfd and returns a read-only,
// close-on-exec descriptor for it (fd >= 3, so that remapping the child's
// stdin to the stub socket cannot clobber it). The writable descriptor is
// closed because execve refuses files open for writing (ETXTBSY).
func writeStubFile() (int, error) {
	img := stubImage
	wfd, err := unix.MemfdCreate("veil-ptrace-stub", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(wfd)
	if n, err := unix.Pwrite(wfd, img, 0); err != nil || n != len(img) {
		return -1, fmt.Errorf("writing stub: %d, %v", n, err)
	}
	rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", wfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("reopening stub memfd: %w", err)
	}
	if rfd < 3 {
		nfd, err := unix.FcntlInt(uintptr(rfd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(rfd)
		if err != nil {
			return -1, fmt.Errorf("dup stub fd: %w", err)
		}
		rfd = nfd
	}
	return rfd, nil
}
