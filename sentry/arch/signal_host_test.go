package arch

// Tests against the host toolchain and kernel: C headers pin the ABI
// layout, the host kernel's own signal frames pin the frame placement and
// contents, and the host kernel's rt_sigreturn must accept frames built by
// SetupSignalFrame. They need gcc and are skipped only when it is missing.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// buildC compiles src with gcc and returns the binary's path.
func buildC(t *testing.T, name, src string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not available")
	}
	dir := t.TempDir()
	cfile := filepath.Join(dir, name+".c")
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(cfile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gcc, "-O1", "-Wall", "-o", bin, cfile).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, out)
	}
	return bin
}

// parseValues parses "name value" lines.
func parseValues(t *testing.T, out []byte) map[string]int64 {
	t.Helper()
	vals := make(map[string]int64)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("bad line %q", line)
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		vals[f[0]] = v
	}
	return vals
}

func compareValues(t *testing.T, got map[string]int64, want map[string]int64) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not printed by the C program", name)
			continue
		}
		if g != w {
			t.Errorf("%s: C says %d (%#x), Go has %d (%#x)", name, g, g, w, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: printed but not checked", name)
		}
	}
}

const glibcLayoutSrc = `
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <ucontext.h>

#define P(name, v) printf("%s %lld\n", name, (long long)(v))
#define OFF(t, f) P(#t "." #f, offsetof(t, f))
#define GREG(r) P("gregs." #r, offsetof(mcontext_t, gregs[r]))

int main(void) {
	P("sizeof.siginfo_t", sizeof(siginfo_t));
	P("sizeof.stack_t", sizeof(stack_t));
	P("sizeof.mcontext_t", sizeof(mcontext_t));
	OFF(stack_t, ss_sp);
	OFF(stack_t, ss_flags);
	OFF(stack_t, ss_size);
	OFF(ucontext_t, uc_flags);
	OFF(ucontext_t, uc_link);
	OFF(ucontext_t, uc_stack);
	OFF(ucontext_t, uc_mcontext);
	OFF(ucontext_t, uc_sigmask);
	GREG(REG_R8); GREG(REG_R9); GREG(REG_R10); GREG(REG_R11);
	GREG(REG_R12); GREG(REG_R13); GREG(REG_R14); GREG(REG_R15);
	GREG(REG_RDI); GREG(REG_RSI); GREG(REG_RBP); GREG(REG_RBX);
	GREG(REG_RDX); GREG(REG_RAX); GREG(REG_RCX); GREG(REG_RSP);
	GREG(REG_RIP); GREG(REG_EFL); GREG(REG_CSGSFS); GREG(REG_ERR);
	GREG(REG_TRAPNO); GREG(REG_OLDMASK); GREG(REG_CR2);
	OFF(mcontext_t, fpregs);
	OFF(siginfo_t, si_signo);
	OFF(siginfo_t, si_errno);
	OFF(siginfo_t, si_code);
	OFF(siginfo_t, si_pid);
	OFF(siginfo_t, si_uid);
	OFF(siginfo_t, si_status);
	OFF(siginfo_t, si_utime);
	OFF(siginfo_t, si_stime);
	OFF(siginfo_t, si_value);
	OFF(siginfo_t, si_timerid);
	OFF(siginfo_t, si_overrun);
	OFF(siginfo_t, si_addr);
	OFF(siginfo_t, si_addr_lsb);
	OFF(siginfo_t, si_lower);
	OFF(siginfo_t, si_upper);
	OFF(siginfo_t, si_pkey);
	OFF(siginfo_t, si_band);
	OFF(siginfo_t, si_fd);
	OFF(siginfo_t, si_call_addr);
	OFF(siginfo_t, si_syscall);
	OFF(siginfo_t, si_arch);
	return 0;
}
`

