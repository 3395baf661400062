package arch

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file builds and consumes the amd64 rt_sigframe exactly as Linux's
// arch/x86/kernel/signal{,_64}.c and arch/x86/kernel/fpu/signal.c do:
//
//	struct rt_sigframe {            // at the handler's rsp (rsp+8 is 16-aligned)
//		char *pretcode;         //   0: sa_restorer, the handler's return address
//		struct ucontext uc;     //   8: 304 bytes
//		struct siginfo info;    // 312: 128 bytes
//	};                              // 440 bytes, then padding, then
//	                                // the xsave image (64-byte aligned) + FP_XSTATE_MAGIC2
//
//	struct ucontext {
//		unsigned long uc_flags;          //   0
//		struct ucontext *uc_link;        //   8
//		stack_t uc_stack;                //  16
//		struct sigcontext uc_mcontext;   //  40 (256 bytes)
//		sigset_t uc_sigmask;             // 296 (8 bytes)
//	};

// Sizes of the signal frame structures.
const (
	SizeofSigContext = 256
	SizeofUContext   = 304
	SizeofRtSigframe = 440
)

// Offsets inside struct ucontext.
const (
	UContextFlags    = 0
	UContextLink     = 8
	UContextStack    = 16
	UContextMcontext = 40
	UContextSigmask  = 296
)

// Offsets inside struct rt_sigframe.
const (
	RtSigframePretcode = 0
	RtSigframeUContext = 8
	RtSigframeInfo     = RtSigframeUContext + SizeofUContext // 312
)

// Offsets inside struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h,
// struct sigcontext_64). glibc's gregs[REG_x] is at 8*REG_x.
const (
	scR8      = 0
	scR9      = 8
	scR10     = 16
	scR11     = 24
	scR12     = 32
	scR13     = 40
	scR14     = 48
	scR15     = 56
	scRDI     = 64
	scRSI     = 72
	scRBP     = 80
	scRBX     = 88
	scRDX     = 96
	scRAX     = 104
	scRCX     = 112
	scRSP     = 120
	scRIP     = 128
	scEFLAGS  = 136
	scCS      = 144 // u16
	scGS      = 146 // u16
	scFS      = 148 // u16
	scSS      = 150 // u16
	scErr     = 152
	scTrapno  = 160
	scOldmask = 168
	scCR2     = 176
	scFpstate = 184
	// 192..255: __u64 reserved1[8]
)

// ucontext uc_flags bits (arch/x86/include/uapi/asm/ucontext.h).
const (
	UC_FP_XSTATE         = 0x1
	UC_SIGCONTEXT_SS     = 0x2
	UC_STRICT_RESTORE_SS = 0x4
)

// FP signal frame constants (arch/x86/include/uapi/asm/sigcontext.h).
const (
	FP_XSTATE_MAGIC1      = 0x46505853
	FP_XSTATE_MAGIC2      = 0x46505845
	FP_XSTATE_MAGIC2_SIZE = 4

	fxsaveSize     = 512 // legacy fxsave region
	xsaveHdrSize   = 64  // xsave header following it
	xsaveMinSize   = fxsaveSize + xsaveHdrSize
	fxSwBytes      = 464 // struct _fpx_sw_bytes inside the legacy region
	fxSwBytesSize  = 48
	fxMXCSR        = 24
	fxMXCSRMask    = 28
	xsaveXstateBV  = 512
	xsaveXcompBV   = 520
	xfeatureMaskFP = 0x1
	xfeatureMaskSE = 0x2
	// mxcsrReserved are the MXCSR bits no CPU implements (the real
	// mxcsr_feature_mask may also lack DAZ, bit 6, on very old CPUs).
	mxcsrReserved = 0xffff0000
	fcwDefault    = 0x037f
	mxcsrDefault  = 0x1f80
)

// EFLAGS bits.
const (
	eflagsCF = 1 << 0
	eflagsPF = 1 << 2
	eflagsAF = 1 << 4
	eflagsZF = 1 << 6
	eflagsSF = 1 << 7
	eflagsTF = 1 << 8
	eflagsDF = 1 << 10
	eflagsOF = 1 << 11
	eflagsRF = 1 << 16
	eflagsAC = 1 << 18

	// fixEflags are the flags rt_sigreturn takes from the frame (Linux's
	// FIX_EFLAGS); all others keep their current value.
	fixEflags = eflagsAC | eflagsOF | eflagsDF | eflagsTF | eflagsSF |
		eflagsZF | eflagsAF | eflagsPF | eflagsCF | eflagsRF
)

