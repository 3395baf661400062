// Package ptrace implements platform.Platform by running application code in
// "stub" host processes controlled with ptrace(2). It needs nothing beyond
// ptrace permission over our own children, so it works everywhere, at the
// price of a host context-switch round trip per application trap.
//
// # Stub processes
//
// A stub is a tiny static ELF executable generated at package init (see
// stub.go) and kept in a memfd. Each AddressSpace is one stub process,
// started by fork+exec of /proc/self/fd/N from a goroutine locked to its OS
// thread; that thread becomes the stub's parent and tracer (PTRACE_TRACEME
// through SysProcAttr.Ptrace), and it serves all requests on the stub's
// original ("control") thread: mappings are changed by injecting
// mmap/munmap, new threads by injecting clone. An injected syscall is one
// SETREGS + CONT + wait4 + GETREGS: the control thread runs `syscall; int3`
// in the stub code page and traps back.
//
// On start-up the stub unmaps everything but its own two pages at stubBase
// (exec'd stack, vdso, vvar) and closes every inherited fd except the fd
// passing socket, leaving [0, MaxUserAddress()) empty for the Sentry. Stubs
// run in their own session so terminal signals (^C, SIGWINCH) never reach
// them, die with the Sentry (Pdeathsig and PTRACE_O_EXITKILL), and never
// execute an application syscall: application code only ever runs under
// PTRACE_SYSEMU. As a second line of defence, start-up ends by installing a
// seccomp filter that kills the stub if a system call is ever made from
// anywhere but the stub's own injection sites (see seccomp.go).
//
// # File descriptors
//
// MapFile takes a host fd of the Sentry. Each stub inherits one end of an
// AF_UNIX SOCK_SEQPACKET socketpair as its fd 0; to install a new host fd it
// is sent with SCM_RIGHTS and a short recvmsg sequence is injected whose
// final instruction loads the received fd number into rax, so the tracer
// never reads stub memory. Because that number transits the stub's data
// page, which application threads can write, it is checked against
// /proc/<stub>/fd/<n> (device and inode) before use. Translations are cached
// per stub, keyed by host fd and validated with (st_dev, st_ino) on each
// MapFile, so a closed and reused host fd number is detected. In the common
// case (one memory file) installing costs one injection per address space.
//
// # Contexts
//
// Each Context owns one stub thread in the address space it last ran in,
// traced by the Context's own (locked) OS thread: it is created by an
// injected clone (the child idles in a pause loop) and then attached with
// PTRACE_SEIZE + PTRACE_INTERRUPT. The syscall path is exactly PTRACE_SETREGS,
// PTRACE_SYSEMU, wait4, PTRACE_GETREGS (plus a getcpu, see cpu.go).
//
// MapFile and Unmap called from the goroutine of a Context whose stub thread
// is in that address space (the page fault path) inject on that thread
// directly instead of handing the request to the control goroutine.
//
// Interrupt uses SIGWINCH sent with tgkill: its default action is to be
// ignored, so a stray delivery to an untraced stub thread is harmless.
//
// # Requirements on the rest of the Sentry
//
// The Sentry must never wait for "any child" (wait4(-1), waitid(P_ALL)):
// a thread of the Sentry may reap any tracee of any other Sentry thread, and
// doing so would steal this package's stops. Stubs are started by exec of
// /proc/self/fd/N, so /proc must stay reachable for NewAddressSpace.
package ptrace

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/platform/internal/sigchld"
	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

// Platform is the ptrace platform. Create it with New.
type Platform struct {
	counters

	// stubFD is a read-only memfd holding the stub executable; stubPath
	// names it for execve.
	stubFD   int
	stubPath string

	// cpus is the CPU set unbound stub threads may use: the affinity of
	// the thread that called New.
	cpus unix.CPUSet

	// fpSize and fpInit are the host xsave area size and a freshly exec'd
	// thread's FP state, captured by New's probe stub and immutable after.
	fpMu   sync.Mutex
	fpSize int
	fpInit arch.FPState

	// pool holds stubs started ahead of NewAddressSpace (see pool.go);
	// hot is the file to install in them ahead of MapFile.
	pool stubPool
	hot  atomic.Pointer[hotFile]
}

var _ platform.Platform = (*Platform)(nil)

