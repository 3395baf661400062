package systrap

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// addressSpace is one stub process, forked from the zygote. Its original
// thread (the "control thread") is traced by the address space's control
// goroutine, locked to its OS thread, which injects the system calls that
// need no particular context: mappings made from another goroutine, and
// clones of mapper threads.
//
// Each context running in the address space has two stub threads there
// (see context.go): its application thread, which runs application code
// and is not traced, and its mapper thread, traced by the context's own OS
// thread, on which the context injects the mappings it needs itself
// (its page faults) without handing them to the control goroutine. A
// hand-off between locked OS threads costs two cross-thread wake-ups,
// which in a VM is far dearer than the injection.
type addressSpace struct {
	p   *Platform
	pid int // stub process = control thread

	// base holds valid control thread registers (segments, flags) as a
	// template for injected calls. Written before the address space is
	// returned, read-only afterwards (contexts use it too).
	base arch.Registers

	reqs chan func()   // work for the control goroutine; nil means stop
	stop chan struct{} // closed when the control goroutine stops serving

	// Owned by the control goroutine: scratch registers and CPU binding.
	regs arch.Registers
	cpu  int

	// reqSlot is the slot memfd page mapped read-only at reqPage; reqMu
	// serialises its batches (see batch).
	reqSlot int
	reqMu   sync.Mutex

	// fdMu serialises installing files in this stub.
	fdMu sync.Mutex
	fds  map[int]stubFile // by host fd

	mu       sync.Mutex
	released bool
	// spare, if not nil, is a thread pair made at start-up and not yet
	// handed to a context: the first Switch into the address space takes
	// it without a hand-off to the control goroutine.
	spare *pair
	// parked are mapper threads that contexts gave back, untraced in the
	// pause loop (see parkThread): the next context to move in seizes
	// one instead of cloning a new one.
	parked  []int
	threads int // mapper threads traced by contexts and not yet reaped
	// [mappedLo, mappedHi) covers every range MapFile was ever asked to
	// map (empty if mappedLo >= mappedHi): Unmap has nothing to do
	// outside it.
	mappedLo, mappedHi uintptr
	// lastEnd and lastFD are where the last MapFile ended and what it
	// mapped (see MapFile).
	lastEnd uintptr
	lastFD  int
	// tracers maps the OS thread id of a context's tracer to the context,
	// for contexts whose mapper thread lives here (see run).
	tracers map[int]*context
	// siteHits counts system call traps per call site (-1: reported).
	siteHits map[uintptr]int
	// contexts are those with threads here. stopping counts Stopped
	// calls under way: Switch waits on stopped until it is 0.
	contexts map[*context]struct{}
	stopping atomic.Int32
	stopped  *sync.Cond
	// slots are every thread slot mapped in this stub: freed for other
	// stubs only once the stub is reaped. retired are those whose
	// application thread was told to exit: reusable here once it has.
	slots, retired []int
}

// pair is the two stub threads of a context in an address space.
type pair struct {
	mapper int // traced by the context (untraced while spare)
	app    int // runs application code; never traced
	slot   int
}

var _ platform.AddressSpace = (*addressSpace)(nil)

func (p *Platform) newAddressSpace() (*addressSpace, error) {
	as := &addressSpace{
		p:        p,
		cpu:      cpuUnknown,
		reqs:     make(chan func()),
		stop:     make(chan struct{}),
		tracers:  make(map[int]*context),
		siteHits: make(map[uintptr]int),
		contexts: make(map[*context]struct{}),
	}
	as.stopped = sync.NewCond(&as.mu)
	ready := make(chan error)
	p.runLocked(func() { as.control(ready) })
	if err := <-ready; err != nil {
		return nil, err
	}
	return as, nil
}

// control is the control goroutine: it forks and seizes the stub, serves
// requests until Release, then reaps the stub. It runs on a worker locked
// to its OS thread (see runLocked), the stub's tracer.
func (as *addressSpace) control(ready chan<- error) {
	if err := as.start(); err != nil {
		if as.pid > 0 {
			unix.Kill(as.pid, unix.SIGKILL)
			as.reap()
		}
		as.p.slots.release(as.slots)
		ready <- err
		return
	}
	ready <- nil

	for f := range as.reqs {
		if f == nil {
			break
		}
		f()
	}
	close(as.stop)
	// Release sent SIGKILL. The leader becomes reapable only after the
	// contexts have reaped their mapper threads.
	as.reap()
	as.p.slots.release(as.slots)
	as.p.reaping.Done()
}