func TestLayoutAgainstGlibc(t *testing.T) {
	bin := buildC(t, "glibc_layout", glibcLayoutSrc)
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"sizeof.siginfo_t":  SizeofSignalInfo,
		"sizeof.stack_t":    SizeofSignalStack,
		"sizeof.mcontext_t": SizeofSigContext,
		"stack_t.ss_sp":     0,
		"stack_t.ss_flags":  8,
		"stack_t.ss_size":   16,

		"ucontext_t.uc_flags":    UContextFlags,
		"ucontext_t.uc_link":     UContextLink,
		"ucontext_t.uc_stack":    UContextStack,
		"ucontext_t.uc_mcontext": UContextMcontext,
		"ucontext_t.uc_sigmask":  UContextSigmask,

		"gregs.REG_R8": scR8, "gregs.REG_R9": scR9, "gregs.REG_R10": scR10, "gregs.REG_R11": scR11,
		"gregs.REG_R12": scR12, "gregs.REG_R13": scR13, "gregs.REG_R14": scR14, "gregs.REG_R15": scR15,
		"gregs.REG_RDI": scRDI, "gregs.REG_RSI": scRSI, "gregs.REG_RBP": scRBP, "gregs.REG_RBX": scRBX,
		"gregs.REG_RDX": scRDX, "gregs.REG_RAX": scRAX, "gregs.REG_RCX": scRCX, "gregs.REG_RSP": scRSP,
		"gregs.REG_RIP": scRIP, "gregs.REG_EFL": scEFLAGS, "gregs.REG_CSGSFS": scCS, "gregs.REG_ERR": scErr,
		"gregs.REG_TRAPNO": scTrapno, "gregs.REG_OLDMASK": scOldmask, "gregs.REG_CR2": scCR2,
		"mcontext_t.fpregs": scFpstate,

		"siginfo_t.si_signo":     0,
		"siginfo_t.si_errno":     4,
		"siginfo_t.si_code":      8,
		"siginfo_t.si_pid":       siPid,
		"siginfo_t.si_uid":       siUid,
		"siginfo_t.si_status":    siStatus,
		"siginfo_t.si_utime":     siUtime,
		"siginfo_t.si_stime":     siStime,
		"siginfo_t.si_value":     siValue,
		"siginfo_t.si_timerid":   siTimerID,
		"siginfo_t.si_overrun":   siOverrun,
		"siginfo_t.si_addr":      siAddr,
		"siginfo_t.si_addr_lsb":  siAddrLSB,
		"siginfo_t.si_lower":     siLower,
		"siginfo_t.si_upper":     siUpper,
		"siginfo_t.si_pkey":      siPkey,
		"siginfo_t.si_band":      siBand,
		"siginfo_t.si_fd":        siFD,
		"siginfo_t.si_call_addr": siCallAddr,
		"siginfo_t.si_syscall":   siSyscall,
		"siginfo_t.si_arch":      siArch,
	}
	compareValues(t, parseValues(t, out), want)
}

const uapiLayoutSrc = `
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include <asm/signal.h>
#include <asm/sigcontext.h>
#include <asm/ucontext.h>
#include <asm/siginfo.h>
#include <linux/signal.h>

#define P(name, v) printf("%s %lld\n", name, (long long)(v))
#define OFF(t, f) P(#t "." #f, offsetof(struct t, f))
#define SC(f) P("sigcontext." #f, offsetof(struct sigcontext_64, f))
#define C(c) P(#c, c)

int main(void) {
	P("sizeof.sigcontext", sizeof(struct sigcontext));
	P("sizeof.sigcontext_64", sizeof(struct sigcontext_64));
	SC(r8); SC(r9); SC(r10); SC(r11); SC(r12); SC(r13); SC(r14); SC(r15);
	SC(di); SC(si); SC(bp); SC(bx); SC(dx); SC(ax); SC(cx); SC(sp);
	SC(ip); SC(flags); SC(cs); SC(gs); SC(fs); SC(ss); SC(err); SC(trapno);
	SC(oldmask); SC(cr2); SC(fpstate); SC(reserved1);
	P("sizeof.ucontext", sizeof(struct ucontext));
	OFF(ucontext, uc_flags);
	OFF(ucontext, uc_link);
	OFF(ucontext, uc_stack);
	OFF(ucontext, uc_mcontext);
	OFF(ucontext, uc_sigmask);
	P("sizeof.sigaction", sizeof(struct sigaction));
	OFF(sigaction, sa_handler);
	OFF(sigaction, sa_flags);
	OFF(sigaction, sa_restorer);
	OFF(sigaction, sa_mask);
	P("sizeof.stack_t", sizeof(stack_t));
	P("sizeof.siginfo_t", sizeof(siginfo_t));
	P("sizeof._fpx_sw_bytes", sizeof(struct _fpx_sw_bytes));
	OFF(_fpstate_64, mxcsr);
	OFF(_fpstate_64, mxcsr_mask);
	OFF(_fpstate_64, sw_reserved);
	OFF(_fpx_sw_bytes, magic1);
	OFF(_fpx_sw_bytes, extended_size);
	OFF(_fpx_sw_bytes, xfeatures);
	OFF(_fpx_sw_bytes, xstate_size);
	OFF(_xstate, xstate_hdr);
	C(SA_NOCLDSTOP); C(SA_NOCLDWAIT); C(SA_SIGINFO); C(SA_UNSUPPORTED);
	C(SA_EXPOSE_TAGBITS); C(SA_RESTORER); C(SA_ONSTACK); C(SA_RESTART);
	C(SA_NODEFER); C(SA_RESETHAND); C(SA_NOMASK); C(SA_ONESHOT);
	P("SS_ONSTACK", (int)SS_ONSTACK);
	P("SS_DISABLE", (int)SS_DISABLE);
	P("SS_AUTODISARM", (int)SS_AUTODISARM);
	P("SS_FLAG_BITS", (int)SS_FLAG_BITS);
	C(MINSIGSTKSZ); C(SIGSTKSZ);
	C(UC_FP_XSTATE); C(UC_SIGCONTEXT_SS); C(UC_STRICT_RESTORE_SS);
	C(FP_XSTATE_MAGIC1); C(FP_XSTATE_MAGIC2); C(FP_XSTATE_MAGIC2_SIZE);
	return 0;
}
`

