// Package systrap implements platform.Platform with stub processes whose
// application threads run untraced: a seccomp filter turns each of their
// system calls into a SIGSYS, and the stub's signal handler hands the
// thread to the Sentry through shared memory. No ptrace request is on the
// path of an application system call or fault.
//
// # Stub processes
//
// The stub executable (stub.go) is generated at start-up, as the ptrace
// platform's is. One copy of it, the zygote (zygote.go), is exec'd per
// platform; each address space is a fork of the zygote (a clone injected
// into it with ptrace), taken over by its own control goroutine with
// PTRACE_SEIZE. The zygote unmaps everything but the stub pages, keeps
// only two fds (the fd passing socket, shared by every stub, and the slot
// memfd), installs the signal handler for the trap signals and the stub
// seccomp filter (seccomp.go); every fork inherits all of that.
//
// The zygote must be started before the Sentry installs its own seccomp
// filter (runsc boot does so): filters are inherited, and under the
// Sentry's every application system call would kill the stub.
//
// # Threads
//
// A context (context.go) has two threads in the stub it runs in. Its
// application thread runs application code, untraced, under an extra
// per-thread filter that confines it to the handler's system calls. Its
// mapper thread never runs application code: it is traced by the
// context's OS thread, which injects the mmap and munmap calls the
// context's page faults need, without a hand-off to another thread.
// Memory mappings are thus always made with arguments the Sentry put in
// registers or in the stub's request page, never with anything read from
// memory the application can write. Several mappings at once (a fault
// window whose pages are not contiguous in the memory file, the windows a
// new program is about to touch) go in one injection: the batch site
// loops over requests the Sentry wrote to the request page, a page of the
// slot memfd mapped read-only in the stub, so the application can read
// but never forge them; completion is still the ptrace stop at the end
// of the loop, which the application cannot fake either. A context that leaves a stub that lives on parks its mapper
// thread there, untraced in the pause loop where it runs no code the
// application can influence, for the next context to seize.
//
// Each application thread has a 64 KiB slot (layout.go) of a memfd the
// Sentry also maps: a context page and the thread's alternate signal
// stack. On a trap (SIGSYS for a system call, SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGTRAP, or the interrupt signal) the kernel writes the full
// thread state (general registers, xsave area) into a signal frame on that
// stack; the handler notes where, records the FS and GS bases, flips the
// slot's state word to TRAPPED and waits for RUN, spinning a little, then
// on the futex. The Sentry reads and writes the frame in place and the
// handler resumes with rt_sigreturn. FPState and SetFPState cost no system
// call at all.
//
// # Interrupts
//
// Interrupt sends interruptSignal to the application thread with tgkill;
// the thread traps with it wherever it runs. A thread that ignores it for
// interruptKill (only possible if the application blocked it by editing
// its own frame) gets its stub killed.
//
// # Requirements on the rest of the Sentry
//
// As for the ptrace platform: the Sentry must never wait for "any child",
// /proc must stay reachable (the zygote is exec'd from /proc/self/fd/N,
// and fd passing is checked through /proc/<stub>/fd), and the Sentry's own
// seccomp filter must allow what this package does: ptrace (SEIZE, DETACH,
// INTERRUPT, CONT, GETREGS, SETREGS), wait4, tgkill, kill, shared (not
// private) FUTEX_WAIT and FUTEX_WAKE on the slot memfd, fallocate on it,
// sendmsg on the fd passing socket, getcpu and sched_setaffinity.
package systrap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/platform/internal/sigchld"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// Platform is the systrap platform. Create it with New.
type Platform struct {
	counters

	stub     *stub
	stubFD   int
	stubPath string
	slots    *slotFile
	zygote   *zygote
	// started is closed when the start-up is over, startErr set if it
	// failed (Ready).
	started  chan struct{}
	startErr error

	// cpus is the CPU set unbound stub threads may use: the affinity of
	// the thread that called New.
	cpus unix.CPUSet
	ncpu int

	// fdMu serialises passing files over the socket every stub shares.
	fdMu sync.Mutex

	// The FP layout, learnt from the first application thread's frame
	// and immutable after: the xsave size, the frame's software bytes
	// and user features, uc_flags, and a new thread's FP state.
	fpMu      sync.Mutex
	fpSize    int
	fpSw      [xsaveBV - xsaveSwBytes]byte
	xfeatures uint64
	ucFlags   uint64
	fpInit    arch.FPState

	// Spinning (spin.go): calibration, and how many Sentry threads spin
	// and how many contexts are inside Switch.
	itersPerMs  atomic.Int64 // 0 until calibrated (calibrate)
	calibration sync.Once
	noSpin      bool
	// noPatch disables syscall-site rewriting (VEIL_SYSTRAP_NOPATCH).
	noPatch  bool
	spinners atomic.Int32
	active   atomic.Int32

	pool stubPool
	hot  atomic.Pointer[hotFile]
	// reaping counts released address spaces whose stub is not reaped
	// yet (see addressSpace.Release).
	reaping sync.WaitGroup

	// workers are idle locked goroutines for address spaces' control
	// goroutines (see runLocked).
	workersMu sync.Mutex
	workers   []chan func()
}

