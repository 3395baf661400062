package arch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"unsafe"
)

// fakeMem is application memory: data mapped at [base, base+len(data)).
type fakeMem struct {
	base uint64
	data []byte
}

var errFakeFault = errors.New("fake fault")

func newFakeMem(base uint64, size int, fill byte) *fakeMem {
	m := &fakeMem{base: base, data: make([]byte, size)}
	for i := range m.data {
		m.data[i] = fill
	}
	return m
}

func (m *fakeMem) slice(addr uintptr, n int) ([]byte, bool) {
	a := uint64(addr)
	if a < m.base || a-m.base > uint64(len(m.data)) || uint64(n) > uint64(len(m.data))-(a-m.base) {
		return nil, false
	}
	return m.data[a-m.base : a-m.base+uint64(n)], true
}

func (m *fakeMem) CopyIn(addr uintptr, dst []byte) (int, error) {
	s, ok := m.slice(addr, len(dst))
	if !ok {
		return 0, errFakeFault
	}
	return copy(dst, s), nil
}

func (m *fakeMem) CopyOut(addr uintptr, src []byte) (int, error) {
	s, ok := m.slice(addr, len(src))
	if !ok {
		return 0, errFakeFault
	}
	return copy(s, src), nil
}

func (m *fakeMem) at(addr uint64, n int) []byte {
	s, ok := m.slice(uintptr(addr), n)
	if !ok {
		panic(fmt.Sprintf("fakeMem: %#x+%d out of range", addr, n))
	}
	return s
}

func (m *fakeMem) u64(addr uint64) uint64 { return binary.LittleEndian.Uint64(m.at(addr, 8)) }
func (m *fakeMem) u32(addr uint64) uint32 { return binary.LittleEndian.Uint32(m.at(addr, 4)) }

const (
	testBase    = 0x7f0000000000
	testMemSize = 1 << 20
	testStack   = testBase + 0x80000 + 0x38 // deliberately misaligned
	testHandler = 0x401000
	testRestore = 0x402000
	testXCR0    = 0x7 // x87 | SSE | AVX
)

// testFP returns an xsave image of size n as PTRACE_GETREGSET would return
// it, filled with a recognisable pattern.
func testFP(n int) FPState {
	if n == 0 {
		return nil
	}
	fp := make(FPState, n)
	for i := range fp {
		fp[i] = byte(i*7 + 3)
	}
	binary.LittleEndian.PutUint16(fp[0:], fcwDefault)
	binary.LittleEndian.PutUint32(fp[fxMXCSR:], mxcsrDefault|0x3f) // some sticky exception flags
	binary.LittleEndian.PutUint32(fp[fxMXCSRMask:], 0xffff)
	clear(fp[fxSwBytes : fxSwBytes+fxSwBytesSize])
	if n > fxsaveSize {
		binary.LittleEndian.PutUint64(fp[fxSwBytes:], testXCR0) // ptrace's XCR0 word
		binary.LittleEndian.PutUint64(fp[xsaveXstateBV:], 0x4)  // only AVX marked in use
		clear(fp[xsaveXcompBV:xsaveMinSize])
	}
	return fp
}

func testRegs() Registers {
	return Registers{
		R15: 0x1515, R14: 0x1414, R13: 0x1313, R12: 0x1212,
		Rbp: 0xbbbb, Rbx: 0xb0b0, R11: 0x1111, R10: 0x1010,
		R9: 0x0909, R8: 0x0808, Rax: 0xaaaa, Rcx: 0xcccc,
		Rdx: 0xdddd, Rsi: 0x5151, Rdi: 0xd1d1, Orig_rax: 39,
		Rip: 0x400123, Cs: UserCS, Eflags: 0x202 | eflagsCF | eflagsDF | eflagsTF | eflagsZF,
		Rsp: testStack, Ss: UserSS, Fs_base: 0x7f00deadb000, Gs_base: 0x1234,
		Ds: 0, Es: 0, Fs: 0, Gs: 0,
	}
}

func testInfo() *SignalInfo {
	info := &SignalInfo{Signo: 11, Errno: 0, Code: 1}
	info.SetAddr(0xdeadbeef)
	return info
}

func testAct(flags uint64) *SignalAct {
	return &SignalAct{Handler: testHandler, Flags: flags | SA_SIGINFO | SA_RESTORER, Restorer: testRestore, Mask: 1 << 1}
}