// New returns a ptrace platform. It starts one stub to check that ptrace
// works here and to learn the host's xsave layout; that stub becomes the
// first of the pool of ready stubs (see pool.go), which a background
// goroutine fills and keeps full until Close.
func New() (*Platform, error) {
	// Stops need not signal us (see sigchld); only a cost if it fails.
	sigchld.NoStopSignals()
	fd, err := writeStubFile()
	if err != nil {
		return nil, fmt.Errorf("ptrace platform: %w", err)
	}
	p := &Platform{stubFD: fd, stubPath: fmt.Sprintf("/proc/self/fd/%d", fd)}
	if err := unix.SchedGetaffinity(0, &p.cpus); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ptrace platform: sched_getaffinity: %w", err)
	}
	as, err := p.newAddressSpace()
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ptrace platform: probe stub: %w", err)
	}
	p.startPool(as)
	return p, nil
}

// NewAddressSpace returns a new stub process: a ready one from the pool if
// there is one, else one started now.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	if as := p.take(); as != nil {
		return as, nil
	}
	as, err := p.newAddressSpace()
	if err != nil {
		return nil, err
	}
	return as, nil
}

// NewContext returns a context; its stub thread is created lazily by the
// first Switch.
func (p *Platform) NewContext() (platform.Context, error) {
	return &context{p: p}, nil
}

// MaxUserAddress is one past the highest application address. The stub
// pages sit above it, at stubBase.
func (p *Platform) MaxUserAddress() uintptr { return maxUserAddress }

// Stats counts host operations since New, for benchmarks.
type Stats struct {
	PtraceRequests uint64 // ptrace(2) calls
	Waits          uint64 // wait4(2) calls that returned a status
	Switches       uint64 // Switch calls that resumed application code
	Injections     uint64 // syscalls injected into stub control threads
	Rebinds        uint64 // CPU affinity changes of stub threads
}

// Stats returns the platform's counters.
func (p *Platform) Stats() Stats {
	return Stats{
		PtraceRequests: p.requests.Load(),
		Waits:          p.waits.Load(),
		Switches:       p.switches.Load(),
		Injections:     p.injections.Load(),
		Rebinds:        p.rebinds.Load(),
	}
}

// captureFP records the xsave size and initial FP state from a freshly
// exec'd stub thread, once per platform.
func (p *Platform) captureFP(tid int) error {
	p.fpMu.Lock()
	defer p.fpMu.Unlock()
	if p.fpInit != nil {
		return nil
	}
	// Larger than any xsave area; the kernel trims iov_len to the real
	// size.
	buf := make([]byte, 1<<16)
	n, err := p.getXstate(tid, buf)
	if err != nil {
		return fmt.Errorf("PTRACE_GETREGSET(NT_X86_XSTATE): %w", err)
	}
	if n < xsaveHeaderEnd {
		return fmt.Errorf("xsave area too small: %d bytes", n)
	}
	p.fpSize = n
	p.fpInit = append(arch.FPState(nil), buf[:n]...)
	return nil
}

// Offsets in the (standard format) xsave area.
const (
	xsaveXCR0      = 464 // ptrace reports the user XCR0 in the first sw_reserved bytes
	xsaveBV        = 512 // xsave header: xstate_bv
	xsaveHeaderEnd = 576
	xfeatureFPSSE  = 0x3 // x87 | SSE
)

// normalizeFP turns a caller-supplied FP state into exactly what
// PTRACE_SETREGSET accepts: the host's full xsave size (a short state is
// completed from the initial state) with the x87 and SSE bits of xstate_bv
// set. Setting those bits is needed because the kernel treats a component
// whose bit is clear as being in its init state and ignores the buffer, so
// an edit of the legacy fxsave image (e.g. xmm0 at offset 160) in a state
// read from a thread that never used SSE would otherwise be dropped. It is
// safe because GETREGSET fills clear components with their init values, so
// the buffer is always meaningful.
func (p *Platform) normalizeFP(s arch.FPState) (arch.FPState, error) {
	if p.fpInit == nil {
		return nil, fmt.Errorf("ptrace: FP layout unknown")
	}
	if len(s) < 512 || len(s) > p.fpSize {
		return nil, fmt.Errorf("ptrace: FP state of %d bytes (want 512..%d)", len(s), p.fpSize)
	}
	st := p.fpInit.Clone()
	copy(st, s)
	le := binary.LittleEndian
	xcr0 := le.Uint64(st[xsaveXCR0:])
	le.PutUint64(st[xsaveBV:], le.Uint64(st[xsaveBV:])|(xcr0&xfeatureFPSSE))
	return st, nil
}