// redZoneSize is the amd64 ABI red zone below rsp that a signal frame built
// on the current stack must not overwrite.
const redZoneSize = 128

// Errors of SetupSignalFrame and SignalReturn. The caller turns any of them
// into a forced SIGSEGV (Linux's force_sigsegv / signal_fault).
var (
	// ErrNoRestorer: the handler was installed without SA_RESTORER, which
	// amd64 requires (Linux fails the delivery with -EFAULT).
	ErrNoRestorer = errors.New("arch: signal handler installed without SA_RESTORER")
	// ErrSignalStackOverflow: the frame does not fit on the alternate
	// signal stack it has to go on.
	ErrSignalStackOverflow = errors.New("arch: signal frame overflows the alternate signal stack")
	// ErrFrameFault: application memory holding the frame is inaccessible.
	ErrFrameFault = errors.New("arch: signal frame memory fault")
	// ErrBadFrame: rt_sigreturn found an FP state that Linux's
	// XRSTOR/FXRSTOR would reject.
	ErrBadFrame = errors.New("arch: invalid signal frame")
	// ErrBadFPState: the FPState handed to SetupSignalFrame is not an
	// fxsave/xsave image (shorter than 512 bytes, or an xsave image without
	// its header).
	ErrBadFPState = errors.New("arch: malformed FP state")
)

// SignalFault is the fault description Linux stores in the sigcontext
// (current->thread.cr2, trap_nr and error_code): for a page fault Addr is the
// faulting address, Trapno 14 and Err the page-fault error code (bit 1 set
// for a write).
type SignalFault struct {
	Addr   uint64 // sigcontext.cr2 (gregs[REG_CR2])
	Trapno uint64 // sigcontext.trapno (gregs[REG_TRAPNO])
	Err    uint64 // sigcontext.err (gregs[REG_ERR])
}

// SignalFrameAddrs are the addresses SetupSignalFrame placed things at.
type SignalFrameAddrs struct {
	Frame    uint64 // the rt_sigframe, the handler's rsp
	UContext uint64 // Frame + 8, the handler's rdx
	Info     uint64 // Frame + 312, the handler's rsi
	FPState  uint64 // the xsave image (sigcontext.fpstate); 0 if fp is empty
}

// SetupSignalFrame builds an rt_sigframe for delivering info through act and
// points regs at the handler. See SetupSignalFrameFault, which it calls with
// only the fault address (sigcontext.cr2) known.
func SetupSignalFrame(mem Memory, regs *Registers, fp FPState, info *SignalInfo, act *SignalAct, mask uint64, alt SignalStack, faultAddr uint64) error {
	_, err := SetupSignalFrameFault(mem, regs, fp, info, act, mask, alt, SignalFault{Addr: faultAddr})
	return err
}