// reap waits for the stub process to be gone.
func (as *addressSpace) reap() {
	for {
		ws, err := as.p.wait(as.pid)
		if err != nil || exited(ws) {
			return
		}
	}
}

// start forks the stub from the zygote, takes it over and makes the spare
// thread pair.
func (as *addressSpace) start() error {
	pid, fds, err := as.p.zygote.fork()
	if err != nil {
		return err
	}
	as.pid, as.fds = pid, fds
	if err := as.p.seize(pid); err != nil {
		return fmt.Errorf("systrap: taking over a new stub: %w", err)
	}
	if err := as.p.getRegs(pid, &as.base); err != nil {
		return fmt.Errorf("systrap: PTRACE_GETREGS: %w", err)
	}
	in := as.controlThread()
	if err := as.mapReqPage(in); err != nil {
		return err
	}
	slot, err := as.mapSlot(in)
	if err != nil {
		return err
	}
	m, err := as.cloneMapper()
	if err != nil {
		return err
	}
	a, err := as.cloneApp(in, slot)
	if err != nil {
		return err
	}
	as.spare = &pair{mapper: m, app: a, slot: slot}
	return nil
}

// controlThread is the injector for the control thread. Only for the
// control goroutine.
func (as *addressSpace) controlThread() injector {
	return injector{tid: as.pid, base: &as.base, regs: &as.regs, cpu: &as.cpu}
}

// mapSlot returns a slot mapped in this stub for a new application
// thread: a retired one whose thread is gone, else a new one mapped
// through thread in.
func (as *addressSpace) mapSlot(in injector) (int, error) {
	f := as.p.slots
	as.mu.Lock()
	for i, s := range as.retired {
		if atomic.LoadUint32(f.state(s)) == stateDead {
			as.retired = append(as.retired[:i], as.retired[i+1:]...)
			as.mu.Unlock()
			// The context page is the only part the handler reads
			// before the Sentry writes it.
			clear(f.bytes(s)[:pageSize])
			f.setWord(s, ctxSelf, uint64(slotAddr(s)))
			atomic.StoreUint32(f.state(s), stateInit)
			return s, nil
		}
	}
	as.mu.Unlock()
	s, err := f.alloc()
	if err != nil {
		return 0, err
	}
	f.setWord(s, ctxSelf, uint64(slotAddr(s)))
	as.mu.Lock()
	as.slots = append(as.slots, s)
	as.mu.Unlock()
	addr := slotAddr(s)
	r, err := as.p.syscall(in, unix.SYS_MMAP, addr, slotSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_FIXED, 1, uintptr(s)*slotSize)
	if err == nil && r != addr {
		err = fmt.Errorf("mmap returned %#x", r)
	}
	if err != nil {
		return 0, fmt.Errorf("systrap: mapping thread slot %d: %w", s, err)
	}
	return s, nil
}

// mapReqPage maps the stub's request page: the first page of a slot of
// its own, read-only.
func (as *addressSpace) mapReqPage(in injector) error {
	s, err := as.p.slots.alloc()
	if err != nil {
		return err
	}
	as.mu.Lock()
	as.slots = append(as.slots, s)
	as.mu.Unlock()
	as.reqSlot = s
	r, err := as.p.syscall(in, unix.SYS_MMAP, reqPage, pageSize, unix.PROT_READ,
		unix.MAP_SHARED|unix.MAP_FIXED, 1, uintptr(s)*slotSize)
	if err == nil && r != reqPage {
		err = fmt.Errorf("mmap returned %#x", r)
	}
	if err != nil {
		return fmt.Errorf("systrap: mapping the request page: %w", err)
	}
	return nil
}

// batch runs reqs on thread in from the request page, reqMax at a time,
// and stops at the first that does not return what it must.
func (as *addressSpace) batch(in injector, reqs []request) error {
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	page := as.p.slots.bytes(as.reqSlot)[:pageSize]
	for len(reqs) > 0 {
		n := min(len(reqs), reqMax)
		if err := as.p.batch(in, page, reqs[:n]); err != nil {
			return err
		}
		reqs = reqs[n:]
	}
	return nil
}

