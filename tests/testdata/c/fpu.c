/*
 * FPU/SSE/AVX state must survive signal delivery. Inline assembly loads
 * known values into xmm0..xmm15 (and ymm0..ymm15 when the CPU has AVX),
 * two x87 stack registers, the x87 control word and MXCSR, then sends
 * itself a signal with a raw `syscall` instruction (kill) so that nothing
 * but the kernel runs between loading and storing the registers. The
 * handler does floating-point work and then deliberately overwrites every
 * vector register, MXCSR and the x87 state. After sigreturn the stored
 * registers must equal the loaded ones. A second variant spins in a
 * register-only loop until an ITIMER_REAL SIGALRM arrives asynchronously.
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>

static int has_avx;
static volatile int sig_count;
static volatile double handler_result;

#define LOAD_XMM(base)                                                         \
	"movdqu   0(" base "), %%xmm0\n\t"                                     \
	"movdqu  16(" base "), %%xmm1\n\t"                                     \
	"movdqu  32(" base "), %%xmm2\n\t"                                     \
	"movdqu  48(" base "), %%xmm3\n\t"                                     \
	"movdqu  64(" base "), %%xmm4\n\t"                                     \
	"movdqu  80(" base "), %%xmm5\n\t"                                     \
	"movdqu  96(" base "), %%xmm6\n\t"                                     \
	"movdqu 112(" base "), %%xmm7\n\t"                                     \
	"movdqu 128(" base "), %%xmm8\n\t"                                     \
	"movdqu 144(" base "), %%xmm9\n\t"                                     \
	"movdqu 160(" base "), %%xmm10\n\t"                                    \
	"movdqu 176(" base "), %%xmm11\n\t"                                    \
	"movdqu 192(" base "), %%xmm12\n\t"                                    \
	"movdqu 208(" base "), %%xmm13\n\t"                                    \
	"movdqu 224(" base "), %%xmm14\n\t"                                    \
	"movdqu 240(" base "), %%xmm15\n\t"

#define STORE_XMM(base)                                                        \
	"movdqu %%xmm0,    0(" base ")\n\t"                                    \
	"movdqu %%xmm1,   16(" base ")\n\t"                                    \
	"movdqu %%xmm2,   32(" base ")\n\t"                                    \
	"movdqu %%xmm3,   48(" base ")\n\t"                                    \
	"movdqu %%xmm4,   64(" base ")\n\t"                                    \
	"movdqu %%xmm5,   80(" base ")\n\t"                                    \
	"movdqu %%xmm6,   96(" base ")\n\t"                                    \
	"movdqu %%xmm7,  112(" base ")\n\t"                                    \
	"movdqu %%xmm8,  128(" base ")\n\t"                                    \
	"movdqu %%xmm9,  144(" base ")\n\t"                                    \
	"movdqu %%xmm10, 160(" base ")\n\t"                                    \
	"movdqu %%xmm11, 176(" base ")\n\t"                                    \
	"movdqu %%xmm12, 192(" base ")\n\t"                                    \
	"movdqu %%xmm13, 208(" base ")\n\t"                                    \
	"movdqu %%xmm14, 224(" base ")\n\t"                                    \
	"movdqu %%xmm15, 240(" base ")\n\t"

#define LOAD_YMM(base)                                                         \
	"vmovdqu   0(" base "), %%ymm0\n\t"                                    \
	"vmovdqu  32(" base "), %%ymm1\n\t"                                    \
	"vmovdqu  64(" base "), %%ymm2\n\t"                                    \
	"vmovdqu  96(" base "), %%ymm3\n\t"                                    \
	"vmovdqu 128(" base "), %%ymm4\n\t"                                    \
	"vmovdqu 160(" base "), %%ymm5\n\t"                                    \
	"vmovdqu 192(" base "), %%ymm6\n\t"                                    \
	"vmovdqu 224(" base "), %%ymm7\n\t"                                    \
	"vmovdqu 256(" base "), %%ymm8\n\t"                                    \
	"vmovdqu 288(" base "), %%ymm9\n\t"                                    \
	"vmovdqu 320(" base "), %%ymm10\n\t"                                   \
	"vmovdqu 352(" base "), %%ymm11\n\t"                                   \
	"vmovdqu 384(" base "), %%ymm12\n\t"                                   \
	"vmovdqu 416(" base "), %%ymm13\n\t"                                   \
	"vmovdqu 448(" base "), %%ymm14\n\t"                                   \
	"vmovdqu 480(" base "), %%ymm15\n\t"

#define STORE_YMM(base)                                                        \
	"vmovdqu %%ymm0,    0(" base ")\n\t"                                   \
	"vmovdqu %%ymm1,   32(" base ")\n\t"                                   \
	"vmovdqu %%ymm2,   64(" base ")\n\t"                                   \
	"vmovdqu %%ymm3,   96(" base ")\n\t"                                   \
	"vmovdqu %%ymm4,  128(" base ")\n\t"                                   \
	"vmovdqu %%ymm5,  160(" base ")\n\t"                                   \
	"vmovdqu %%ymm6,  192(" base ")\n\t"                                   \
	"vmovdqu %%ymm7,  224(" base ")\n\t"                                   \
	"vmovdqu %%ymm8,  256(" base ")\n\t"                                   \
	"vmovdqu %%ymm9,  288(" base ")\n\t"                                   \
	"vmovdqu %%ymm10, 320(" base ")\n\t"                                   \
	"vmovdqu %%ymm11, 352(" base ")\n\t"                                   \
	"vmovdqu %%ymm12, 384(" base ")\n\t"                                   \
	"vmovdqu %%ymm13, 416(" base ")\n\t"                                   \
	"vmovdqu %%ymm14, 448(" base ")\n\t"                                   \
	"vmovdqu %%ymm15, 480(" base ")\n\t"                                   \
	"vzeroupper\n\t"

#define XMM_CLOBBERS                                                           \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",        \
	    "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",       \
	    "xmm15"

static void handler(int sig)
{
	(void)sig;
	/* Real floating-point work with values unlike the interrupted ones. */
	volatile double a = 0.5, b = 3.25, acc = 0;
	for (int i = 1; i < 3000; i++) {
		double x = a * i + b / (i + 0.25);
		acc = acc * 0.999 + x / (1.0 + x * x);
	}
	handler_result = acc;
	volatile float f = 1.5f;
	f = f * 2.25f - 0.125f;
	/* Trash all vector registers, MXCSR and the x87 state. */
	static const unsigned int mx_down = 0x3f80; /* round down, FTZ off */
	static const unsigned short cw_single = 0x007f;
	__asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\t"
			 "pcmpeqd %%xmm1, %%xmm1\n\t"
			 "pcmpeqd %%xmm2, %%xmm2\n\t"
			 "pcmpeqd %%xmm3, %%xmm3\n\t"
			 "pcmpeqd %%xmm4, %%xmm4\n\t"
			 "pcmpeqd %%xmm5, %%xmm5\n\t"
			 "pcmpeqd %%xmm6, %%xmm6\n\t"
			 "pcmpeqd %%xmm7, %%xmm7\n\t"
			 "pcmpeqd %%xmm8, %%xmm8\n\t"
			 "pcmpeqd %%xmm9, %%xmm9\n\t"
			 "pcmpeqd %%xmm10, %%xmm10\n\t"
			 "pcmpeqd %%xmm11, %%xmm11\n\t"
			 "pcmpeqd %%xmm12, %%xmm12\n\t"
			 "pcmpeqd %%xmm13, %%xmm13\n\t"
			 "pcmpeqd %%xmm14, %%xmm14\n\t"
			 "pcmpeqd %%xmm15, %%xmm15\n\t"
			 "fninit\n\t"
			 "fldcw %[cw]\n\t"
			 "fldz\n\t"
			 "fldz\n\t"
			 "fstp %%st(0)\n\t"
			 "fstp %%st(0)\n\t"
			 "ldmxcsr %[mx]\n\t"
			 :
			 : [mx] "m"(mx_down), [cw] "m"(cw_single)
			 : XMM_CLOBBERS, "memory");
	if (has_avx)
		__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
				 "vpcmpeqd %%ymm1, %%ymm1, %%ymm1\n\t"
				 "vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n\t"
				 "vpcmpeqd %%ymm3, %%ymm3, %%ymm3\n\t"
				 "vpcmpeqd %%ymm4, %%ymm4, %%ymm4\n\t"
				 "vpcmpeqd %%ymm5, %%ymm5, %%ymm5\n\t"
				 "vpcmpeqd %%ymm6, %%ymm6, %%ymm6\n\t"
				 "vpcmpeqd %%ymm7, %%ymm7, %%ymm7\n\t"
				 "vpcmpeqd %%ymm8, %%ymm8, %%ymm8\n\t"
				 "vpcmpeqd %%ymm9, %%ymm9, %%ymm9\n\t"
				 "vpcmpeqd %%ymm10, %%ymm10, %%ymm10\n\t"
				 "vpcmpeqd %%ymm11, %%ymm11, %%ymm11\n\t"
				 "vpcmpeqd %%ymm12, %%ymm12, %%ymm12\n\t"
				 "vpcmpeqd %%ymm13, %%ymm13, %%ymm13\n\t"
				 "vpcmpeqd %%ymm14, %%ymm14, %%ymm14\n\t"
				 "vpcmpeqd %%ymm15, %%ymm15, %%ymm15\n\t"
				 :
				 :
				 : XMM_CLOBBERS, "memory");
	sig_count++;
}