var _ platform.Platform = (*Platform)(nil)

var (
	stubOnce  [2]sync.Once
	stubCache [2]*stub
)

// stubFor returns the stub for a CPU with or without FSGSBASE.
func stubFor(fsgsbase bool) *stub {
	i := 0
	if fsgsbase {
		i = 1
	}
	stubOnce[i].Do(func() { stubCache[i] = buildStub(fsgsbase) })
	return stubCache[i]
}

// New returns a systrap platform once it works (Start, then Ready).
func New() (*Platform, error) {
	p, err := Start()
	if err != nil {
		return nil, err
	}
	if err := p.Ready(); err != nil {
		return nil, err
	}
	return p, nil
}

// Start begins a systrap platform's start-up and returns once what must
// come before the process installs a seccomp filter of its own is done:
// the exec of the zygote (see the package comment). The rest goes on in
// the background: the zygote's set-up, and one stub whose first
// application thread checks that traps work here and shows the signal
// frame's layout; that stub becomes the first of the pool of ready stubs.
// Ready says how it went; NewAddressSpace waits for it.
func Start() (*Platform, error) {
	// Stops of the threads it injects into need not signal us (see
	// sigchld); only a cost if it fails.
	sigchld.NoStopSignals()
	fsgsbase, err := haveFSGSBASE()
	if err != nil {
		return nil, fmt.Errorf("systrap platform: %w", err)
	}
	st := stubFor(fsgsbase)
	fd, err := writeStubFile(st.image)
	if err != nil {
		return nil, fmt.Errorf("systrap platform: %w", err)
	}
	p := &Platform{stub: st, stubFD: fd, stubPath: fmt.Sprintf("/proc/self/fd/%d", fd), started: make(chan struct{})}
	fail := func(err error) (*Platform, error) {
		p.freeFiles()
		return nil, fmt.Errorf("systrap platform: %w", err)
	}
	if err := unix.SchedGetaffinity(0, &p.cpus); err != nil {
		return fail(fmt.Errorf("sched_getaffinity: %w", err))
	}
	p.ncpu = p.cpus.Count()
	p.noSpin = os.Getenv("VEIL_SYSTRAP_NOSPIN") != ""
	p.noPatch = os.Getenv("VEIL_SYSTRAP_NOPATCH") != ""
	if p.slots, err = newSlotFile(); err != nil {
		return fail(err)
	}
	z, setUp, err := p.startZygote()
	if err != nil {
		return fail(err)
	}
	p.zygote = z
	go p.finishStart(setUp)
	return p, nil
}

// finishStart waits for the zygote's set-up, then probes the first stub
// and seeds the pool with it.
func (p *Platform) finishStart(setUp <-chan error) {
	defer close(p.started)
	fail := func(err error, zygoteServes bool) {
		if zygoteServes {
			p.zygote.stop()
		}
		p.freeFiles()
		p.startErr = fmt.Errorf("systrap platform: %w", err)
	}
	if err := <-setUp; err != nil {
		fail(err, false)
		return
	}
	as, err := p.newAddressSpace()
	if err != nil {
		fail(fmt.Errorf("probe stub: %w", err), true)
		return
	}
	if err := p.probe(as); err != nil {
		as.Release()
		fail(fmt.Errorf("probe stub: %w", err), true)
		return
	}
	p.startPool(as)
}

// Ready waits until the start-up Start began is over and says whether the
// platform works. If not, it has released what it held.
func (p *Platform) Ready() error {
	<-p.started
	return p.startErr
}

// freeFiles releases the stub image and the slot file.
func (p *Platform) freeFiles() {
	if p.slots != nil {
		unix.Munmap(p.slots.mem)
		unix.Close(p.slots.fd)
	}
	unix.Close(p.stubFD)
}

// probe runs the probe stub's spare application thread up to its first
// report, which tells the FP layout, and gives it back as the spare.
func (p *Platform) probe(as *addressSpace) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &context{p: p}
	sp := *as.spare
	if err := c.moveTo(as); err != nil {
		return err
	}
	// Give the threads back: the mapper is let loose again (detached
	// into its pause loop), the application thread stays waiting.
	c.p.ptraceData(unix.PTRACE_DETACH, c.pr.mapper, 0, 0)
	as.mu.Lock()
	as.threads--
	delete(as.tracers, c.tracer)
	as.spare = &sp
	as.mu.Unlock()
	return nil
}