func TestLayoutAgainstKernelHeaders(t *testing.T) {
	bin := buildC(t, "uapi_layout", uapiLayoutSrc)
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"sizeof.sigcontext":    SizeofSigContext,
		"sizeof.sigcontext_64": SizeofSigContext,
		"sigcontext.r8":        scR8,
		"sigcontext.r9":        scR9,
		"sigcontext.r10":       scR10,
		"sigcontext.r11":       scR11,
		"sigcontext.r12":       scR12,
		"sigcontext.r13":       scR13,
		"sigcontext.r14":       scR14,
		"sigcontext.r15":       scR15,
		"sigcontext.di":        scRDI,
		"sigcontext.si":        scRSI,
		"sigcontext.bp":        scRBP,
		"sigcontext.bx":        scRBX,
		"sigcontext.dx":        scRDX,
		"sigcontext.ax":        scRAX,
		"sigcontext.cx":        scRCX,
		"sigcontext.sp":        scRSP,
		"sigcontext.ip":        scRIP,
		"sigcontext.flags":     scEFLAGS,
		"sigcontext.cs":        scCS,
		"sigcontext.gs":        scGS,
		"sigcontext.fs":        scFS,
		"sigcontext.ss":        scSS,
		"sigcontext.err":       scErr,
		"sigcontext.trapno":    scTrapno,
		"sigcontext.oldmask":   scOldmask,
		"sigcontext.cr2":       scCR2,
		"sigcontext.fpstate":   scFpstate,
		"sigcontext.reserved1": scFpstate + 8,

		"sizeof.ucontext":      SizeofUContext,
		"ucontext.uc_flags":    UContextFlags,
		"ucontext.uc_link":     UContextLink,
		"ucontext.uc_stack":    UContextStack,
		"ucontext.uc_mcontext": UContextMcontext,
		"ucontext.uc_sigmask":  UContextSigmask,

		"sizeof.sigaction":            SizeofSignalAct,
		"sigaction.sa_handler":        0,
		"sigaction.sa_flags":          8,
		"sigaction.sa_restorer":       16,
		"sigaction.sa_mask":           24,
		"sizeof.stack_t":              SizeofSignalStack,
		"sizeof.siginfo_t":            SizeofSignalInfo,
		"sizeof._fpx_sw_bytes":        fxSwBytesSize,
		"_fpstate_64.mxcsr":           fxMXCSR,
		"_fpstate_64.mxcsr_mask":      fxMXCSRMask,
		"_fpstate_64.sw_reserved":     fxSwBytes,
		"_fpx_sw_bytes.magic1":        0,
		"_fpx_sw_bytes.extended_size": 4,
		"_fpx_sw_bytes.xfeatures":     8,
		"_fpx_sw_bytes.xstate_size":   16,
		"_xstate.xstate_hdr":          xsaveXstateBV,

		"SA_NOCLDSTOP": SA_NOCLDSTOP, "SA_NOCLDWAIT": SA_NOCLDWAIT, "SA_SIGINFO": SA_SIGINFO,
		"SA_UNSUPPORTED": SA_UNSUPPORTED, "SA_EXPOSE_TAGBITS": SA_EXPOSE_TAGBITS,
		"SA_RESTORER": SA_RESTORER, "SA_ONSTACK": SA_ONSTACK, "SA_RESTART": SA_RESTART,
		"SA_NODEFER": SA_NODEFER, "SA_RESETHAND": SA_RESETHAND, "SA_NOMASK": SA_NOMASK,
		"SA_ONESHOT": SA_ONESHOT,
		"SS_ONSTACK": int64(SS_ONSTACK), "SS_DISABLE": int64(SS_DISABLE),
		"SS_AUTODISARM": int64(SS_AUTODISARM), "SS_FLAG_BITS": int64(SS_FLAG_BITS),
		"MINSIGSTKSZ": MINSIGSTKSZ, "SIGSTKSZ": SIGSTKSZ,
		"UC_FP_XSTATE": UC_FP_XSTATE, "UC_SIGCONTEXT_SS": UC_SIGCONTEXT_SS,
		"UC_STRICT_RESTORE_SS": UC_STRICT_RESTORE_SS,
		"FP_XSTATE_MAGIC1":     FP_XSTATE_MAGIC1, "FP_XSTATE_MAGIC2": FP_XSTATE_MAGIC2,
		"FP_XSTATE_MAGIC2_SIZE": FP_XSTATE_MAGIC2_SIZE,
	}
	compareValues(t, parseValues(t, out), want)
}