// SetupSignalFrameFault builds an rt_sigframe as Linux's x64_setup_rt_frame
// does and, if that succeeds, sets regs up to enter the handler.
//
//   - regs is the interrupted state (any syscall restart fix-up already
//     applied); fp is its xsave image as PTRACE_GETREGSET(NT_X86_XSTATE)
//     returns it (or a bare 512-byte fxsave image, or empty for none).
//   - mask is the signal mask to restore on sigreturn (uc_sigmask, and its
//     value is also sigcontext.oldmask).
//   - alt is the thread's sigaltstack setting; see SignalStack. The frame
//     goes to alt's top if act has SA_ONSTACK, alt is enabled and the thread
//     is not already on it (on_sig_stack, so an SS_AUTODISARM stack counts as
//     never in use). Otherwise it goes below rsp's 128-byte red zone.
//
// The frame's fp image gets the _fpx_sw_bytes Linux writes (magic1,
// extended_size, xfeatures, xstate_size), XSTATE_BV |= FP|SSE, and
// FP_XSTATE_MAGIC2 just after the image. uc_stack is alt as given (Linux
// saves current->sas_ss_* verbatim). siginfo is always written, even without
// SA_SIGINFO.
//
// On success the handler's registers are: rip = act.Handler, rsp = frame
// (so (rsp+8)%16 == 0, like after a call), rdi = signo, rsi = &info,
// rdx = &uc, rax = 0, DF, RF and TF cleared, cs/ss the 64-bit user
// selectors. On error regs is unchanged and the caller forces SIGSEGV.
//
// The caller then, like Linux's signal_setup_done, (1) resets the thread's
// FP state to InitFPState (fpu__clear_user_states), (2) blocks act.Mask and,
// without SA_NODEFER, the signal itself, (3) disarms the alternate stack
// (Size 0, SS_DISABLE) if alt.Flags has SS_AUTODISARM, and (4) resets the
// action to SIG_DFL if SA_RESETHAND.
func SetupSignalFrameFault(mem Memory, regs *Registers, fp FPState, info *SignalInfo, act *SignalAct, mask uint64, alt SignalStack, fault SignalFault) (SignalFrameAddrs, error) {
	if act.Flags&SA_RESTORER == 0 {
		return SignalFrameAddrs{}, ErrNoRestorer
	}
	xsave := len(fp) > fxsaveSize
	if (len(fp) != 0 && len(fp) < fxsaveSize) || (xsave && len(fp) < xsaveMinSize) {
		return SignalFrameAddrs{}, fmt.Errorf("%w: %d bytes", ErrBadFPState, len(fp))
	}

	// get_sigframe.
	sp := regs.Rsp
	nested := alt.OnStack(sp)
	sp -= redZoneSize
	entering := false
	if act.Flags&SA_ONSTACK != 0 && alt.mode(sp) == 0 {
		sp = alt.Sp + alt.Size
		entering = true
	}
	var mathSize uint64 // fpu__alloc_mathframe
	if len(fp) > 0 {
		mathSize = uint64(len(fp))
		if xsave {
			mathSize += FP_XSTATE_MAGIC2_SIZE
		}
		sp = (sp - mathSize) &^ 63
	}
	fpAddr := sp
	frame := (sp-SizeofRtSigframe)&^15 - 8 // align_sigframe
	if (nested || entering) && !alt.Contains(frame) {
		return SignalFrameAddrs{}, ErrSignalStackOverflow
	}
	addrs := SignalFrameAddrs{
		Frame:    frame,
		UContext: frame + RtSigframeUContext,
		Info:     frame + RtSigframeInfo,
	}

	// The frame, the alignment padding and the fp image are contiguous;
	// build them in one buffer. fpOff is at most 440+15+8.
	fpOff := fpAddr - frame
	size := fpOff + mathSize
	if len(fp) == 0 {
		size = SizeofRtSigframe
	} else {
		addrs.FPState = fpAddr
	}
	if frame+size < frame {
		return SignalFrameAddrs{}, ErrFrameFault
	}
	buf := make([]byte, size)

	put64(buf, RtSigframePretcode, act.Restorer)

	uc := buf[RtSigframeUContext : RtSigframeUContext+SizeofUContext]
	ucFlags := uint64(UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS)
	if xsave {
		ucFlags |= UC_FP_XSTATE
	}
	put64(uc, UContextFlags, ucFlags)
	put64(uc, UContextLink, 0)
	alt.marshalTo(uc[UContextStack:])
	putSigContext(uc[UContextMcontext:UContextMcontext+SizeofSigContext], regs, mask, fault, addrs.FPState)
	put64(uc, UContextSigmask, mask)

	info.marshalTo(buf[RtSigframeInfo : RtSigframeInfo+SizeofSignalInfo])

	if len(fp) > 0 {
		img := buf[fpOff : fpOff+uint64(len(fp))]
		copy(img, fp)
		features := uint64(xfeatureMaskFP | xfeatureMaskSE)
		if xsave {
			features = fpUserFeatures(fp)
		}
		// save_sw_bytes: written with FXSR even without XSAVE.
		clear(img[fxSwBytes : fxSwBytes+fxSwBytesSize])
		put32(img, fxSwBytes+0, FP_XSTATE_MAGIC1)
		put32(img, fxSwBytes+4, uint32(len(fp))+FP_XSTATE_MAGIC2_SIZE)
		put64(img, fxSwBytes+8, features)
		put32(img, fxSwBytes+16, uint32(len(fp)))
		if xsave {
			// save_xstate_epilog: FP/SSE always marked present so that
			// legacy handlers editing only the fxsave region are honoured
			// on sigreturn.
			put64(img, xsaveXstateBV, get64(img, xsaveXstateBV)|xfeatureMaskFP|xfeatureMaskSE)
			put32(buf, fpOff+uint64(len(fp)), FP_XSTATE_MAGIC2)
		}
	}

	if err := copyOut(mem, frame, buf); err != nil {
		return SignalFrameAddrs{}, err
	}

	regs.Rip = act.Handler
	regs.Rsp = frame
	regs.Rdi = uint64(info.Signo)
	regs.Rsi = addrs.Info
	regs.Rdx = addrs.UContext
	regs.Rax = 0 // in case the handler was declared without prototype (varargs ABI)
	regs.Eflags &^= eflagsDF | eflagsRF | eflagsTF
	regs.Cs = UserCS
	regs.Ss = UserSS
	return addrs, nil
}