// cloneMapper makes a new mapper thread through the control thread,
// idling untraced in the pause loop until a context seizes it. Only for
// the control goroutine.
func (as *addressSpace) cloneMapper() (int, error) {
	tid, err := as.p.inject(as.controlThread(), as.p.stub.cloneM, as.p.stub.cloneMOK, nil,
		unix.SYS_CLONE, threadFlags, 0, 0, 0, 0)
	if err == nil && tid <= 0 {
		err = unix.Errno(-tid)
	}
	if err != nil {
		return 0, fmt.Errorf("systrap: stub clone: %w", err)
	}
	return int(tid), nil
}

// newMapper is cloneMapper from any goroutine.
func (as *addressSpace) newMapper() (int, error) {
	var tid int
	var err error
	if derr := as.do(func() { tid, err = as.cloneMapper() }); derr != nil {
		return 0, derr
	}
	return tid, err
}

// cloneApp makes the application thread of slot through thread in. The
// thread sets itself up (alternate stack, its filter) and reports to the
// slot; the caller waits for that with waitReady.
func (as *addressSpace) cloneApp(in injector, slot int) (int, error) {
	addr := slotAddr(slot)
	tid, err := as.p.inject(in, as.p.stub.cloneA, as.p.stub.cloneAOK,
		func(r *arch.Registers) { r.R12 = uint64(addr) },
		unix.SYS_CLONE, appThreadFlags, 0, 0, addr+ctxState, 0)
	if err == nil && tid <= 0 {
		err = unix.Errno(-tid)
	}
	if err != nil {
		return 0, fmt.Errorf("systrap: application thread clone: %w", err)
	}
	return int(tid), nil
}

// run runs f with an injector: on the caller's own mapper thread if the
// caller is the goroutine of a context running here (typically: the
// Sentry handling that thread's page fault), else on the control
// goroutine.
func (as *addressSpace) run(f func(in injector) error) error {
	as.mu.Lock()
	released := as.released
	c := as.tracers[unix.Gettid()]
	as.mu.Unlock()
	if released {
		return errReleased
	}
	if c != nil {
		err := f(c.mapperInjector())
		if errors.Is(err, errStubDied) {
			// The wait consumed the thread's exit: it is reaped.
			c.forgetPair()
		}
		return err
	}
	var err error
	if derr := as.do(func() { err = f(as.controlThread()) }); derr != nil {
		return derr
	}
	return err
}

// do runs f on the control goroutine and waits for it.
func (as *addressSpace) do(f func()) error {
	done := make(chan struct{})
	select {
	case as.reqs <- func() { f(); close(done) }:
	case <-as.stop:
		return errReleased
	}
	<-done
	return nil
}

// populateMin is the smallest MapFile that is populated when it follows
// the previous one.
const populateMin = 16 * pageSize

// MapFile implements platform.AddressSpace.MapFile.
func (as *addressSpace) MapFile(addr uintptr, fd int, off int64, length uintptr, at platform.AccessType) error {
	return as.MapFiles(fd, []platform.Mapping{{Addr: addr, Off: off, Length: length, Access: at}})
}