func TestStructSizes(t *testing.T) {
	var info SignalInfo
	var act SignalAct
	var st SignalStack
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"siginfo Marshal", len(info.Marshal()), 128},
		{"siginfo Sizeof", int(unsafe.Sizeof(info)), 128},
		{"sigaction Marshal", len(act.Marshal()), 32},
		{"stack_t Marshal", len(st.Marshal()), 24},
		{"SizeofSignalInfo", SizeofSignalInfo, 128},
		{"SizeofSignalAct", SizeofSignalAct, 32},
		{"SizeofSignalStack", SizeofSignalStack, 24},
		{"SizeofSigContext", SizeofSigContext, 256},
		{"SizeofUContext", SizeofUContext, 304},
		{"SizeofRtSigframe", SizeofRtSigframe, 440},
		{"sigcontext end", scFpstate + 8 + 8*8, SizeofSigContext},
		{"uc_flags", UContextFlags, 0},
		{"uc_link", UContextLink, 8},
		{"uc_stack", UContextStack, 16},
		{"uc_mcontext", UContextMcontext, 40},
		{"uc_sigmask", UContextSigmask, 296},
		{"ucontext end", UContextSigmask + 8, SizeofUContext},
		{"rt_sigframe.uc", RtSigframeUContext, 8},
		{"rt_sigframe.info", RtSigframeInfo, 312},
		{"rt_sigframe end", RtSigframeInfo + SizeofSignalInfo, SizeofRtSigframe},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestSignalInfoLayout(t *testing.T) {
	le := binary.LittleEndian
	var s SignalInfo
	s.Signo, s.Errno, s.Code = 17, 3, -6
	s.SetPID(1234)
	s.SetUID(1000)
	s.SetStatus(42)
	s.SetUtime(7)
	s.SetStime(9)
	b := s.Marshal()
	if le.Uint32(b[0:]) != 17 || le.Uint32(b[4:]) != 3 || int32(le.Uint32(b[8:])) != -6 {
		t.Errorf("header bytes wrong: % x", b[:16])
	}
	if le.Uint32(b[16:]) != 1234 || le.Uint32(b[20:]) != 1000 || le.Uint32(b[24:]) != 42 ||
		le.Uint64(b[32:]) != 7 || le.Uint64(b[40:]) != 9 {
		t.Errorf("sigchld fields at wrong offsets: % x", b[16:48])
	}
	var u SignalInfo
	u.Unmarshal(b)
	if u != s || u.PID() != 1234 || u.UID() != 1000 || u.Status() != 42 || u.Utime() != 7 || u.Stime() != 9 {
		t.Errorf("round trip: got %+v, want %+v", u, s)
	}

	var f SignalInfo
	f.SetAddr(0x1122334455667788)
	f.SetAddrLSB(12)
	f.SetPkey(5)
	b = f.Marshal()
	if le.Uint64(b[16:]) != 0x1122334455667788 || le.Uint16(b[24:]) != 12 || le.Uint32(b[32:]) != 5 {
		t.Errorf("sigfault fields at wrong offsets: % x", b[16:40])
	}
	if f.Addr() != 0x1122334455667788 || f.AddrLSB() != 12 || f.Pkey() != 5 {
		t.Errorf("sigfault getters wrong")
	}
	f.SetBounds(0x1000, 0x2000)
	if b := f.Marshal(); le.Uint64(b[32:]) != 0x1000 || le.Uint64(b[40:]) != 0x2000 {
		t.Errorf("si_lower/si_upper at wrong offsets")
	}

	var tm SignalInfo
	tm.SetTimerID(3)
	tm.SetOverrun(4)
	tm.SetValue(0xfeedface12345678)
	b = tm.Marshal()
	if le.Uint32(b[16:]) != 3 || le.Uint32(b[20:]) != 4 || le.Uint64(b[24:]) != 0xfeedface12345678 {
		t.Errorf("timer fields at wrong offsets: % x", b[16:32])
	}
	if tm.TimerID() != 3 || tm.Overrun() != 4 || tm.Value() != 0xfeedface12345678 {
		t.Errorf("timer getters wrong")
	}

	var p SignalInfo
	p.SetBand(-1)
	p.SetFD(8)
	if p.Band() != -1 || p.FD() != 8 || le.Uint32(p.Marshal()[24:]) != 8 {
		t.Errorf("sigpoll fields wrong")
	}

	var sy SignalInfo
	sy.SetCallAddr(0x401234)
	sy.SetSyscall(231)
	sy.SetArch(0xc000003e)
	b = sy.Marshal()
	if le.Uint64(b[16:]) != 0x401234 || le.Uint32(b[24:]) != 231 || le.Uint32(b[28:]) != 0xc000003e {
		t.Errorf("sigsys fields at wrong offsets: % x", b[16:32])
	}
	if sy.CallAddr() != 0x401234 || sy.Syscall() != 231 || sy.Arch() != 0xc000003e {
		t.Errorf("sigsys getters wrong")
	}
}