// putSigContext fills struct sigcontext as Linux's __unsafe_setup_sigcontext:
// fs and gs are reported as 0 for 64-bit tasks.
func putSigContext(sc []byte, regs *Registers, mask uint64, fault SignalFault, fpAddr uint64) {
	put64(sc, scR8, regs.R8)
	put64(sc, scR9, regs.R9)
	put64(sc, scR10, regs.R10)
	put64(sc, scR11, regs.R11)
	put64(sc, scR12, regs.R12)
	put64(sc, scR13, regs.R13)
	put64(sc, scR14, regs.R14)
	put64(sc, scR15, regs.R15)
	put64(sc, scRDI, regs.Rdi)
	put64(sc, scRSI, regs.Rsi)
	put64(sc, scRBP, regs.Rbp)
	put64(sc, scRBX, regs.Rbx)
	put64(sc, scRDX, regs.Rdx)
	put64(sc, scRAX, regs.Rax)
	put64(sc, scRCX, regs.Rcx)
	put64(sc, scRSP, regs.Rsp)
	put64(sc, scRIP, regs.Rip)
	put64(sc, scEFLAGS, regs.Eflags)
	binary.LittleEndian.PutUint16(sc[scCS:], uint16(regs.Cs))
	binary.LittleEndian.PutUint16(sc[scGS:], 0)
	binary.LittleEndian.PutUint16(sc[scFS:], 0)
	binary.LittleEndian.PutUint16(sc[scSS:], uint16(regs.Ss))
	put64(sc, scErr, fault.Err)
	put64(sc, scTrapno, fault.Trapno)
	put64(sc, scOldmask, mask)
	put64(sc, scCR2, fault.Addr)
	put64(sc, scFpstate, fpAddr)
}

// fpUserFeatures returns the xfeatures to report in the frame's
// _fpx_sw_bytes (Linux reports the task's user_xfeatures, i.e. the XCR0 user
// features). fp carries it in one of two forms at offset 464: the ptrace
// format (PTRACE_GETREGSET stores XCR0 in the first 8 software-reserved
// bytes) or, for an image taken from a signal frame, _fpx_sw_bytes. Without
// either, the components present in XSTATE_BV (plus FP/SSE) are reported,
// which is all a later sigreturn needs to restore the same state.
func fpUserFeatures(fp FPState) uint64 {
	const fpsse = xfeatureMaskFP | xfeatureMaskSE
	if get32(fp, fxSwBytes) == FP_XSTATE_MAGIC1 {
		if f := get64(fp, fxSwBytes+8); f&fpsse == fpsse {
			return f
		}
	} else if xcr0 := get64(fp, fxSwBytes); xcr0&fpsse == fpsse {
		return xcr0
	}
	return get64(fp, xsaveXstateBV) | fpsse
}