// MapFiles implements platform.MultiMapper: one injection for all of ms
// (up to reqMax), through the request page.
func (as *addressSpace) MapFiles(fd int, ms []platform.Mapping) error {
	reqs := make([]request, 0, len(ms))
	for _, m := range ms {
		if m.Addr%pageSize != 0 || m.Length%pageSize != 0 || m.Off%pageSize != 0 || m.Off < 0 {
			return unix.EINVAL
		}
		if m.Addr+m.Length < m.Addr || m.Addr+m.Length > maxUserAddress {
			return unix.EINVAL
		}
	}
	as.mu.Lock()
	for _, m := range ms {
		if m.Length == 0 {
			continue
		}
		addr, length := m.Addr, m.Length
		if as.mappedLo >= as.mappedHi {
			as.mappedLo, as.mappedHi = addr, addr+length
		} else {
			as.mappedLo, as.mappedHi = min(as.mappedLo, addr), max(as.mappedHi, addr+length)
		}
		flags := unix.MAP_SHARED | unix.MAP_FIXED
		// A window right after the previous one (the Sentry maps a
		// window per page fault): the application is walking through
		// memory, so the whole window is faulted in now, in one system
		// call, rather than page by page as it touches it (each a host
		// page fault, dear in a VM). A lone window is left to be
		// touched, so that sparse use of a large mapping does not
		// commit memory it never uses.
		if length >= populateMin && addr == as.lastEnd && fd == as.lastFD {
			flags |= unix.MAP_POPULATE
		}
		as.lastEnd, as.lastFD = addr+length, fd
		reqs = append(reqs, request{nr: unix.SYS_MMAP,
			args: [6]uintptr{addr, length, uintptr(m.Access.Prot()), uintptr(flags), 0, uintptr(m.Off)}, want: addr})
	}
	as.mu.Unlock()
	if len(reqs) == 0 {
		return nil
	}
	err := as.run(func(in injector) error {
		sfd, err := as.stubFD(in, fd)
		if err != nil {
			return err
		}
		for i := range reqs {
			reqs[i].args[4] = uintptr(sfd)
		}
		if len(reqs) == 1 {
			// No need for the request page.
			r := reqs[0]
			got, err := as.p.syscall(in, r.nr, r.args[:]...)
			if err == nil && got != r.want {
				err = fmt.Errorf("stub mmap returned %#x, want %#x", got, r.want)
			}
			return err
		}
		return as.batch(in, reqs)
	})
	if err != nil {
		m := ms[0]
		return fmt.Errorf("systrap: MapFile(%#x, fd %d, %#x, %#x) and %d more: %w", m.Addr, fd, m.Off, m.Length, len(ms)-1, err)
	}
	return nil
}

// stubFD returns the stub's fd for host fd hostFD, installing it (through
// thread in) if needed. Translations are cached, keyed by host fd and
// checked with (st_dev, st_ino) on each use, so a closed and reused host
// fd number is detected.
func (as *addressSpace) stubFD(in injector, hostFD int) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err != nil {
		return -1, err
	}
	as.fdMu.Lock()
	defer as.fdMu.Unlock()
	if f, ok := as.fds[hostFD]; ok {
		if f.dev == st.Dev && f.ino == st.Ino {
			return f.fd, nil
		}
		// The host fd number now names another file. The stub's
		// mappings keep the old file alive; its fd is not needed.
		as.p.syscall(in, unix.SYS_CLOSE, uintptr(f.fd))
		delete(as.fds, hostFD)
	}
	sf, err := as.p.recvFD(in, as.pid, hostFD)
	if err != nil {
		return -1, err
	}
	as.fds[hostFD] = sf
	if h := as.p.hot.Load(); h == nil || h.fd != hostFD || h.dev != st.Dev || h.ino != st.Ino {
		as.p.hot.Store(&hotFile{fd: hostFD, dev: st.Dev, ino: st.Ino})
	}
	return sf.fd, nil
}

// Unmap implements platform.AddressSpace.Unmap. Only [0, MaxUserAddress)
// can be unmapped; the stub's pages are out of reach.
func (as *addressSpace) Unmap(addr, length uintptr) {
	end := addr + length
	if end < addr || end > maxUserAddress {
		end = maxUserAddress
	}
	addr &^= pageSize - 1
	as.mu.Lock()
	addr, end = max(addr, as.mappedLo), min(end, as.mappedHi)
	as.mu.Unlock()
	if addr >= end {
		return
	}
	as.run(func(in injector) error {
		_, err := as.p.syscall(in, unix.SYS_MUNMAP, addr, end-addr)
		return err
	})
}

// Release implements platform.AddressSpace.Release: it kills the stub.
// The control goroutine reaps it in the background (the host's teardown of
// a stub takes 100 µs and more here, which an exec or exit need not wait
// for); if contexts still have threads in it (e.g. a task that exec'd and
// has not switched to its new address space yet), reaping completes when
// the last of them drops its mapper thread. No application code runs in
// the stub once it is released: every context of it has dropped or is
// about to drop its threads, whose application threads wait in the
// handler until they exit. Platform.waitReaped waits for the reaping.
func (as *addressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	as.mu.Unlock()

	as.p.reaping.Add(1)
	unix.Kill(as.pid, unix.SIGKILL)
	select {
	case as.reqs <- nil:
	case <-as.stop:
	}
}