// hostSignalSrc has two modes.
//
// "dump" takes real signals from the host kernel in four situations and
// prints each frame: the 440-byte rt_sigframe and the fp image with its
// trailing magic.
//
// "sigreturn" prints where it can take a frame, reads one from stdin, and
// enters the host's rt_sigreturn with it exactly as a restorer would. The
// restored context lands in veil_target, which records every register and
// prints them.
const hostSignalSrc = `
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

typedef void handler_t(int, siginfo_t *, void *);

static void hex(const char *key, const void *p, size_t n) {
	const unsigned char *b = p;
	printf("%s ", key);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static size_t fp_len(const unsigned char *fp) {
	uint32_t magic1, xsize;
	memcpy(&magic1, fp + 464, 4);
	memcpy(&xsize, fp + 480, 4);
	if (magic1 == 0x46505853 && xsize > 512)
		return xsize + 4;
	return 512;
}

static void dump(const char *name, int sig, siginfo_t *si, void *ctx, handler_t *h) {
	ucontext_t *uc = ctx;
	unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
	printf("begin %s\n", name);
	printf("sig %d\n", sig);
	printf("uc %lu\n", (unsigned long)uc);
	printf("info %lu\n", (unsigned long)si);
	printf("fp %lu\n", (unsigned long)fp);
	printf("handler %lu\n", (unsigned long)h);
	hex("frame", (char *)uc - 8, 440);
	if (fp)
		hex("fpimage", fp, fp_len(fp));
	printf("end\n");
	fflush(stdout);
}

static char alt1[1 << 18] __attribute__((aligned(64)));
static char alt2[1 << 18] __attribute__((aligned(64)));

static void h_alt(int sig, siginfo_t *si, void *ctx) { dump("altstack", sig, si, ctx, h_alt); }
static void h_red(int sig, siginfo_t *si, void *ctx) { dump("redzone", sig, si, ctx, h_red); }
static void h_outer(int sig, siginfo_t *si, void *ctx) {
	dump("alt-outer", sig, si, ctx, h_outer);
	raise(SIGWINCH);
}
static void h_nested(int sig, siginfo_t *si, void *ctx) { dump("alt-nested", sig, si, ctx, h_nested); }

static void install(int sig, handler_t *h, int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL)) {
		perror("sigaction");
		exit(1);
	}
}

static void set_alt(void *sp, size_t size, int flags) {
	stack_t ss = { .ss_sp = sp, .ss_flags = flags, .ss_size = size };
	if (sigaltstack(&ss, NULL)) {
		perror("sigaltstack");
		exit(1);
	}
}

static int dump_main(void) {
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGHUP);
	sigaddset(&m, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &m, NULL);

	set_alt(alt1, sizeof alt1, SS_AUTODISARM);
	install(SIGUSR1, h_alt, SA_ONSTACK);
	raise(SIGUSR1);

	install(SIGUSR2, h_red, 0);
	raise(SIGUSR2);

	set_alt(alt2 + 3, sizeof alt2 - 100, 0);
	install(SIGURG, h_outer, SA_ONSTACK);
	install(SIGWINCH, h_nested, SA_ONSTACK);
	raise(SIGURG);
	return 0;
}

/* sigreturn mode */

uint64_t veil_saved[24] __attribute__((visibility("hidden")));
int veil_have_avx __attribute__((visibility("hidden")));
void veil_target(void);

__asm__(
	".text\n"
	".globl veil_target\n"
	".type veil_target, @function\n"
	"veil_target:\n"
	"	movq %rax, veil_saved+0(%rip)\n"
	"	movq %rbx, veil_saved+8(%rip)\n"
	"	movq %rcx, veil_saved+16(%rip)\n"
	"	movq %rdx, veil_saved+24(%rip)\n"
	"	movq %rsi, veil_saved+32(%rip)\n"
	"	movq %rdi, veil_saved+40(%rip)\n"
	"	movq %rbp, veil_saved+48(%rip)\n"
	"	movq %rsp, veil_saved+56(%rip)\n"
	"	movq %r8, veil_saved+64(%rip)\n"
	"	movq %r9, veil_saved+72(%rip)\n"
	"	movq %r10, veil_saved+80(%rip)\n"
	"	movq %r11, veil_saved+88(%rip)\n"
	"	movq %r12, veil_saved+96(%rip)\n"
	"	movq %r13, veil_saved+104(%rip)\n"
	"	movq %r14, veil_saved+112(%rip)\n"
	"	movq %r15, veil_saved+120(%rip)\n"
	"	pushfq\n"
	"	popq %rax\n"
	"	movq %rax, veil_saved+128(%rip)\n"
	"	movdqu %xmm0, veil_saved+136(%rip)\n"
	"	stmxcsr veil_saved+168(%rip)\n"
	"	cmpl $0, veil_have_avx(%rip)\n"
	"	je 1f\n"
	"	vextractf128 $1, %ymm0, %xmm1\n"
	"	movdqu %xmm1, veil_saved+152(%rip)\n"
	"1:\n"
	"	andq $-16, %rsp\n"
	"	call veil_report\n"
	"	ud2\n");

__attribute__((noreturn)) void veil_report(void) {
	static const char *names[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
		"eflags", "xmm0lo", "xmm0hi", "ymm0hilo", "ymm0hihi", "mxcsr",
	};
	veil_saved[21] &= 0xffffffff;
	for (int i = 0; i < 22; i++)
		printf("%s %lu\n", names[i], (unsigned long)veil_saved[i]);
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	uint64_t mask;
	memcpy(&mask, &cur, 8);
	printf("sigmask %lu\n", (unsigned long)mask);
	fflush(stdout);
	_exit(0);
}

static uint32_t host_xsize;
static void h_size(int sig, siginfo_t *si, void *ctx) {
	ucontext_t *uc = ctx;
	host_xsize = fp_len((unsigned char *)uc->uc_mcontext.fpregs);
	if (host_xsize > 512)
		host_xsize -= 4;
}

#define REGION (1 << 20)

static int sigreturn_main(void) {
	unsigned a, b, c, d;
	uint64_t xcr0 = 0;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE)) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = ((uint64_t)hi << 32) | lo;
	}
	veil_have_avx = (xcr0 & 6) == 6;
	install(SIGUSR1, h_size, 0);
	raise(SIGUSR1);

	char *region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("region %lu\n", (unsigned long)region);
	printf("size %d\n", REGION);
	printf("target %lu\n", (unsigned long)veil_target);
	printf("xsize %u\n", host_xsize);
	printf("xcr0 %lu\n", (unsigned long)xcr0);
	fflush(stdout);

	uint64_t hdr[2];
	if (fread(hdr, 8, 2, stdin) != 2) {
		fprintf(stderr, "short header\n");
		return 1;
	}
	uint64_t frame = hdr[0], len = hdr[1];
	if (frame < (uint64_t)region || len > REGION || frame - (uint64_t)region > REGION - len) {
		fprintf(stderr, "frame outside region\n");
		return 1;
	}
	if (fread(region + (frame - (uint64_t)region), 1, len, stdin) != len) {
		fprintf(stderr, "short frame\n");
		return 1;
	}
	/* What a restorer does after the handler's ret popped pretcode. */
	__asm__ volatile(
		"movq %0, %%rsp\n\t"
		"movl $15, %%eax\n\t"
		"syscall\n\t"
		"ud2\n" : : "r"(frame + 8) : "memory");
	return 1;
}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "dump") == 0)
		return dump_main();
	if (argc == 2 && strcmp(argv[1], "sigreturn") == 0)
		return sigreturn_main();
	fprintf(stderr, "usage: %s dump|sigreturn\n", argv[0]);
	return 2;
}
`

