// Package sandbox starts the host processes of one sandbox, the gofer
// ("runsc gofer") and the Sentry ("runsc boot"), and talks to a running
// Sentry through its control socket. It knows nothing of state files or
// the OCI lifecycle; package container does.
package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/sentry/fs/sys"
	"golang.org/x/sys/unix"
)

// GoferConfig is what runsc sends the gofer on its configuration pipe.
type GoferConfig struct {
	// Root is the container's root filesystem on the host.
	Root     string            `json:"root"`
	ReadOnly bool              `json:"readonly,omitempty"`
	Mounts   []gofer.BindMount `json:"mounts,omitempty"`
	// Conns are the Sentry connections the gofer serves.
	Conns []GoferConn `json:"conns"`
}

// GoferConn is one served tree.
type GoferConn struct {
	FD       int    `json:"fd"`
	Root     string `json:"root"` // in the gofer's confined view
	ReadOnly bool   `json:"readonly,omitempty"`
}

// Options describe a sandbox to start.
type Options struct {
	// Spec is the container's configuration, checked by the caller;
	// Rootfs its root filesystem on the host (absolute).
	Spec   *specs.Spec
	Rootfs string
	// Control is the listening control socket for the Sentry.
	Control *os.File
	// Exit receives the exit status when the sandbox ends (may be nil).
	Exit *os.File
	// Log receives the Sentry's and gofer's messages; LogArgs are the
	// global flags that make them use it (--log-format, --debug).
	Log     *os.File
	LogArgs []string
	// Stdio are the first process's stdin, stdout and stderr, then its
	// preserved descriptors.
	Stdio []*os.File
	// Terminal makes the terminal on Stdio[0] the first process's
	// controlling terminal. HoldTerminal also makes it the Sentry's own
	// on the host, so that the host's line discipline signals ^C and the
	// like to the Sentry (a terminal runsc allocated; never the user's).
	Terminal     bool
	HoldTerminal bool
	// RelayTerminal and RelayTermios: see boot.Spec.
	RelayTerminal []int
	RelayTermios  *unix.Termios
	// Detach makes the sandbox independent of the caller (runsc create):
	// its own session, not killed when the caller dies.
	Detach bool
	// BeforeRun is called with the host pids of the gofer and the
	// Sentry before the Sentry does anything (to put them into a
	// cgroup); an error stops the start.
	BeforeRun func(goferPID, sentryPID int) error
	// HostSignalsActOnInit: see boot.Spec.
	HostSignalsActOnInit bool
	// Limits are the resource limits of the cgroup the sandbox runs in
	// (see boot.Spec).
	Limits  sys.Limits
	Overlay bool
	// Network is the network mode (boot.NetworkSandbox, ...).
	Network string
	Strace  bool
	Debug   bool
}

// Sandbox is a started sandbox.
type Sandbox struct {
	SentryPID int
	GoferPID  int
	// Sentry and Gofer are the processes, waitable while the caller is
	// their parent.
	Sentry *exec.Cmd
	Gofer  *exec.Cmd
	// commit is the write end of the Sentry's commit pipe.
	commit *os.File
}

