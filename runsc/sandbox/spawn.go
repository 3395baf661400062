package sandbox

import (
	"os/exec"
	"runtime"
	"slices"
	"sync"

	"github.com/veil-sandbox/veil/runsc/network"
	"golang.org/x/sys/unix"
)

// GoferFileCaps are the capabilities the gofer keeps once it is set up:
// serving files as their owners takes no others.
var GoferFileCaps = []uintptr{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
	unix.CAP_FOWNER, unix.CAP_FSETID}

// The helpers are started from threads whose capability bounding set
// already holds no more than the helper needs to set itself up (its
// mounts and pivot_root, and dropping capabilities). Linux drops bounding
// capabilities one at a time and per thread, so a Go helper that dropped
// forty of them itself paid forty stop-the-world rounds of
// syscall.AllThreadsSyscall, ~5 ms of its start-up; a child inherits the
// set of the thread that forked it at no cost. The helpers still drop
// whatever they do not keep (runsc's confineCapabilities); they then find
// only these left.
//
// Setting up takes CAP_SYS_ADMIN (mounts, pivot_root), CAP_SETPCAP (the
// drops) and, for the Sentry, CAP_DAC_OVERRIDE (it builds its root of
// read-only directories); the gofer also needs CAP_SYS_PTRACE to read
// its parent's /proc/PID/ns/mnt (gofer.checkPrivateMountNS): the parent
// holds more capabilities than it does.
var (
	sentrySpawner = &spawner{keep: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_DAC_OVERRIDE}}
	goferSpawner  = &spawner{keep: append([]uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_SYS_PTRACE}, GoferFileCaps...)}
)

// A spawner starts processes from one OS thread with a cut-down bounding
// set. The thread is locked for good: it must never run other goroutines
// (whose children would inherit its set), and it must outlive the
// children it starts, which get Pdeathsig when the thread that forked
// them exits.
type spawner struct {
	keep []uintptr

	once sync.Once
	reqs chan spawnRequest // made by the first start
}

type spawnRequest struct {
	cmd   *exec.Cmd
	netns string // "": the caller's network namespace
	done  chan error
}

// start starts cmd, in the network namespace at netns if it is not "".
func (s *spawner) start(cmd *exec.Cmd, netns string) error {
	s.once.Do(func() {
		s.reqs = make(chan spawnRequest)
		go s.serve(s.reqs)
	})
	r := spawnRequest{cmd: cmd, netns: netns, done: make(chan error, 1)}
	s.reqs <- r
	return <-r.done
}

func (s *spawner) serve(reqs chan spawnRequest) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// On the main thread, which must keep its set: /proc/PID/status
		// shows its credentials, and it forks the children of anyone
		// who happens to run on it. Hand over to a new goroutine, kept
		// off this thread while we hold it locked.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			s.serve(reqs)
		}()
		<-locked
		runtime.UnlockOSThread()
		return
	}
	// Threads the runtime starts later are not forks of a locked one
	// (it starts them from its template thread), so the cut set stays
	// on this thread. Dropping needs CAP_SETPCAP; without it (not root)
	// the helpers drop what they can themselves.
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if !slices.Contains(s.keep, c) {
			unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
		}
	}
	for r := range reqs {
		if r.netns == "" {
			r.done <- r.cmd.Start()
			continue
		}
		back, err := network.OnThreadIn(r.netns, r.cmd.Start)
		r.done <- err
		if !back {
			// In the wrong namespace: a new goroutine, on a thread of
			// its own (not this locked one), serves from now on, and
			// this thread lives on for its children's Pdeathsig.
			go s.serve(reqs)
			select {}
		}
	}
}