// SignalReturn implements rt_sigreturn (Linux's SYSCALL rt_sigreturn and
// restore_sigcontext). regs is the state at the restorer's
// "mov $15,%eax; syscall": the handler's ret has popped pretcode, so
// regs.Rsp = frame+8 = &uc.
//
// On success regs holds the interrupted registers from uc_mcontext: all
// GPRs, rsp and rip verbatim; cs/ss forced to UserCS/UserSS; eflags takes
// only the FIX_EFLAGS bits (AC OF DF TF SF ZF AF PF CF RF) from the frame;
// fs/gs/ds/es and fs_base/gs_base unchanged; and Orig_rax = ^0 (as Linux
// sets orig_ax = -1) so no syscall-restart logic applies to the restored
// rax. The caller must leave rax alone: rt_sigreturn "returns" the restored
// rax.
//
// It returns the signal mask to install (uc_sigmask, SIGKILL and SIGSTOP
// removed), the FP state to load (fpSize bytes in PTRACE_SETREGSET format,
// or nil when sigcontext.fpstate is 0, meaning "reset to InitFPState"; fpSize
// is the thread's xsave size, 512 on a CPU without XSAVE, 0 for no FP) and
// uc_stack, which the caller applies like sigaltstack(&alt, NULL) evaluated
// at the restored rsp, ignoring its errors (Linux's restore_altstack).
//
// The fp image is validated as Linux's check_xstate_in_sigframe: when the
// software bytes or FP_XSTATE_MAGIC2 are wrong only the legacy fxsave region
// is taken (other components reset). The software-reserved bytes 464..511 of
// the result are zeroed (ptrace ignores them on SETREGSET).
//
// On error (ErrFrameFault, ErrBadFrame) regs is unchanged and the caller
// forces SIGSEGV.
func SignalReturn(mem Memory, regs *Registers, fpSize int) (mask uint64, fp FPState, alt SignalStack, err error) {
	var uc [SizeofUContext]byte
	if err := copyIn(mem, regs.Rsp, uc[:]); err != nil {
		return 0, nil, SignalStack{}, err
	}
	sc := uc[UContextMcontext : UContextMcontext+SizeofSigContext]
	fp, err = readSigFPState(mem, get64(sc, scFpstate), fpSize)
	if err != nil {
		return 0, nil, SignalStack{}, err
	}
	alt.Unmarshal(uc[UContextStack:])

	mask = get64(uc[:], UContextSigmask)
	mask &^= 1<<(9-1) | 1<<(19-1) // SIGKILL, SIGSTOP

	r := *regs
	r.R8 = get64(sc, scR8)
	r.R9 = get64(sc, scR9)
	r.R10 = get64(sc, scR10)
	r.R11 = get64(sc, scR11)
	r.R12 = get64(sc, scR12)
	r.R13 = get64(sc, scR13)
	r.R14 = get64(sc, scR14)
	r.R15 = get64(sc, scR15)
	r.Rdi = get64(sc, scRDI)
	r.Rsi = get64(sc, scRSI)
	r.Rbp = get64(sc, scRBP)
	r.Rbx = get64(sc, scRBX)
	r.Rdx = get64(sc, scRDX)
	r.Rax = get64(sc, scRAX)
	r.Rcx = get64(sc, scRCX)
	r.Rsp = get64(sc, scRSP)
	r.Rip = get64(sc, scRIP)
	r.Eflags = regs.Eflags&^fixEflags | get64(sc, scEFLAGS)&fixEflags
	r.Cs = UserCS
	r.Ss = UserSS
	r.Orig_rax = ^uint64(0)
	*regs = r
	return mask, fp, alt, nil
}