static void fill(unsigned char *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 37 + (i >> 3) * 11);
}

static void compare(const char *what, const unsigned char *want,
		    const unsigned char *got, int n, int regsize)
{
	for (int i = 0; i < n; i++)
		if (want[i] != got[i])
			FAIL("%s: register %d byte %d is 0x%02x, want 0x%02x "
			     "(FP state not preserved across the signal)",
			     what, i / regsize, i % regsize, got[i], want[i]);
}

static unsigned char xin[256] __attribute__((aligned(64)));
static unsigned char xout[256] __attribute__((aligned(64)));
static unsigned char yin[512] __attribute__((aligned(64)));
static unsigned char yout[512] __attribute__((aligned(64)));

/* Synchronous: kill(getpid(), SIGUSR1) via a raw syscall between load and store. */
static void sync_xmm_x87(void)
{
	long pid = getpid(), ret = -1;
	unsigned int mx_in = 0x7f80; /* round toward zero */
	unsigned int mx_out = 0, mx_def = 0x1f80;
	unsigned short cw_in = 0x027f, cw_out = 0, cw_def = 0x037f;
	long double a = 1.0L / 3.0L, b = -12345.678901234L, c = 0, d = 0;

	fill(xin, sizeof xin, 1);
	memset(xout, 0, sizeof xout);
	sig_count = 0;
	__asm__ volatile("ldmxcsr %[mxin]\n\t"
			 "fldcw %[cwin]\n\t"
			 "fldt %[a]\n\t"
			 "fldt %[b]\n\t" LOAD_XMM("%[xi]")
			 "mov %[nr], %%eax\n\t"
			 "mov %[pid], %%rdi\n\t"
			 "mov %[sig], %%esi\n\t"
			 "syscall\n\t"
			 "mov %%rax, %[ret]\n\t" STORE_XMM("%[xo]")
			 "fstpt %[c]\n\t"
			 "fstpt %[d]\n\t"
			 "fnstcw %[cwout]\n\t"
			 "stmxcsr %[mxout]\n\t"
			 "fldcw %[cwdef]\n\t"
			 "ldmxcsr %[mxdef]\n\t"
			 : [ret] "=m"(ret), [c] "=m"(c), [d] "=m"(d),
			   [cwout] "=m"(cw_out), [mxout] "=m"(mx_out)
			 : [xi] "r"(xin), [xo] "r"(xout), [pid] "r"(pid),
			   [nr] "i"(SYS_kill), [sig] "i"(SIGUSR1), [mxin] "m"(mx_in),
			   [cwin] "m"(cw_in), [a] "m"(a), [b] "m"(b),
			   [cwdef] "m"(cw_def), [mxdef] "m"(mx_def)
			 : "rax", "rdi", "rsi", "rcx", "r11", "cc", "memory",
			   XMM_CLOBBERS);
	if (ret != 0)
		FAIL("raw kill syscall returned %ld", ret);
	if (sig_count != 1)
		FAIL("SIGUSR1 handler ran %d times, want 1", sig_count);
	compare("sync xmm", xin, xout, sizeof xin, 16);
	printf("fpu: xmm0-15 preserved across a synchronous signal\n");
	if (memcmp(&c, &b, 10) != 0 || memcmp(&d, &a, 10) != 0)
		FAIL("x87 stack registers not preserved: got %Lg %Lg want %Lg %Lg", c,
		     d, b, a);
	if (cw_out != cw_in)
		FAIL("x87 control word 0x%x, want 0x%x", cw_out, cw_in);
	printf("fpu: x87 registers and control word preserved\n");
	if (mx_out != mx_in)
		FAIL("MXCSR 0x%x, want 0x%x", mx_out, mx_in);
	printf("fpu: MXCSR preserved\n");
}