// learnFP records the FP layout from the first trap frame of a new
// application thread, once per platform.
func (p *Platform) learnFP(c *context) error {
	p.fpMu.Lock()
	defer p.fpMu.Unlock()
	if p.fpInit != nil {
		return nil
	}
	sw := c.fp[xsaveSwBytes:xsaveBV]
	const magic1 = 0x46505853
	if le.Uint32(sw) != magic1 {
		return fmt.Errorf("signal frame without xsave state (no XSAVE?)")
	}
	ext, features, size := le.Uint32(sw[4:]), le.Uint64(sw[8:]), le.Uint32(sw[16:])
	if size < xsaveHeaderEnd || ext < size+4 || size > altStackSize/2 || features&xfeatureFPSSE != xfeatureFPSSE {
		return fmt.Errorf("unexpected xsave layout in the signal frame: size %d, extended %d, features %#x", size, ext, features)
	}
	fp := c.p.slots.region(c.pr.slot, c.fpAddr, int(size)+4)
	if fp == nil || le.Uint32(fp[size:]) != fpXstateMagic2 {
		return fmt.Errorf("signal frame xsave area out of place")
	}
	p.fpSize = int(size)
	copy(p.fpSw[:], sw)
	p.xfeatures = features
	p.ucFlags = le.Uint64(c.uc[ucFlags:])
	c.fp, c.fpTail = fp[:size:size], fp[size:]
	p.fpInit = c.readFP()
	return nil
}

// normalizeFP turns a caller-supplied FP state into a full-size image
// (completed from the initial state) with the x87 and SSE bits of
// xstate_bv set, as the ptrace platform does: a clear bit makes XRSTOR
// ignore the component, so an edit of the legacy image of a thread that
// never used SSE would otherwise be dropped.
func (p *Platform) normalizeFP(s arch.FPState) (arch.FPState, error) {
	if p.fpInit == nil {
		return nil, fmt.Errorf("systrap: FP layout unknown")
	}
	if len(s) < 512 || len(s) > p.fpSize {
		return nil, fmt.Errorf("systrap: FP state of %d bytes (want 512..%d)", len(s), p.fpSize)
	}
	st := p.fpInit.Clone()
	copy(st, s)
	le.PutUint64(st[xsaveBV:], le.Uint64(st[xsaveBV:])|xfeatureFPSSE)
	return st, nil
}

// NewAddressSpace returns a new stub process: a ready one from the pool if
// there is one, else one started now.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	if err := p.Ready(); err != nil {
		return nil, err
	}
	if as := p.take(); as != nil {
		return as, nil
	}
	as, err := p.newAddressSpace()
	if err != nil {
		return nil, err
	}
	return as, nil
}

// NewContext returns a context; its threads are made by the first Switch.
func (p *Platform) NewContext() (platform.Context, error) {
	return &context{p: p, cpu: cpuUnknown}, nil
}

// MaxUserAddress is one past the highest application address; the same as
// the ptrace platform's, so that programs see the same address space.
func (p *Platform) MaxUserAddress() uintptr { return maxUserAddress }

// patchOK says whether sites are worth counting for patching.
func (p *Platform) patchOK() bool { return p.stub.fsgsbase && !p.noPatch }

// Stats counts host operations since New, for benchmarks and tests.
type Stats struct {
	PtraceRequests uint64 // ptrace(2) calls
	Waits          uint64 // wait4(2) calls that returned a status
	Switches       uint64 // resumes of application code
	Injections     uint64 // system calls injected into stub threads
	Wakes          uint64 // futex wakes of a sleeping application thread
	Sleeps         uint64 // futex sleeps of the Sentry waiting for a trap
	FastTraps      uint64 // system calls that came through a rewritten site
	Conversions    uint64 // fast-path waits turned into signal frames
	SlotsInUse     int    // thread slots held by stubs
}

// Stats returns the platform's counters.
func (p *Platform) Stats() Stats {
	return Stats{
		PtraceRequests: p.requests.Load(),
		Waits:          p.waits.Load(),
		Switches:       p.switches.Load(),
		Injections:     p.injections.Load(),
		Wakes:          p.wakes.Load(),
		Sleeps:         p.sleeps.Load(),
		FastTraps:      p.fastTraps.Load(),
		Conversions:    p.conversions.Load(),
		SlotsInUse:     int(p.slots.used.Load()),
	}
}

// stop kills the zygote (only when New fails, or in tests: stubs already
// forked do not need it).
func (z *zygote) stop() {
	unix.Kill(z.pid, unix.SIGKILL)
	z.do(func() {
		for {
			ws, err := z.p.wait(z.pid)
			if err != nil || exited(ws) {
				return
			}
		}
	})
	close(z.reqs)
	<-z.done
	unix.Close(z.sock)
}

// haveFSGSBASE reports whether the kernel lets user code use the
// RD/WR{FS,GS}BASE instructions (HWCAP2_FSGSBASE in the auxiliary
// vector); without them the handler uses arch_prctl.
func haveFSGSBASE() (bool, error) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return false, fmt.Errorf("reading the auxiliary vector: %w", err)
	}
	const atHWCAP2, hwcap2FSGSBASE = 26, 1 << 1
	r := bytes.NewReader(b)
	for {
		var kv [2]uint64
		if binary.Read(r, binary.LittleEndian, &kv) != nil || kv[0] == 0 {
			return false, nil
		}
		if kv[0] == atHWCAP2 {
			return kv[1]&hwcap2FSGSBASE != 0, nil
		}
	}
}