// readSigFPState reads the FP image a sigcontext points at and converts it to
// an fpSize-byte PTRACE_SETREGSET image, following Linux's __fpu_restore_sig
// for 64-bit frames.
func readSigFPState(mem Memory, addr uint64, fpSize int) (FPState, error) {
	if addr == 0 || fpSize <= 0 {
		return nil, nil
	}
	if fpSize < fxsaveSize {
		return nil, fmt.Errorf("%w: fpSize %d", ErrBadFPState, fpSize)
	}
	out := make(FPState, fpSize)
	legacy := out[:fxsaveSize]
	if err := copyIn(mem, addr, legacy); err != nil {
		return nil, err
	}

	xsave := false
	if fpSize >= xsaveMinSize {
		// check_xstate_in_sigframe.
		magic1 := get32(legacy, fxSwBytes)
		extSize := uint64(get32(legacy, fxSwBytes+4))
		features := get64(legacy, fxSwBytes+8)
		xsize := uint64(get32(legacy, fxSwBytes+16))
		if magic1 == FP_XSTATE_MAGIC1 && xsize >= xsaveMinSize &&
			xsize <= uint64(fpSize) && xsize <= extSize {
			var m2 [4]byte
			if err := copyIn(mem, addr+xsize, m2[:]); err != nil {
				return nil, err
			}
			if get32(m2[:], 0) == FP_XSTATE_MAGIC2 {
				xsave = true
				// XRSTOR faults on a misaligned image.
				if addr%64 != 0 {
					return nil, fmt.Errorf("%w: xsave image at %#x not 64-byte aligned", ErrBadFrame, addr)
				}
				if err := copyIn(mem, addr+fxsaveSize, out[fxsaveSize:xsize]); err != nil {
					return nil, err
				}
				// XRSTOR raises #GP on a compacted or reserved header.
				if get64(out, xsaveXcompBV) != 0 {
					return nil, fmt.Errorf("%w: XCOMP_BV set", ErrBadFrame)
				}
				for _, b := range out[xsaveXcompBV+8 : xsaveMinSize] {
					if b != 0 {
						return nil, fmt.Errorf("%w: reserved xsave header bytes set", ErrBadFrame)
					}
				}
				// Components outside the frame's xfeatures are reset to
				// their init state, as are those clear in XSTATE_BV.
				put64(out, xsaveXstateBV, get64(out, xsaveXstateBV)&features)
			}
		}
	}
	if !xsave {
		// fx_only: FXRSTOR of the legacy region; every other component
		// goes to its init state.
		if addr%16 != 0 {
			return nil, fmt.Errorf("%w: fxsave image at %#x not 16-byte aligned", ErrBadFrame, addr)
		}
		if fpSize >= xsaveMinSize {
			put64(out, xsaveXstateBV, xfeatureMaskFP|xfeatureMaskSE)
		}
	}
	if get32(out, fxMXCSR)&mxcsrReserved != 0 {
		return nil, fmt.Errorf("%w: reserved MXCSR bits set", ErrBadFrame)
	}
	clear(out[fxSwBytes : fxSwBytes+fxSwBytesSize])
	return out, nil
}

// InitFPState returns the FP state a signal handler starts with (Linux's
// fpu__clear_user_states): x87 and SSE in their reset state (FCW 0x37f,
// MXCSR 0x1f80, registers zero, all tags empty) and, for an xsave image,
// XSTATE_BV = FP|SSE so that every other component is in its init state.
// The result has like's size, and keeps its mxcsr_mask and the software
// reserved bytes (the ptrace XCR0 word). nil for an empty like.
func InitFPState(like FPState) FPState {
	if len(like) < fxsaveSize {
		return nil
	}
	fp := make(FPState, len(like))
	binary.LittleEndian.PutUint16(fp[0:], fcwDefault)
	put32(fp, fxMXCSR, mxcsrDefault)
	copy(fp[fxMXCSRMask:fxMXCSRMask+4], like[fxMXCSRMask:])
	copy(fp[fxSwBytes:fxSwBytes+fxSwBytesSize], like[fxSwBytes:])
	if len(fp) >= xsaveMinSize {
		put64(fp, xsaveXstateBV, xfeatureMaskFP|xfeatureMaskSE)
	}
	return fp
}

func copyIn(mem Memory, addr uint64, dst []byte) error {
	n, err := mem.CopyIn(uintptr(addr), dst)
	if err != nil {
		return fmt.Errorf("%w: reading %d bytes at %#x: %w", ErrFrameFault, len(dst), addr, err)
	}
	if n != len(dst) {
		return fmt.Errorf("%w: read %d of %d bytes at %#x", ErrFrameFault, n, len(dst), addr)
	}
	return nil
}

func copyOut(mem Memory, addr uint64, src []byte) error {
	n, err := mem.CopyOut(uintptr(addr), src)
	if err != nil {
		return fmt.Errorf("%w: writing %d bytes at %#x: %w", ErrFrameFault, len(src), addr, err)
	}
	if n != len(src) {
		return fmt.Errorf("%w: wrote %d of %d bytes at %#x", ErrFrameFault, n, len(src), addr)
	}
	return nil
}

func get32[O ~int | ~uint64](b []byte, off O) uint32 {
	return binary.LittleEndian.Uint32(b[off:])
}

func get64[O ~int | ~uint64](b []byte, off O) uint64 {
	return binary.LittleEndian.Uint64(b[off:])
}

func put32[O ~int | ~uint64](b []byte, off O, v uint32) {
	binary.LittleEndian.PutUint32(b[off:], v)
}

func put64[O ~int | ~uint64](b []byte, off O, v uint64) {
	binary.LittleEndian.PutUint64(b[off:], v)
}