static void sync_ymm(void)
{
	long pid = getpid(), ret = -1;
	fill(yin, sizeof yin, 2);
	memset(yout, 0, sizeof yout);
	sig_count = 0;
	__asm__ volatile(LOAD_YMM("%[yi]")
			 "mov %[nr], %%eax\n\t"
			 "mov %[pid], %%rdi\n\t"
			 "mov %[sig], %%esi\n\t"
			 "syscall\n\t"
			 "mov %%rax, %[ret]\n\t" STORE_YMM("%[yo]")
			 : [ret] "=m"(ret)
			 : [yi] "r"(yin), [yo] "r"(yout), [pid] "r"(pid),
			   [nr] "i"(SYS_kill), [sig] "i"(SIGUSR1)
			 : "rax", "rdi", "rsi", "rcx", "r11", "cc", "memory",
			   XMM_CLOBBERS);
	if (ret != 0)
		FAIL("raw kill syscall returned %ld", ret);
	if (sig_count != 1)
		FAIL("SIGUSR1 handler ran %d times, want 1", sig_count);
	compare("sync ymm", yin, yout, sizeof yin, 32);
}

/* Asynchronous: spin with loaded registers until SIGALRM arrives. */
#define SPIN_LIMIT 8000000000L

static void arm_timer(void)
{
	struct itimerval it = {{0, 0}, {0, 20000}}; /* 20ms, one shot */
	SYS(setitimer(ITIMER_REAL, &it, NULL));
}

