package systrap

import (
	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform/internal/stubpool"
)

// The stub pool (platform/internal/stubpool): a systrap stub starts as a
// fork of the zygote, then a few injected system calls for its spare
// thread pair, each a ptrace round trip, and the threads' own set-up. A
// pooled stub is an ordinary addressSpace: its control goroutine already
// runs (locked to the OS thread that seized the stub, its tracer), so
// handing it over needs nothing but a pointer. Pooled stubs are traced
// children of the Sentry like any other stub: they die with it
// (PTRACE_O_EXITKILL, and the Sentry is their pid namespace's init), and
// Close releases them earlier.

// poolSize is how many stubs the pool keeps ready.
const poolSize = stubpool.Size

// stubPool holds the platform's ready stubs.
type stubPool = stubpool.Pool[*addressSpace]

// startPool seeds the pool with stub as; each later one is started by
// newAddressSpace and gets the hot file ahead of its first MapFile.
func (p *Platform) startPool(as *addressSpace) {
	p.pool.Seed(as, func() (*addressSpace, error) {
		as, err := p.newAddressSpace()
		if err == nil {
			as.preinstall()
		}
		return as, err
	})
}

// take returns a pooled stub, or nil if there is none ready.
func (p *Platform) take() *addressSpace {
	as, _ := p.pool.Take()
	return as
}

// Close releases the platform's ready stubs and stops starting new ones,
// once the start-up Start began is over (it waits for that; a platform
// whose start-up failed has nothing left to release).
// Address spaces already handed out are not affected, and NewAddressSpace
// keeps working (it then starts each stub on demand). Once Close and the
// Release of every address space and context have returned, no stub
// process is left after waitReaped.
func (p *Platform) Close() {
	if p.Ready() == nil {
		p.pool.Close()
	}
}

// waitReaped waits until every released address space's stub is reaped.
func (p *Platform) waitReaped() { p.reaping.Wait() }

// poolIdle reports whether the pool is full and its refill goroutine
// idle, and returns the pids of the pooled stubs. For tests.
func (p *Platform) poolIdle() (bool, []int) {
	idle, stubs := p.pool.Idle()
	var pids []int
	for _, as := range stubs {
		pids = append(pids, as.pid)
	}
	return idle, pids
}

// preinstall installs the hot file (in practice the memory file, which
// every address space maps) in the zygote, so that later stubs inherit it,
// and in a pooled stub forked before that, so that the first MapFile into
// it needs no fd passing. Only if the host fd still names the same file:
// a stub never receives a file MapFile was not asked to map. Failures are
// left for MapFile to retry and report.
func (as *addressSpace) preinstall() {
	h := as.p.hot.Load()
	if h == nil {
		return
	}
	as.p.zygote.install(h)
	as.do(func() {
		var st unix.Stat_t
		if unix.Fstat(h.fd, &st) != nil || st.Dev != h.dev || st.Ino != h.ino {
			return
		}
		// A file inherited from the zygote that is no longer the hot
		// one is not worth keeping alive in a stub that may wait long
		// in the pool.
		as.fdMu.Lock()
		for hostFD, f := range as.fds {
			if hostFD != h.fd || f.dev != h.dev || f.ino != h.ino {
				as.p.syscall(as.controlThread(), unix.SYS_CLOSE, uintptr(f.fd))
				delete(as.fds, hostFD)
			}
		}
		as.fdMu.Unlock()
		as.stubFD(as.controlThread(), h.fd)
	})
}