func TestSignalActStackRoundTrip(t *testing.T) {
	a := SignalAct{Handler: 0x401000, Flags: SA_SIGINFO | SA_RESTORER | SA_RESETHAND, Restorer: 0x402000, Mask: 0x8000000000000001}
	b := a.Marshal()
	le := binary.LittleEndian
	if le.Uint64(b[0:]) != a.Handler || le.Uint64(b[8:]) != a.Flags || le.Uint64(b[16:]) != a.Restorer || le.Uint64(b[24:]) != a.Mask {
		t.Errorf("sigaction layout wrong: % x", b)
	}
	var a2 SignalAct
	a2.Unmarshal(b)
	if a2 != a {
		t.Errorf("sigaction round trip: %+v != %+v", a2, a)
	}

	s := SignalStack{Sp: 0x7000, Flags: SS_AUTODISARM | SS_ONSTACK, Size: 0x4000}
	b = s.Marshal()
	if le.Uint64(b[0:]) != 0x7000 || le.Uint32(b[8:]) != 0x80000001 || le.Uint32(b[12:]) != 0 || le.Uint64(b[16:]) != 0x4000 {
		t.Errorf("stack_t layout wrong: % x", b)
	}
	var s2 SignalStack
	s2.Unmarshal(b)
	if s2 != s {
		t.Errorf("stack_t round trip: %+v != %+v", s2, s)
	}
}

func TestSignalStackHelpers(t *testing.T) {
	st := SignalStack{Sp: 0x10000, Size: 0x1000}
	for _, c := range []struct {
		sp   uint64
		want bool
	}{{0x10000, false}, {0x10001, true}, {0x11000, true}, {0x11001, false}} {
		if got := st.Contains(c.sp); got != c.want {
			t.Errorf("Contains(%#x) = %v, want %v", c.sp, got, c.want)
		}
	}
	if got := st.ReportedFlags(0x10800); got != SS_ONSTACK {
		t.Errorf("ReportedFlags on stack = %d", got)
	}
	if got := st.ReportedFlags(0x20000); got != 0 {
		t.Errorf("ReportedFlags off stack = %d", got)
	}
	auto := st
	auto.Flags = SS_AUTODISARM
	if auto.OnStack(0x10800) || auto.ReportedFlags(0x10800) != SS_AUTODISARM {
		t.Errorf("SS_AUTODISARM stack must never count as in use")
	}
	dis := SignalStack{Flags: SS_DISABLE}
	if dis.Enabled() || dis.ReportedFlags(0x1234) != SS_DISABLE {
		t.Errorf("disabled stack reported enabled")
	}
}