static void async_xmm(void)
{
	long left = -1;
	fill(xin, sizeof xin, 3);
	memset(xout, 0, sizeof xout);
	sig_count = 0;
	arm_timer();
	__asm__ volatile(LOAD_XMM("%[xi]")
			 "mov %[lim], %%rdx\n\t"
			 "1:\n\t"
			 "cmpl $0, %[flag]\n\t"
			 "jne 2f\n\t"
			 "dec %%rdx\n\t"
			 "jnz 1b\n\t"
			 "2:\n\t" STORE_XMM("%[xo]")
			 "mov %%rdx, %[left]\n\t"
			 : [left] "=m"(left)
			 : [xi] "r"(xin), [xo] "r"(xout), [flag] "m"(sig_count),
			   [lim] "r"(SPIN_LIMIT)
			 : "rdx", "cc", "memory", XMM_CLOBBERS);
	if (left == 0 || sig_count == 0)
		FAIL("SIGALRM never interrupted a busy loop (asynchronous signal delivery)");
	compare("async xmm", xin, xout, sizeof xin, 16);
	printf("fpu: xmm0-15 preserved across an asynchronous SIGALRM\n");
}

static void async_ymm(void)
{
	long left = -1;
	fill(yin, sizeof yin, 4);
	memset(yout, 0, sizeof yout);
	sig_count = 0;
	arm_timer();
	__asm__ volatile(LOAD_YMM("%[yi]")
			 "mov %[lim], %%rdx\n\t"
			 "1:\n\t"
			 "cmpl $0, %[flag]\n\t"
			 "jne 2f\n\t"
			 "dec %%rdx\n\t"
			 "jnz 1b\n\t"
			 "2:\n\t" STORE_YMM("%[yo]")
			 "mov %%rdx, %[left]\n\t"
			 : [left] "=m"(left)
			 : [yi] "r"(yin), [yo] "r"(yout), [flag] "m"(sig_count),
			   [lim] "r"(SPIN_LIMIT)
			 : "rdx", "cc", "memory", XMM_CLOBBERS);
	if (left == 0 || sig_count == 0)
		FAIL("SIGALRM never interrupted a busy loop (asynchronous signal delivery)");
	compare("async ymm", yin, yout, sizeof yin, 32);
}