// Commit tells a ready sandbox that its creation is complete (recorded),
// and with start to run its first process right away. A sandbox whose
// creator dies before committing exits on its own, so a runsc create
// killed half-way leaves nothing running.
func (sb *Sandbox) Commit(start bool) error {
	if sb.commit == nil {
		return nil
	}
	msg := boot.CommitCreated
	if start {
		msg = boot.CommitStart
	}
	_, err := sb.commit.Write([]byte{msg})
	sb.commit.Close()
	sb.commit = nil
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// StartError is a failure to start the container's process, with the
// exit code runsc reports for it (127: not found, 126: not executable).
type StartError struct {
	Code int
	Msg  string
}

func (e *StartError) Error() string { return e.Msg }

// Start starts the gofer and the Sentry and returns once the Sentry has
// created the container's first process (not running yet) or failed.
// On failure nothing is left running.
func Start(o *Options) (sb *Sandbox, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find own executable: %w", err)
	}
	binds, goferCfg, err := planMounts(o.Spec, o.Rootfs, o.Overlay)
	if err != nil {
		return nil, err
	}
	sb = &Sandbox{}
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
		if err != nil {
			sb.Kill()
		}
	}()

	// One socketpair per served tree.
	var sentryConns, goferConns []*os.File
	for range 1 + len(binds) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("gofer socketpair: %w", err)
		}
		g, s := os.NewFile(uintptr(fds[0]), "gofer-io"), os.NewFile(uintptr(fds[1]), "sentry-io")
		goferConns = append(goferConns, g)
		sentryConns = append(sentryConns, s)
		toClose = append(toClose, g, s)
	}
	// The gofer sets itself up while the Sentry starts.
	goferReady, err := startGofer(sb, o, self, goferCfg, goferConns)
	if err != nil {
		return nil, err
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	commitR, commitW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	toClose = append(toClose, specR, specW, readyR, readyW, commitR)
	defer func() {
		if err != nil {
			commitW.Close()
		}
	}()
	// The Sentry's descriptors: 0-2 and the preserved ones are the first
	// process's; ours follow.
	files := append([]*os.File(nil), o.Stdio...)
	fdArg := func(f *os.File) string {
		files = append(files, f)
		return strconv.Itoa(len(files) - 1)
	}
	args := append([]string{}, o.LogArgs...)
	args = append(args, "boot", "--spec-fd", fdArg(specR), "--ready-fd", fdArg(readyW),
		"--commit-fd", fdArg(commitR), "--control-fd", fdArg(o.Control))
	var goferFDs []string
	for _, c := range sentryConns {
		goferFDs = append(goferFDs, fdArg(c))
	}
	args = append(args, "--gofer-fds", strings.Join(goferFDs, ","))
	if o.Exit != nil {
		args = append(args, "--exit-fd", fdArg(o.Exit))
	}
	if o.Log != nil {
		args = append(args, "--log-fd", fdArg(o.Log))
	}
	sentry := exec.Command(self, args...)
	sentry.Args[0] = "runsc-sandbox"
	sentry.Stdin, sentry.Stdout, sentry.Stderr = files[0], files[1], files[2]
	sentry.ExtraFiles = files[3:]
	// The Sentry gets fresh pid, mount, network, IPC and UTS namespaces:
	// it needs none of the host's, and its stub processes die with it
	// when it (their pid namespace's init) exits.
	attr := &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
	}
	netns, err := networkNamespace(o.Spec)
	if err != nil {
		return nil, err
	}
	// With --network=host the Sentry's host sockets live in the caller's
	// network namespace (or the one config.json names).
	if netns == "" && o.Network != boot.NetworkHost {
		attr.Cloneflags |= unix.CLONE_NEWNET
	}
	// Its own session: signals from the caller's terminal reach only
	// runsc, which forwards them once.
	attr.Setsid = true
	if o.HoldTerminal {
		attr.Setctty, attr.Ctty = true, 0
	}
	if !o.Detach {
		attr.Pdeathsig = unix.SIGKILL
	}
	sentry.SysProcAttr = attr
	if err := startIn(sentry, netns); err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	sb.Sentry, sb.SentryPID = sentry, sentry.Process.Pid
	specR.Close()
	readyW.Close()
	commitR.Close()
	for _, c := range sentryConns {
		c.Close()
	}
	if o.BeforeRun != nil {
		if err := o.BeforeRun(sb.GoferPID, sb.SentryPID); err != nil {
			return nil, err
		}
	}
	bs := &boot.Spec{
		OCI: o.Spec, BindMounts: binds, PreserveFDs: len(o.Stdio) - 3,
		Terminal: o.Terminal, Overlay: o.Overlay, Network: o.Network, Strace: o.Strace, Debug: o.Debug,
		HostSignalsActOnInit: o.HostSignalsActOnInit, Limits: o.Limits,
		RelayTerminal: o.RelayTerminal, RelayTermios: o.RelayTermios,
	}
	if err := json.NewEncoder(specW).Encode(bs); err != nil {
		return nil, fmt.Errorf("sending the spec to the sandbox: %w", err)
	}
	specW.Close()
	sb.commit = commitW
	if err := goferReady(); err != nil {
		return nil, err
	}
	var msg boot.ReadyMessage
	line, rerr := bufio.NewReader(readyR).ReadBytes('\n')
	if rerr != nil {
		return nil, fmt.Errorf("sandbox exited before it was ready%s", sb.exitReason())
	}
	if err := json.Unmarshal(line, &msg); err != nil {
		return nil, fmt.Errorf("sandbox ready message: %w", err)
	}
	if msg.Error != "" {
		return nil, &StartError{Code: msg.Code, Msg: msg.Error}
	}
	return sb, nil
}

// exitReason waits briefly for a Sentry that failed early and describes
// its end.
func (sb *Sandbox) exitReason() string {
	if sb.Sentry == nil {
		return ""
	}
	err := sb.Sentry.Wait()
	sb.Sentry = nil
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

// startGofer starts the gofer and returns a function that waits until it
// has set up its mounts (the Sentry starts meanwhile).
func startGofer(sb *Sandbox, o *Options, self string, cfg *GoferConfig, conns []*os.File) (func() error, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyW.Close()
	files := []*os.File{cfgR, readyW}
	for i, c := range conns {
		cfg.Conns[i].FD = 3 + len(files)
		files = append(files, c)
	}
	args := append([]string{}, o.LogArgs...)
	args = append(args, "gofer", "--config-fd", "3", "--ready-fd", "4")
	g := exec.Command(self, args...)
	g.Args[0] = "runsc-gofer"
	g.ExtraFiles = files
	if o.Log != nil {
		g.Stderr = o.Log
	} else {
		g.Stderr = os.Stderr
	}
	// Its own mount namespace, so it can pivot_root into the container's
	// root without touching the host's mounts; its own session, so the
	// signals of the caller's terminal (^C in the shell that runs
	// `runsc do`) never reach it: runsc forwards them to the sandbox.
	g.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Setsid: true}
	if !o.Detach {
		g.SysProcAttr.Pdeathsig = unix.SIGKILL
	}
	if err := g.Start(); err != nil {
		readyR.Close()
		return nil, fmt.Errorf("starting the gofer: %w", err)
	}
	sb.Gofer, sb.GoferPID = g, g.Process.Pid
	cfgR.Close()
	readyW.Close()
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		readyR.Close()
		return nil, fmt.Errorf("configuring the gofer: %w", err)
	}
	cfgW.Close()
	return func() error {
		defer readyR.Close()
		line, err := bufio.NewReader(readyR).ReadString('\n')
		line = strings.TrimSpace(line)
		if err != nil && line == "" {
			return fmt.Errorf("gofer exited before it was ready")
		}
		if line != "ok" {
			return errors.New(line)
		}
		return nil
	}, nil
}