// checkFrame verifies the frame SetupSignalFrame wrote for regs0 against
// what Linux would have written.
func checkFrame(t *testing.T, m *fakeMem, regs0, regs Registers, fp FPState, info *SignalInfo, act *SignalAct, mask uint64, alt SignalStack, faultAddr uint64) {
	t.Helper()
	frame := regs.Rsp
	uc := frame + RtSigframeUContext
	if (regs.Rsp+8)%16 != 0 {
		t.Errorf("handler rsp %#x: (rsp+8)%%16 != 0", regs.Rsp)
	}
	if regs.Rip != act.Handler || regs.Rdi != uint64(info.Signo) || regs.Rsi != frame+RtSigframeInfo ||
		regs.Rdx != uc || regs.Rax != 0 || regs.Cs != UserCS || regs.Ss != UserSS {
		t.Errorf("handler registers wrong: %+v", regs)
	}
	if regs.Eflags&(eflagsDF|eflagsTF|eflagsRF) != 0 || regs.Eflags&^(eflagsDF|eflagsTF|eflagsRF) != regs0.Eflags&^(eflagsDF|eflagsTF|eflagsRF) {
		t.Errorf("handler eflags %#x from %#x", regs.Eflags, regs0.Eflags)
	}
	if regs.R12 != regs0.R12 || regs.Fs_base != regs0.Fs_base || regs.Orig_rax != regs0.Orig_rax {
		t.Errorf("unrelated registers changed")
	}
	if got := m.u64(frame); got != act.Restorer {
		t.Errorf("pretcode = %#x, want %#x", got, act.Restorer)
	}
	wantFlags := uint64(UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS)
	if len(fp) > fxsaveSize {
		wantFlags |= UC_FP_XSTATE
	}
	if got := m.u64(uc + UContextFlags); got != wantFlags {
		t.Errorf("uc_flags = %#x, want %#x", got, wantFlags)
	}
	if got := m.u64(uc + UContextLink); got != 0 {
		t.Errorf("uc_link = %#x", got)
	}
	var gotAlt SignalStack
	gotAlt.Unmarshal(m.at(uc+UContextStack, SizeofSignalStack))
	if gotAlt != alt {
		t.Errorf("uc_stack = %+v, want %+v", gotAlt, alt)
	}
	if got := m.u64(uc + UContextSigmask); got != mask {
		t.Errorf("uc_sigmask = %#x, want %#x", got, mask)
	}
	sc := uc + UContextMcontext
	for _, f := range []struct {
		name string
		off  uint64
		want uint64
	}{
		{"r8", scR8, regs0.R8}, {"r9", scR9, regs0.R9}, {"r10", scR10, regs0.R10}, {"r11", scR11, regs0.R11},
		{"r12", scR12, regs0.R12}, {"r13", scR13, regs0.R13}, {"r14", scR14, regs0.R14}, {"r15", scR15, regs0.R15},
		{"rdi", scRDI, regs0.Rdi}, {"rsi", scRSI, regs0.Rsi}, {"rbp", scRBP, regs0.Rbp}, {"rbx", scRBX, regs0.Rbx},
		{"rdx", scRDX, regs0.Rdx}, {"rax", scRAX, regs0.Rax}, {"rcx", scRCX, regs0.Rcx}, {"rsp", scRSP, regs0.Rsp},
		{"rip", scRIP, regs0.Rip}, {"eflags", scEFLAGS, regs0.Eflags},
		{"cs/gs/fs/ss", scCS, regs0.Cs | regs0.Ss<<48},
		{"oldmask", scOldmask, mask}, {"cr2", scCR2, faultAddr},
	} {
		if got := m.u64(sc + f.off); got != f.want {
			t.Errorf("sigcontext.%s = %#x, want %#x", f.name, got, f.want)
		}
	}
	var gotInfo SignalInfo
	gotInfo.Unmarshal(m.at(frame+RtSigframeInfo, SizeofSignalInfo))
	if gotInfo != *info {
		t.Errorf("siginfo = %+v, want %+v", gotInfo, *info)
	}

	fpAddr := m.u64(sc + scFpstate)
	if len(fp) == 0 {
		if fpAddr != 0 {
			t.Errorf("fpstate = %#x for empty fp", fpAddr)
		}
		return
	}
	if fpAddr%64 != 0 {
		t.Errorf("fpstate %#x not 64-byte aligned", fpAddr)
	}
	if fpAddr < frame+SizeofRtSigframe {
		t.Errorf("fpstate %#x overlaps the frame at %#x", fpAddr, frame)
	}
	img := m.at(fpAddr, len(fp))
	want := append(FPState(nil), fp...)
	le := binary.LittleEndian
	if le.Uint32(img[fxSwBytes:]) != FP_XSTATE_MAGIC1 ||
		le.Uint32(img[fxSwBytes+4:]) != uint32(len(fp))+4 ||
		le.Uint32(img[fxSwBytes+16:]) != uint32(len(fp)) {
		t.Errorf("fx_sw_bytes wrong: % x", img[fxSwBytes:fxSwBytes+20])
	}
	if len(fp) > fxsaveSize {
		if got := le.Uint64(img[fxSwBytes+8:]); got != testXCR0 {
			t.Errorf("fx_sw_bytes.xfeatures = %#x, want %#x", got, testXCR0)
		}
		if got := m.u32(fpAddr + uint64(len(fp))); got != FP_XSTATE_MAGIC2 {
			t.Errorf("magic2 = %#x", got)
		}
		le.PutUint64(want[xsaveXstateBV:], le.Uint64(want[xsaveXstateBV:])|3)
	}
	copy(want[fxSwBytes:fxSwBytes+fxSwBytesSize], img[fxSwBytes:])
	if !bytes.Equal(img, want) {
		t.Errorf("fp image in frame differs from fp")
	}
}

func TestSetupSignalFrameAndReturn(t *testing.T) {
	for _, fpSize := range []int{0, 512, 576, 832, 2696} {
		t.Run(fmt.Sprint(fpSize), func(t *testing.T) {
			m := newFakeMem(testBase, testMemSize, 0xa5)
			regs0 := testRegs()
			regs := regs0
			fp := testFP(fpSize)
			fpOrig := fp.Clone()
			info := testInfo()
			act := testAct(0)
			const mask = 1<<(1-1) | 1<<(10-1) | 1<<(63-1)
			alt := SignalStack{Flags: SS_DISABLE}
			if err := SetupSignalFrame(m, &regs, fp, info, act, mask, alt, 0xdeadbeef); err != nil {
				t.Fatalf("SetupSignalFrame: %v", err)
			}
			if !bytes.Equal(fp, fpOrig) {
				t.Errorf("SetupSignalFrame modified fp")
			}
			checkFrame(t, m, regs0, regs, fp, info, act, mask, alt, 0xdeadbeef)

			// The handler runs, clobbers registers, and returns to the
			// restorer: ret pops pretcode, then mov $15,%eax; syscall.
			regs.Rsp += 8
			regs.Rip = act.Restorer + 7
			regs.Rax = 15
			regs.Orig_rax = 15
			regs.Rcx = regs.Rip
			regs.R11 = regs.Eflags
			regs.Rbx, regs.R12, regs.Rdi = 1, 2, 3
			regs.Eflags = 0x246

			gotMask, gotFP, gotAlt, err := SignalReturn(m, &regs, fpSize)
			if err != nil {
				t.Fatalf("SignalReturn: %v", err)
			}
			if gotMask != mask {
				t.Errorf("mask = %#x, want %#x", gotMask, mask)
			}
			if gotAlt != alt {
				t.Errorf("alt = %+v, want %+v", gotAlt, alt)
			}
			want := regs0
			want.Orig_rax = ^uint64(0)
			want.Eflags = 0x246&^fixEflags | regs0.Eflags&fixEflags
			if regs != want {
				t.Errorf("restored registers\n got %+v\nwant %+v", regs, want)
			}
			if fpSize == 0 {
				if gotFP != nil {
					t.Errorf("fp = %d bytes for no fpstate", len(gotFP))
				}
				return
			}
			wantFP := fpOrig.Clone()
			clear(wantFP[fxSwBytes : fxSwBytes+fxSwBytesSize])
			if fpSize > fxsaveSize {
				binary.LittleEndian.PutUint64(wantFP[xsaveXstateBV:], 0x4|3)
			}
			if !bytes.Equal(gotFP, wantFP) {
				t.Errorf("restored fp differs")
			}
		})
	}
}