// isReleased reports whether Release was called (the stub is being killed).
func (as *addressSpace) isReleased() bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.released
}

// takeSpare returns the spare pair, if it is still there.
func (as *addressSpace) takeSpare() *pair {
	as.mu.Lock()
	defer as.mu.Unlock()
	sp := as.spare
	as.spare = nil
	return sp
}

// parkMapper records mapper thread tid as parked.
func (as *addressSpace) parkMapper(tid int) {
	as.mu.Lock()
	as.parked = append(as.parked, tid)
	as.mu.Unlock()
}

// takeParked returns a parked mapper thread, or 0 if there is none.
func (as *addressSpace) takeParked() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	n := len(as.parked)
	if n == 0 {
		return 0
	}
	tid := as.parked[n-1]
	as.parked = as.parked[:n-1]
	return tid
}

// retire records that the application thread of slot was told to exit.
func (as *addressSpace) retire(slot int) {
	as.mu.Lock()
	as.retired = append(as.retired, slot)
	as.mu.Unlock()
}

// threadAdded records a mapper thread context c now traces (and must reap)
// from OS thread tracer.
func (as *addressSpace) threadAdded(c *context, tracer int) {
	as.mu.Lock()
	as.threads++
	as.contexts[c] = struct{}{}
	if as.tracers[tracer] == nil {
		// One goroutine may own several contexts; any of their threads
		// will do for run.
		as.tracers[tracer] = c
	}
	as.mu.Unlock()
}

// threadGone records that context c, traced from OS thread tracer, reaped
// or parked its mapper thread.
func (as *addressSpace) threadGone(c *context, tracer int) {
	as.mu.Lock()
	as.threads--
	delete(as.contexts, c)
	if as.tracers[tracer] == c {
		delete(as.tracers, tracer)
	}
	as.mu.Unlock()
}

// Stopped implements platform.SyscallPatcher.Stopped: it interrupts every
// context running in as, keeps them from resuming application code, runs
// f once none does, and lets them go.
func (p *Platform) Stopped(asi platform.AddressSpace, f func()) {
	as, ok := asi.(*addressSpace)
	if !ok {
		return
	}
	as.stopping.Add(1)
	defer func() {
		as.mu.Lock()
		as.stopping.Add(-1)
		as.stopped.Broadcast()
		as.mu.Unlock()
	}()
	for {
		as.mu.Lock()
		var running []*context
		for c := range as.contexts {
			if c.running.Load() {
				running = append(running, c)
			}
		}
		as.mu.Unlock()
		if len(running) == 0 {
			break
		}
		for _, c := range running {
			c.Interrupt()
		}
		time.Sleep(20 * time.Microsecond)
	}
	f()
}

// waitNotStopped waits until no Stopped call is under way in as.
func (as *addressSpace) waitNotStopped() {
	as.mu.Lock()
	for as.stopping.Load() > 0 {
		as.stopped.Wait()
	}
	as.mu.Unlock()
}

// maxIdleWorkers bounds the locked threads kept for future address spaces.
const maxIdleWorkers = 8

// runLocked runs f on a goroutine locked to its OS thread: an idle worker
// if there is one, else a new one. A worker goes back to the idle list
// when f returns: creating and destroying a locked OS thread for every
// address space costs a quarter of a millisecond here, more than the rest
// of a stub's creation. Reusing one is safe once f has reaped its stub:
// ptrace leaves nothing behind in the tracer then.
func (p *Platform) runLocked(f func()) {
	p.workersMu.Lock()
	if n := len(p.workers); n > 0 {
		w := p.workers[n-1]
		p.workers = p.workers[:n-1]
		p.workersMu.Unlock()
		w <- f
		return
	}
	p.workersMu.Unlock()
	w := make(chan func())
	go func() {
		runtime.LockOSThread()
		for f := range w {
			f()
			p.workersMu.Lock()
			if len(p.workers) >= maxIdleWorkers {
				p.workersMu.Unlock()
				return // the locked thread ends with the goroutine
			}
			p.workers = append(p.workers, w)
			p.workersMu.Unlock()
		}
	}()
	w <- f
}
