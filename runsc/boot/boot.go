package boot

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/socket/hostinet"
	"github.com/veil-sandbox/veil/sentry/vdso"
)

// Files are the host descriptors runsc hands the Sentry besides stdio.
type Files struct {
	// Gofers are the gofer connections: the root filesystem's first,
	// then one per Spec.BindMounts entry.
	Gofers []*os.File
	// Net are the packet sockets of Spec.Interfaces, in that order.
	Net []*os.File
	// Control is the listening control socket.
	Control *os.File
	// Ready receives one ReadyMessage once the container is created (or
	// could not be), then is closed.
	Ready *os.File
	// Exit, if set, receives the first process's exit status (an
	// ExitMessage) when the sandbox ends: runsc reads it after the
	// Sentry is gone.
	Exit *os.File
	// Log receives the Sentry's own messages (and --strace); stderr if
	// nil.
	Log *os.File
	// Commit is read after Ready: runsc writes one byte (CommitCreated
	// or CommitStart) once it has recorded the container. End of file
	// before that means runsc died while creating it, and the Sentry
	// exits.
	Commit *os.File
	// Platform runs the application: begun by NewPlatform before the
	// Sentry's seccomp filter, finished by Run (nil: ptrace).
	Platform *PlatformStart
	// Host describes the host's processors, read by the Sentry before it
	// confined itself (nil: described from CPUID alone).
	Host *hostinfo.Info
	// HostNetwork is the network the Sentry read before it confined
	// itself, for --network=host (nil otherwise).
	HostNetwork *hostinet.Host
	// Calibration is the vDSO's TSC calibration, begun when the Sentry
	// started (nil: begun by Run).
	Calibration *vdso.Calibration
}

// What runsc writes on the commit pipe (Files.Commit).
const (
	// CommitCreated: the container is recorded as created.
	CommitCreated byte = 'c'
	// CommitStart: recorded as running; start the first process now.
	CommitStart byte = 's'
)

// ReadyMessage is what the Sentry writes on the ready pipe.
type ReadyMessage struct {
	Error string `json:"error,omitempty"`
	// Code is the exit code runsc should report for Error (126/127 for
	// a program that cannot be executed / found).
	Code int `json:"code,omitempty"`
}

// ExitMessage is what the Sentry writes to the exit file.
type ExitMessage struct {
	// ExitStatus is the wait(2) status of the first process.
	ExitStatus uint32 `json:"exitStatus"`
}

// exitGoferLost is the Sentry's exit code when its gofer died (as docker
// uses 125 for the runtime's own failures).
const exitGoferLost = 125

// Run builds the sandbox of spec, creates its first process, reports on
// f.Ready, serves the control socket and, once started, runs until the
// first process exits. It returns the Sentry's exit code: the first
// process's (128+N for a signal).
func Run(spec *Spec, f Files) int {
	logw := io.Writer(os.Stderr)
	if f.Log != nil {
		logw = f.Log
	}
	ready := func(m ReadyMessage) {
		if f.Ready != nil {
			json.NewEncoder(f.Ready).Encode(m)
			f.Ready.Close()
			f.Ready = nil
		}
	}
	fail := func(code int, msg string) int {
		ready(ReadyMessage{Error: msg, Code: code})
		return code
	}
	if spec.OCI == nil || spec.OCI.Process == nil {
		return fail(1, "spec has no process")
	}
	s, err := build(spec, f)
	if err != nil {
		return fail(1, err.Error())
	}
	if spec.Debug {
		fmt.Fprintf(logw, "runsc: %s\n", s.platformNote)
	}
	if spec.Strace {
		s.k.Strace = logw
	}
	if spec.Network == NetworkSandbox {
		if err := attachInterfaces(netstack.Of(socket.StackFor(s.k)), spec.Interfaces, f.Net); err != nil {
			return fail(1, err.Error())
		}
	}
	stdio, err := dupStdio(3 + spec.PreserveFDs)
	if err != nil {
		return fail(1, err.Error())
	}
	var profile *specs.LinuxSeccomp
	if spec.OCI.Linux != nil {
		profile = spec.OCI.Linux.Seccomp
	}
	filters, err := seccompFilters(profile)
	if err != nil {
		return fail(1, err.Error())
	}
	var con *console
	if len(spec.RelayTerminal) > 0 {
		if con, err = newConsole(s, spec); err != nil {
			return fail(1, err.Error())
		}
	}
	init, tty, err := newProcess(s.k, spec.OCI.Process, filters, stdio, spec.Terminal, true, con)
	if err != nil {
		code := 1
		if se, ok := err.(*startError); ok {
			code = se.code
		}
		return fail(code, err.Error())
	}
	cs := newControlServer(s.k, init, tty, filters)
	cs.pod = s
	if f.Control != nil {
		go cs.serve(int(f.Control.Fd()))
	}
	if con != nil {
		// Relaying begins before the process runs, so none of its
		// output waits.
		con.start()
	}
	forwardSignals(cs, con)
	ready(ReadyMessage{})
	if f.Commit != nil {
		b := make([]byte, 1)
		n, _ := f.Commit.Read(b)
		f.Commit.Close()
		if n == 0 {
			fmt.Fprintf(logw, "runsc: the runsc creating the container went away; sandbox stopped\n")
			return 1
		}
		if b[0] == CommitStart {
			cs.start()
		}
	}

	lost := make(chan lostGofer, 1)
	for i, c := range s.clients {
		go func() {
			<-c.Lost()
			lost <- lostGofer{i, c.Err()}
		}()
	}
	ended := make(chan kernel.WaitStatus, 1)
	go func() { ended <- s.k.Wait() }()
	var ws kernel.WaitStatus
	select {
	case ws = <-ended:
	case g := <-lost:
		// Without its gofer the sandbox cannot reach its files: stop it
		// rather than let the program limp on with EIO.
		fmt.Fprintf(logw, "runsc: gofer exited unexpectedly (connection %d: %v); sandbox stopped\n", g.index, g.err)
		ws = kernel.WaitStatusExited(exitGoferLost)
	}
	if con != nil {
		con.drain()
	}
	if f.Exit != nil {
		json.NewEncoder(f.Exit).Encode(ExitMessage{ExitStatus: uint32(ws)})
		f.Exit.Close()
	}
	cs.finish(uint32(ws), time.Second)
	if spec.Debug {
		if u := s.k.Unimplemented(); len(u) > 0 {
			fmt.Fprintf(logw, "runsc: unimplemented syscalls and features used: %s\n", strings.Join(u, ", "))
		} else {
			fmt.Fprintf(logw, "runsc: no unimplemented syscalls were used\n")
		}
	}
	return control.ExitCode(uint32(ws))
}

type lostGofer struct {
	index int
	err   error
}