// kernelFrame is one signal frame the host kernel built.
type kernelFrame struct {
	name    string
	sig     int
	uc      uint64
	info    uint64
	fp      uint64
	handler uint64
	frame   []byte // 440 bytes at uc-8
	fpimage []byte // xsave image plus FP_XSTATE_MAGIC2 (or 512 bytes)
}

func parseKernelFrames(t *testing.T, out []byte) []kernelFrame {
	t.Helper()
	var frames []kernelFrame
	var cur *kernelFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	num := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("bad number %q", s)
		}
		return v
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "end" {
			frames = append(frames, *cur)
			cur = nil
			continue
		}
		if len(f) != 2 {
			t.Fatalf("bad line %q", sc.Text())
		}
		if f[0] == "begin" {
			cur = &kernelFrame{name: f[1]}
			continue
		}
		switch f[0] {
		case "sig":
			cur.sig = int(num(f[1]))
		case "uc":
			cur.uc = num(f[1])
		case "info":
			cur.info = num(f[1])
		case "fp":
			cur.fp = num(f[1])
		case "handler":
			cur.handler = num(f[1])
		case "frame", "fpimage":
			b, err := hex.DecodeString(f[1])
			if err != nil {
				t.Fatal(err)
			}
			if f[0] == "frame" {
				cur.frame = b
			} else {
				cur.fpimage = b
			}
		default:
			t.Fatalf("bad line %q", sc.Text())
		}
	}
	return frames
}