// TestFrameAlignment sweeps stack pointers and xsave sizes, checking the
// ABI alignment and that nothing at or above rsp-128 is written.
func TestFrameAlignment(t *testing.T) {
	for _, fpSize := range []int{0, 512, 576, 832, 1088, 2696, 11008} {
		fp := testFP(fpSize)
		for off := uint64(0); off < 128; off++ {
			const fill = 0x5a
			m := newFakeMem(testBase, 1<<16, fill)
			regs := testRegs()
			regs.Rsp = testBase + 0xc000 + off
			regs0 := regs
			if err := SetupSignalFrame(m, &regs, fp, testInfo(), testAct(0), 0, SignalStack{}, 0); err != nil {
				t.Fatalf("fp %d rsp %#x: %v", fpSize, regs0.Rsp, err)
			}
			if (regs.Rsp+8)%16 != 0 {
				t.Errorf("fp %d rsp %#x: handler rsp %#x misaligned", fpSize, regs0.Rsp, regs.Rsp)
			}
			fpAddr := m.u64(regs.Rsp + RtSigframeUContext + UContextMcontext + scFpstate)
			if fpSize > 0 {
				if fpAddr%64 != 0 {
					t.Errorf("fp %d rsp %#x: fpstate %#x misaligned", fpSize, regs0.Rsp, fpAddr)
				}
				end := fpAddr + uint64(fpSize)
				if fpSize > fxsaveSize {
					end += 4
				}
				if end > regs0.Rsp-redZoneSize {
					t.Errorf("fp %d rsp %#x: fp area ends at %#x, inside the red zone", fpSize, regs0.Rsp, end)
				}
				// Linux wastes at most 63 bytes above the fp area and 15 below.
				if regs0.Rsp-redZoneSize-end > 63 || fpAddr-(regs.Rsp+SizeofRtSigframe) > 15+8 {
					t.Errorf("fp %d rsp %#x: frame not packed like Linux's", fpSize, regs0.Rsp)
				}
			}
			for i, b := range m.data[regs0.Rsp-redZoneSize-testBase:] {
				if b != fill {
					t.Fatalf("fp %d rsp %#x: byte at rsp%+d written", fpSize, regs0.Rsp, i-redZoneSize)
				}
			}
		}
	}
}

// TestFrameAddressesLikeLinux pins the exact placement formula (get_sigframe,
// fpu__alloc_mathframe, align_sigframe) on one example, checked by hand.
func TestFrameAddressesLikeLinux(t *testing.T) {
	m := newFakeMem(testBase, testMemSize, 0)
	regs := testRegs()
	regs.Rsp = testBase + 0x10000 // top of a 64 KiB area
	addrs, err := SetupSignalFrameFault(m, &regs, testFP(832), testInfo(), testAct(0), 0, SignalStack{}, SignalFault{})
	if err != nil {
		t.Fatal(err)
	}
	// sp = 0x10000-128 = 0xff80; fp = (0xff80-836)&^63 = 0xfc3c&^63 = 0xfc00;
	// frame = ((0xfc00-440)&^15)-8 = (0xfa48&^15)-8 = 0xfa40-8 = 0xfa38.
	want := SignalFrameAddrs{Frame: testBase + 0xfa38, UContext: testBase + 0xfa40, Info: testBase + 0xfa38 + 312, FPState: testBase + 0xfc00}
	if addrs != want {
		t.Errorf("addrs = %+v, want %+v", addrs, want)
	}
}