// planMounts picks the mounts of spec the gofer serves: every bind mount
// is mounted into the gofer's view of the root; each directory gets its
// own connection (so the Sentry mounts it with its own flags), files are
// seen through the root's. It returns the destinations of the directory
// binds in connection order.
func planMounts(spec *specs.Spec, rootfs string, overlay bool) ([]string, *GoferConfig, error) {
	// Under an overlay the root is never written on the host.
	cfg := &GoferConfig{Root: rootfs, ReadOnly: overlay || spec.Root != nil && spec.Root.Readonly}
	cfg.Conns = append(cfg.Conns, GoferConn{Root: "/", ReadOnly: cfg.ReadOnly})
	var binds []string
	for _, m := range spec.Mounts {
		if !boot.IsBind(m) {
			if _, err := boot.ClassifyMount(m, false); err != nil {
				return nil, nil, fmt.Errorf("mount %s: %w", m.Destination, err)
			}
			continue
		}
		st, err := os.Stat(m.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("mount %s: source %s: %w", m.Destination, m.Source, errors.Unwrap(err))
		}
		kind, err := boot.ClassifyMount(m, st.IsDir())
		if err != nil {
			return nil, nil, fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if kind != boot.MountBindDir && kind != boot.MountBindFile {
			continue // served by the Sentry itself (/dev/shm)
		}
		dst := path.Clean(m.Destination)
		b := gofer.BindMount{Source: m.Source, Destination: dst}
		for _, opt := range m.Options {
			switch opt {
			case "ro":
				b.ReadOnly = true
			case "rw":
				b.ReadOnly = false
			case "rbind":
				b.Recursive = true
			}
		}
		cfg.Mounts = append(cfg.Mounts, b)
		if kind == boot.MountBindDir {
			binds = append(binds, dst)
			cfg.Conns = append(cfg.Conns, GoferConn{Root: dst, ReadOnly: b.ReadOnly})
		}
	}
	return binds, cfg, nil
}

// networkNamespace returns the path of the network namespace the sandbox
// joins, or "" for a new one; other namespace paths are refused: the
// Sentry implements pid, mount, IPC and UTS namespaces itself.
func networkNamespace(spec *specs.Spec) (string, error) {
	if spec.Linux == nil {
		return "", nil
	}
	netns := ""
	for _, ns := range spec.Linux.Namespaces {
		switch {
		case ns.Type == specs.UserNamespace:
			return "", fmt.Errorf("linux.namespaces: user namespaces are not supported")
		case ns.Path == "":
		case ns.Type == specs.NetworkNamespace:
			netns = ns.Path
		default:
			return "", fmt.Errorf("linux.namespaces: joining an existing %s namespace (%s) is not supported", ns.Type, ns.Path)
		}
	}
	return netns, nil
}

// startIn starts cmd in the network namespace at netns ("": the
// caller's): the child is forked from an OS thread that joined it. The
// thread must outlive the fork, since a child's Pdeathsig fires when the
// thread that forked it ends: it goes back to the caller's namespace and
// serves on; if it cannot, it stays locked and dies with its goroutine
// rather than serve others in the wrong namespace (and the child, with
// Pdeathsig, dies too: an error either way).
func startIn(cmd *exec.Cmd, netns string) error {
	if netns == "" {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("network namespace: %w", err)
			return
		}
		defer orig.Close()
		f, err := os.Open(netns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("network namespace: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("joining network namespace %s: %w", netns, err)
			return
		}
		err = cmd.Start()
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr == nil {
			runtime.UnlockOSThread()
		} else if err == nil && cmd.SysProcAttr != nil && cmd.SysProcAttr.Pdeathsig != 0 {
			err = fmt.Errorf("leaving network namespace %s: %w", netns, rerr)
		}
		errc <- err
	}()
	return <-errc
}

// Kill kills the sandbox's processes (the Sentry's death takes its stubs
// with it) and reaps them if they are the caller's children.
func (sb *Sandbox) Kill() {
	if sb == nil {
		return
	}
	if sb.commit != nil {
		sb.commit.Close()
		sb.commit = nil
	}
	for _, c := range []*exec.Cmd{sb.Sentry, sb.Gofer} {
		if c != nil && c.Process != nil {
			c.Process.Kill()
			c.Wait()
		}
	}
	sb.Sentry, sb.Gofer = nil, nil
}