// TestFramesMatchHostKernel lets the host kernel deliver signals in several
// stack situations and checks that, fed the same interrupted state,
// SetupSignalFrameFault places the frame at the same addresses and writes the
// same bytes, and that SignalReturn recovers the state from the kernel's
// frame.
func TestFramesMatchHostKernel(t *testing.T) {
	bin := buildC(t, "host_signal", hostSignalSrc)
	out, err := exec.Command(bin, "dump").Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	frames := parseKernelFrames(t, out)
	if len(frames) != 4 {
		t.Fatalf("got %d frames, want 4:\n%s", len(frames), out)
	}
	le := binary.LittleEndian
	for _, k := range frames {
		t.Run(k.name, func(t *testing.T) {
			frameAddr := k.uc - RtSigframeUContext
			uc := k.frame[RtSigframeUContext:]
			sc := uc[UContextMcontext:]
			regs0 := Registers{
				R8: le.Uint64(sc[scR8:]), R9: le.Uint64(sc[scR9:]), R10: le.Uint64(sc[scR10:]),
				R11: le.Uint64(sc[scR11:]), R12: le.Uint64(sc[scR12:]), R13: le.Uint64(sc[scR13:]),
				R14: le.Uint64(sc[scR14:]), R15: le.Uint64(sc[scR15:]), Rdi: le.Uint64(sc[scRDI:]),
				Rsi: le.Uint64(sc[scRSI:]), Rbp: le.Uint64(sc[scRBP:]), Rbx: le.Uint64(sc[scRBX:]),
				Rdx: le.Uint64(sc[scRDX:]), Rax: le.Uint64(sc[scRAX:]), Rcx: le.Uint64(sc[scRCX:]),
				Rsp: le.Uint64(sc[scRSP:]), Rip: le.Uint64(sc[scRIP:]), Eflags: le.Uint64(sc[scEFLAGS:]),
				Cs: uint64(le.Uint16(sc[scCS:])), Ss: uint64(le.Uint16(sc[scSS:])),
				Orig_rax: 12345, Fs_base: 0x7777,
			}
			fault := SignalFault{Addr: le.Uint64(sc[scCR2:]), Trapno: le.Uint64(sc[scTrapno:]), Err: le.Uint64(sc[scErr:])}
			mask := le.Uint64(uc[UContextSigmask:])
			var alt SignalStack
			alt.Unmarshal(uc[UContextStack:])
			var info SignalInfo
			info.Unmarshal(k.frame[RtSigframeInfo:])
			if int(info.Signo) != k.sig {
				t.Fatalf("siginfo signo %d, handler got %d", info.Signo, k.sig)
			}
			act := &SignalAct{Handler: k.handler, Flags: SA_SIGINFO | SA_RESTORER, Restorer: le.Uint64(k.frame)}
			if k.name != "redzone" {
				act.Flags |= SA_ONSTACK
			}
			fp := FPState(k.fpimage)
			if len(fp) > fxsaveSize {
				fp = fp[:len(fp)-FP_XSTATE_MAGIC2_SIZE]
			}
			t.Logf("rsp %#x frame %#x fp %#x xstate %d alt %+v", regs0.Rsp, frameAddr, k.fp, len(fp), alt)

			m := newFakeMem(frameAddr&^0xfff-0x1000, 0x10000, 0xee)
			regs := regs0
			addrs, err := SetupSignalFrameFault(m, &regs, fp, &info, act, mask, alt, fault)
			if err != nil {
				t.Fatal(err)
			}
			want := SignalFrameAddrs{Frame: frameAddr, UContext: k.uc, Info: k.info, FPState: k.fp}
			if addrs != want {
				t.Fatalf("addresses %+v, kernel used %+v", addrs, want)
			}
			if regs.Rsp != frameAddr || regs.Rdi != uint64(k.sig) || regs.Rsi != k.info || regs.Rdx != k.uc || regs.Rip != k.handler {
				t.Errorf("handler registers %+v", regs)
			}
			ours := m.at(frameAddr, SizeofRtSigframe)
			// Linux leaves two holes unwritten: the padding after
			// uc_stack.ss_flags and sigcontext.reserved1.
			const padStart = RtSigframeUContext + UContextStack + 12
			const resStart = RtSigframeUContext + UContextMcontext + scFpstate + 8
			const resEnd = RtSigframeUContext + UContextMcontext + SizeofSigContext
			for i := range SizeofRtSigframe {
				if (i >= padStart && i < padStart+4) || (i >= resStart && i < resEnd) {
					continue
				}
				if ours[i] != k.frame[i] {
					t.Errorf("frame byte %d: ours %#02x, kernel %#02x", i, ours[i], k.frame[i])
				}
			}
			if ourFP := m.at(k.fp, len(k.fpimage)); !bytes.Equal(ourFP, k.fpimage) {
				for i := range ourFP {
					if ourFP[i] != k.fpimage[i] {
						t.Errorf("fp byte %d: ours %#02x, kernel %#02x", i, ourFP[i], k.fpimage[i])
					}
				}
			}

			// SignalReturn on the kernel's own frame.
			km := newFakeMem(frameAddr&^0xfff-0x1000, 0x10000, 0)
			copy(km.at(frameAddr, SizeofRtSigframe), k.frame)
			copy(km.at(k.fp, len(k.fpimage)), k.fpimage)
			rregs := Registers{Rsp: k.uc, Rip: act.Restorer + 7, Rax: 15, Orig_rax: 15, Eflags: 0x246, Cs: UserCS, Ss: UserSS, Fs_base: 0x7777}
			gotMask, gotFP, gotAlt, err := SignalReturn(km, &rregs, len(fp))
			if err != nil {
				t.Fatal(err)
			}
			wantRegs := regs0
			wantRegs.Orig_rax = ^uint64(0)
			wantRegs.Eflags = 0x246&^fixEflags | regs0.Eflags&fixEflags
			if rregs != wantRegs {
				t.Errorf("restored\n got %+v\nwant %+v", rregs, wantRegs)
			}
			if gotMask != mask&^(1<<8|1<<18) || gotAlt != alt {
				t.Errorf("mask %#x alt %+v, want %#x %+v", gotMask, gotAlt, mask, alt)
			}
			wantFP := fp.Clone()
			clear(wantFP[fxSwBytes : fxSwBytes+fxSwBytesSize])
			if !bytes.Equal(gotFP, wantFP) {
				t.Errorf("restored fp differs from the kernel's image")
			}
		})
	}
}