func TestAltStackSelection(t *testing.T) {
	const altBase = testBase + 0x20000
	const altSize = 0x8000
	fp := testFP(832)
	cases := []struct {
		name     string
		rsp      uint64
		saFlags  uint64
		altFlags int32
		altSize  uint64
		wantAlt  bool // frame at the top of the alt stack
		wantErr  error
	}{
		{name: "onstack switches", rsp: testStack, saFlags: SA_ONSTACK, altSize: altSize, wantAlt: true},
		{name: "no SA_ONSTACK stays", rsp: testStack, altSize: altSize},
		{name: "disabled stays", rsp: testStack, saFlags: SA_ONSTACK, altFlags: SS_DISABLE},
		{name: "zero size stays", rsp: testStack, saFlags: SA_ONSTACK},
		{name: "already on it stays", rsp: altBase + 0x4000, saFlags: SA_ONSTACK, altSize: altSize},
		{name: "autodisarm switches again", rsp: altBase + 0x4000, saFlags: SA_ONSTACK, altFlags: SS_AUTODISARM, altSize: altSize, wantAlt: true},
		{name: "too small", rsp: testStack, saFlags: SA_ONSTACK, altSize: 1024, wantErr: ErrSignalStackOverflow},
		{name: "nested overflow", rsp: altBase + 0x300, saFlags: SA_ONSTACK, altSize: altSize, wantErr: ErrSignalStackOverflow},
		{name: "nested overflow without SA_ONSTACK", rsp: altBase + 0x300, altSize: altSize, wantErr: ErrSignalStackOverflow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newFakeMem(testBase, testMemSize, 0)
			regs := testRegs()
			regs.Rsp = c.rsp
			regs0 := regs
			alt := SignalStack{Sp: altBase, Flags: c.altFlags, Size: c.altSize}
			act := testAct(c.saFlags)
			err := SetupSignalFrame(m, &regs, fp, testInfo(), act, 0, alt, 0)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				if regs != regs0 {
					t.Errorf("registers changed on error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkFrame(t, m, regs0, regs, fp, testInfo(), act, 0, alt, 0)
			fpAddr := m.u64(regs.Rsp + RtSigframeUContext + UContextMcontext + scFpstate)
			onAlt := alt.Contains(regs.Rsp)
			if c.wantAlt {
				top := alt.Sp + alt.Size
				if !onAlt || fpAddr != (top-836)&^63 {
					t.Errorf("frame %#x fp %#x not at the top %#x of the alt stack", regs.Rsp, fpAddr, top)
				}
			} else {
				if fpAddr != (c.rsp-128-836)&^63 {
					t.Errorf("frame %#x fp %#x not below rsp %#x - red zone", regs.Rsp, fpAddr, c.rsp)
				}
			}
		})
	}
}

func TestSetupSignalFrameErrors(t *testing.T) {
	regs := testRegs()
	regs0 := regs
	m := newFakeMem(testBase, testMemSize, 0)
	act := testAct(0)
	act.Flags &^= SA_RESTORER
	if err := SetupSignalFrame(m, &regs, testFP(832), testInfo(), act, 0, SignalStack{}, 0); !errors.Is(err, ErrNoRestorer) {
		t.Errorf("no SA_RESTORER: err = %v", err)
	}
	if regs != regs0 {
		t.Errorf("registers changed on error")
	}

	small := newFakeMem(testStack-1024, 2048, 0) // frame does not fit
	if err := SetupSignalFrame(small, &regs, testFP(832), testInfo(), testAct(0), 0, SignalStack{}, 0); !errors.Is(err, ErrFrameFault) {
		t.Errorf("unmapped stack: err = %v", err)
	}
	if regs != regs0 {
		t.Errorf("registers changed on error")
	}

	for _, n := range []int{100, 520} {
		if err := SetupSignalFrame(m, &regs, make(FPState, n), testInfo(), testAct(0), 0, SignalStack{}, 0); !errors.Is(err, ErrBadFPState) {
			t.Errorf("fp of %d bytes: err = %v", n, err)
		}
	}

	// A stack pointer so low the frame wraps around.
	regs.Rsp = 0x100
	if err := SetupSignalFrame(m, &regs, testFP(832), testInfo(), testAct(0), 0, SignalStack{}, 0); !errors.Is(err, ErrFrameFault) {
		t.Errorf("wrapping frame: err = %v", err)
	}
}

// setupForReturn builds a frame and returns the registers as they are at the
// restorer's syscall, plus the frame's fpstate address.
func setupForReturn(t *testing.T, m *fakeMem, fp FPState, mask uint64) (Registers, uint64) {
	t.Helper()
	regs := testRegs()
	if err := SetupSignalFrame(m, &regs, fp, testInfo(), testAct(0), mask, SignalStack{Flags: SS_DISABLE}, 0); err != nil {
		t.Fatal(err)
	}
	regs.Rsp += 8
	return regs, m.u64(regs.Rsp + UContextMcontext + scFpstate)
}

func TestSignalReturnSanitises(t *testing.T) {
	m := newFakeMem(testBase, testMemSize, 0)
	regs, _ := setupForReturn(t, m, testFP(832), 1<<(9-1)|1<<(19-1)|1<<(2-1))
	sc := regs.Rsp + UContextMcontext
	binary.LittleEndian.PutUint64(m.at(sc+scEFLAGS, 8), ^uint64(0))
	binary.LittleEndian.PutUint64(m.at(sc+scCS, 8), 0x0023_0000_0000_0010) // cs=0x10, ss=0x23
	regs.Eflags = 0x202
	regs.Fs_base, regs.Gs_base = 0x1000, 0x2000
	mask, _, _, err := SignalReturn(m, &regs, 832)
	if err != nil {
		t.Fatal(err)
	}
	if mask != 1<<(2-1) {
		t.Errorf("mask = %#x: SIGKILL/SIGSTOP must be dropped", mask)
	}
	if regs.Eflags != 0x202|fixEflags {
		t.Errorf("eflags = %#x, want %#x", regs.Eflags, 0x202|fixEflags)
	}
	if regs.Cs != UserCS || regs.Ss != UserSS {
		t.Errorf("cs/ss = %#x/%#x", regs.Cs, regs.Ss)
	}
	if regs.Fs_base != 0x1000 || regs.Gs_base != 0x2000 || regs.Orig_rax != ^uint64(0) {
		t.Errorf("fs_base/gs_base/orig_rax = %#x/%#x/%#x", regs.Fs_base, regs.Gs_base, regs.Orig_rax)
	}
}

func TestSignalReturnFPValidation(t *testing.T) {
	le := binary.LittleEndian
	fresh := func(t *testing.T) (*fakeMem, Registers, uint64) {
		m := newFakeMem(testBase, testMemSize, 0)
		regs, fpAddr := setupForReturn(t, m, testFP(832), 0)
		return m, regs, fpAddr
	}

	t.Run("null fpstate", func(t *testing.T) {
		m, regs, _ := fresh(t)
		le.PutUint64(m.at(regs.Rsp+UContextMcontext+scFpstate, 8), 0)
		_, fp, _, err := SignalReturn(m, &regs, 832)
		if err != nil || fp != nil {
			t.Errorf("fp = %v, err = %v; want nil, nil", fp, err)
		}
	})
	fxOnly := func(t *testing.T, corrupt func(m *fakeMem, fpAddr uint64)) {
		m, regs, fpAddr := fresh(t)
		legacy := append([]byte(nil), m.at(fpAddr, fxsaveSize)...)
		corrupt(m, fpAddr)
		_, fp, _, err := SignalReturn(m, &regs, 832)
		if err != nil {
			t.Fatal(err)
		}
		want := make(FPState, 832)
		copy(want, legacy)
		clear(want[fxSwBytes : fxSwBytes+fxSwBytesSize])
		le.PutUint64(want[xsaveXstateBV:], 3)
		if !bytes.Equal(fp, want) {
			t.Errorf("fx-only fallback did not keep just the legacy region")
		}
	}
	t.Run("bad magic1", func(t *testing.T) {
		fxOnly(t, func(m *fakeMem, a uint64) { le.PutUint32(m.at(a+fxSwBytes, 4), 0) })
	})
	t.Run("bad magic2", func(t *testing.T) {
		fxOnly(t, func(m *fakeMem, a uint64) { le.PutUint32(m.at(a+832, 4), 0) })
	})
	t.Run("xstate_size too big", func(t *testing.T) {
		fxOnly(t, func(m *fakeMem, a uint64) {
			le.PutUint32(m.at(a+fxSwBytes+16, 4), 1088)
			le.PutUint32(m.at(a+fxSwBytes+4, 4), 1092)
		})
	})
	t.Run("xstate_size above extended_size", func(t *testing.T) {
		fxOnly(t, func(m *fakeMem, a uint64) { le.PutUint32(m.at(a+fxSwBytes+4, 4), 600) })
	})
	t.Run("smaller xstate_size", func(t *testing.T) {
		m, regs, a := fresh(t)
		want := make(FPState, 832)
		copy(want, m.at(a, 576))
		le.PutUint32(m.at(a+fxSwBytes+16, 4), 576)
		le.PutUint32(m.at(a+576, 4), FP_XSTATE_MAGIC2)
		_, fp, _, err := SignalReturn(m, &regs, 832)
		if err != nil {
			t.Fatal(err)
		}
		clear(want[fxSwBytes : fxSwBytes+fxSwBytesSize])
		if !bytes.Equal(fp, want) {
			t.Errorf("576-byte xstate not restored as such")
		}
	})
	t.Run("xfeatures masks XSTATE_BV", func(t *testing.T) {
		m, regs, a := fresh(t)
		le.PutUint64(m.at(a+fxSwBytes+8, 8), 3)
		_, fp, _, err := SignalReturn(m, &regs, 832)
		if err != nil {
			t.Fatal(err)
		}
		if got := le.Uint64(fp[xsaveXstateBV:]); got != 3 {
			t.Errorf("XSTATE_BV = %#x, want 3", got)
		}
	})
	for _, c := range []struct {
		name    string
		corrupt func(m *fakeMem, regs *Registers, a uint64)
	}{
		{"XCOMP_BV", func(m *fakeMem, _ *Registers, a uint64) { le.PutUint64(m.at(a+xsaveXcompBV, 8), 1<<63|7) }},
		{"header reserved", func(m *fakeMem, _ *Registers, a uint64) { m.at(a+570, 1)[0] = 1 }},
		{"mxcsr reserved", func(m *fakeMem, _ *Registers, a uint64) { le.PutUint32(m.at(a+fxMXCSR, 4), 0x10000|0x1f80) }},
		{"misaligned", func(m *fakeMem, regs *Registers, a uint64) {
			copy(m.at(a+16, 836), append([]byte(nil), m.at(a, 836)...))
			le.PutUint64(m.at(regs.Rsp+UContextMcontext+scFpstate, 8), a+16)
		}},
		{"unmapped fpstate", func(m *fakeMem, regs *Registers, a uint64) {
			le.PutUint64(m.at(regs.Rsp+UContextMcontext+scFpstate, 8), 0x1000)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, regs, a := fresh(t)
			c.corrupt(m, &regs, a)
			regs0 := regs
			_, _, _, err := SignalReturn(m, &regs, 832)
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameFault) {
				t.Errorf("err = %v, want ErrBadFrame or ErrFrameFault", err)
			}
			if regs != regs0 {
				t.Errorf("registers changed on error")
			}
		})
	}
	t.Run("unmapped ucontext", func(t *testing.T) {
		m, regs, _ := fresh(t)
		regs.Rsp = 0x1000
		if _, _, _, err := SignalReturn(m, &regs, 832); !errors.Is(err, ErrFrameFault) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSignalReturnAltStack(t *testing.T) {
	m := newFakeMem(testBase, testMemSize, 0)
	regs := testRegs()
	alt := SignalStack{Sp: testBase + 0x20000, Flags: SS_AUTODISARM, Size: 0x8000}
	if err := SetupSignalFrame(m, &regs, testFP(832), testInfo(), testAct(SA_ONSTACK), 0, alt, 0); err != nil {
		t.Fatal(err)
	}
	if !alt.Contains(regs.Rsp) {
		t.Fatalf("frame %#x not on the alt stack", regs.Rsp)
	}
	regs.Rsp += 8
	_, _, got, err := SignalReturn(m, &regs, 832)
	if err != nil {
		t.Fatal(err)
	}
	if got != alt {
		t.Errorf("alt = %+v, want %+v", got, alt)
	}
	if regs.Rsp != testStack {
		t.Errorf("rsp = %#x, want %#x", regs.Rsp, uint64(testStack))
	}
}

func TestFPUserFeatures(t *testing.T) {
	le := binary.LittleEndian
	fp := testFP(832)
	if got := fpUserFeatures(fp); got != testXCR0 {
		t.Errorf("ptrace form: %#x", got)
	}
	le.PutUint32(fp[fxSwBytes:], FP_XSTATE_MAGIC1)
	le.PutUint32(fp[fxSwBytes+4:], 836)
	le.PutUint64(fp[fxSwBytes+8:], 0x207)
	if got := fpUserFeatures(fp); got != 0x207 {
		t.Errorf("sigframe form: %#x", got)
	}
	clear(fp[fxSwBytes : fxSwBytes+fxSwBytesSize])
	if got := fpUserFeatures(fp); got != 0x4|3 {
		t.Errorf("fallback: %#x", got)
	}
}

func TestInitFPState(t *testing.T) {
	if InitFPState(nil) != nil {
		t.Errorf("InitFPState(nil) != nil")
	}
	like := testFP(832)
	fp := InitFPState(like)
	le := binary.LittleEndian
	if len(fp) != 832 || le.Uint16(fp[0:]) != 0x37f || le.Uint32(fp[24:]) != 0x1f80 ||
		le.Uint32(fp[28:]) != 0xffff || le.Uint64(fp[xsaveXstateBV:]) != 3 || le.Uint64(fp[fxSwBytes:]) != testXCR0 {
		t.Errorf("InitFPState wrong: % x", fp[:32])
	}
	for i := 32; i < fxSwBytes; i++ {
		if fp[i] != 0 {
			t.Fatalf("byte %d = %#x", i, fp[i])
		}
	}
	for i := xsaveXstateBV + 8; i < len(fp); i++ {
		if fp[i] != 0 {
			t.Fatalf("byte %d = %#x", i, fp[i])
		}
	}
	if legacy := InitFPState(make(FPState, 512)); len(legacy) != 512 || le.Uint16(legacy[0:]) != 0x37f {
		t.Errorf("legacy InitFPState wrong")
	}
}