/* Plain C: double variables live across a handler that uses the FPU. */
static void c_doubles(void)
{
	volatile double v[8];
	double x0 = 1.25, x1 = -2.5, x2 = 3.75, x3 = 1e-3;
	for (int round = 0; round < 20; round++) {
		x0 = x0 * 1.0625 + x3;
		x1 = x1 / 1.03125 - x0 * 1e-4;
		x2 = x2 + x1 * x0;
		x3 = x3 * 0.5 + 1e-6;
		if (round == 10)
			SYS(raise(SIGUSR1));
	}
	v[0] = x0, v[1] = x1, v[2] = x2, v[3] = x3;
	/* Recompute without the signal; results must be bit-identical. */
	double y0 = 1.25, y1 = -2.5, y2 = 3.75, y3 = 1e-3;
	for (int round = 0; round < 20; round++) {
		y0 = y0 * 1.0625 + y3;
		y1 = y1 / 1.03125 - y0 * 1e-4;
		y2 = y2 + y1 * y0;
		y3 = y3 * 0.5 + 1e-6;
	}
	v[4] = y0, v[5] = y1, v[6] = y2, v[7] = y3;
	for (int i = 0; i < 4; i++)
		if (memcmp((const void *)&v[i], (const void *)&v[i + 4], sizeof(double)) != 0)
			FAIL("double %d: %.17g after a signal, %.17g without", i, v[i], v[i + 4]);
	printf("fpu: C doubles intact across a signal, result %.6f\n", v[2]);
}

int main(void)
{
	veil_init("fpu");
	__builtin_cpu_init();
	has_avx = __builtin_cpu_supports("avx");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	SYS(sigaction(SIGUSR1, &sa, NULL));
	SYS(sigaction(SIGALRM, &sa, NULL));

	sync_xmm_x87();
	/*
	 * stdout must not depend on the CPU features the sandbox reports
	 * (it may hide AVX through CPUID faulting), so the ymm lines are the
	 * same either way and a skip is only mentioned on stderr.
	 */
	if (has_avx)
		sync_ymm();
	else
		fprintf(stderr, "fpu: CPU or kernel without AVX: ymm checks skipped\n");
	printf("fpu: ymm0-15 preserved across a synchronous signal (if AVX)\n");
	async_xmm();
	if (has_avx)
		async_ymm();
	printf("fpu: ymm0-15 preserved across an asynchronous SIGALRM (if AVX)\n");
	c_doubles();
	if (handler_result == 0)
		FAIL("handler computed nothing");
	printf("fpu: ok\n");
	return 0;
}