// TestHostKernelAcceptsFrame has the host kernel's rt_sigreturn consume a
// frame built by SetupSignalFrame and checks the registers, FP state and
// signal mask it restores.
func TestHostKernelAcceptsFrame(t *testing.T) {
	bin := buildC(t, "host_signal", hostSignalSrc)
	cmd := exec.Command(bin, "sigreturn")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout := bufio.NewReader(stdoutPipe)
	hdr := make(map[string]uint64)
	for len(hdr) < 5 {
		line, err := stdout.ReadString('\n')
		if err != nil {
			t.Fatalf("reading header: %v (stderr %q)", err, stderr.String())
		}
		f := strings.Fields(line)
		v, err := strconv.ParseUint(f[1], 10, 64)
		if len(f) != 2 || err != nil {
			t.Fatalf("bad line %q", line)
		}
		hdr[f[0]] = v
	}
	region, xsize, xcr0 := hdr["region"], int(hdr["xsize"]), hdr["xcr0"]
	t.Logf("host xstate size %d, XCR0 %#x", xsize, xcr0)

	le := binary.LittleEndian
	fp := make(FPState, xsize)
	le.PutUint16(fp[0:], fcwDefault)
	const mxcsr = mxcsrDefault | 0x8000 // flush-to-zero
	le.PutUint32(fp[fxMXCSR:], mxcsr)
	le.PutUint32(fp[fxMXCSRMask:], 0xffff)
	xmm0lo, xmm0hi := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	le.PutUint64(fp[160:], xmm0lo)
	le.PutUint64(fp[168:], xmm0hi)
	avx := xcr0&6 == 6 && xsize >= 832
	ymmlo, ymmhi := uint64(0x1716151413121110), uint64(0x1f1e1d1c1b1a1918)
	if xsize > fxsaveSize {
		le.PutUint64(fp[fxSwBytes:], xcr0) // ptrace format
		bv := uint64(3)
		if avx {
			bv |= 4
			le.PutUint64(fp[576:], ymmlo) // standard-format AVX component
			le.PutUint64(fp[584:], ymmhi)
		}
		le.PutUint64(fp[xsaveXstateBV:], bv)
	}

	const stackOff = 0x80000 + 8
	m := newFakeMem(region, int(hdr["size"]), 0)
	regs := Registers{
		Rax: 0xa0a0a0a0a0a0a0a0, Rbx: 0xb0b0b0b0b0b0b0b0, Rcx: 0xc0c0c0c0c0c0c0c0, Rdx: 0xd0d0d0d0d0d0d0d0,
		Rsi: 0x5151515151515151, Rdi: 0xd1d1d1d1d1d1d1d1, Rbp: 0xbebebebebebebebe, Rsp: region + stackOff,
		R8: 0x0808080808080808, R9: 0x0909090909090909, R10: 0x1010101010101010, R11: 0x1111111111111111,
		R12: 0x1212121212121212, R13: 0x1313131313131313, R14: 0x1414141414141414, R15: 0x1515151515151515,
		Rip: hdr["target"], Cs: UserCS, Ss: UserSS,
		Eflags: 0x202 | eflagsCF | eflagsZF | eflagsSF,
	}
	regs0 := regs
	const mask = 1<<(12-1) | 1<<(1-1) // SIGUSR2, SIGHUP
	info := &SignalInfo{Signo: 10, Code: -6}
	act := &SignalAct{Handler: 0xdead0000, Flags: SA_SIGINFO | SA_RESTORER, Restorer: 0xbeef0000}
	if err := SetupSignalFrame(m, &regs, fp, info, act, mask, SignalStack{Flags: SS_DISABLE}, 0); err != nil {
		t.Fatal(err)
	}
	blob := m.at(regs.Rsp, int(regs0.Rsp-regs.Rsp))
	var h [16]byte
	le.PutUint64(h[0:], regs.Rsp)
	le.PutUint64(h[8:], uint64(len(blob)))
	if _, err := stdin.Write(append(h[:], blob...)); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("program failed: %v\nstdout %s\nstderr %s", err, rest, stderr.String())
	}
	got := make(map[string]uint64)
	for _, line := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("bad line %q", line)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		got[f[0]] = v
	}
	want := map[string]uint64{
		"rax": regs0.Rax, "rbx": regs0.Rbx, "rcx": regs0.Rcx, "rdx": regs0.Rdx,
		"rsi": regs0.Rsi, "rdi": regs0.Rdi, "rbp": regs0.Rbp, "rsp": regs0.Rsp,
		"r8": regs0.R8, "r9": regs0.R9, "r10": regs0.R10, "r11": regs0.R11,
		"r12": regs0.R12, "r13": regs0.R13, "r14": regs0.R14, "r15": regs0.R15,
		"xmm0lo": xmm0lo, "xmm0hi": xmm0hi, "mxcsr": mxcsr, "sigmask": mask,
	}
	if avx {
		want["ymm0hilo"], want["ymm0hihi"] = ymmlo, ymmhi
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %#x after host rt_sigreturn, want %#x", name, got[name], w)
		}
	}
	if g := got["eflags"] & fixEflags; g != regs0.Eflags&fixEflags {
		t.Errorf("eflags = %#x after host rt_sigreturn, want flags %#x", got["eflags"], regs0.Eflags&fixEflags)
	}
}
