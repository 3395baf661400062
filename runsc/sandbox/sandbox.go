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
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/network"
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
	// Binary is the runsc executable started as the gofer and the Sentry
	// (runsc gofer, runsc boot); "" is the caller's own executable, which
	// is runsc except for the shim.
	Binary string
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
	// PodVolumes and Pod: see boot.Spec.
	PodVolumes []string
	Pod        bool
	// NetRaw allows raw IP sockets (runsc --net-raw).
	NetRaw bool
	Strace bool
	Debug  bool
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
	// lateNetwork: the Sentry serves --network=sandbox in a network
	// namespace of its own, which hooks may configure after it started
	// (see HandOverNetwork).
	lateNetwork bool
}

// hasCreateHooks says whether spec has hooks that run while the
// container is created, the only ones that can configure its network
// namespace before it starts.
func hasCreateHooks(spec *specs.Spec) bool {
	h := spec.Hooks
	//nolint:staticcheck // prestart is deprecated but engines still send it.
	return h != nil && len(h.Prestart)+len(h.CreateRuntime) > 0
}

// HandOverNetwork gives the Sentry the interfaces that the container's
// createRuntime hooks put into its network namespace (docker's bridge
// network configures a namespace the runtime made), as runsc did at
// boot for a namespace named in config.json. Without such hooks the
// namespace holds only lo and nothing is done.
func (sb *Sandbox) HandOverNetwork(c Control) error {
	if !sb.lateNetwork {
		return nil
	}
	ifs, files, err := network.Take(fmt.Sprintf("/proc/%d/ns/net", sb.SentryPID))
	if err != nil {
		return fmt.Errorf("sandbox network: %w", err)
	}
	if len(ifs) == 0 {
		return nil
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	return c.Network(ifs, files)
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
	self, err := runscBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	binds, goferCfg, err := planMounts(o.Spec, o.Rootfs, o.Overlay, o.PodVolumes)
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
	sentryConns, goferConns, err := goferSocketpairs(1 + len(binds))
	toClose = append(append(toClose, sentryConns...), goferConns...)
	if err != nil {
		return nil, err
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
	netns, err := networkNamespace(o.Spec)
	if err != nil {
		return nil, err
	}
	// --network=sandbox in a namespace the caller made: the Sentry's
	// stack takes over its interfaces (in a fresh one it has only
	// loopback, its own).
	var netIfs []boot.NetInterface
	if o.Network == boot.NetworkSandbox && netns == "" && hasCreateHooks(o.Spec) {
		sb.lateNetwork = true
		// The Sentry's filter must allow packet I/O for interfaces it
		// may be handed later.
		args = append(args, "--packet-io")
	}
	if o.Network == boot.NetworkSandbox && netns != "" {
		var netFiles []*os.File
		netIfs, netFiles, err = network.Take(netns)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				// A sandbox that did not start leaves the namespace
				// as it was given.
				if gerr := network.GiveBack(netns, netIfs); gerr != nil {
					err = fmt.Errorf("%w; %v", err, gerr)
				}
			}
		}()
		toClose = append(toClose, netFiles...)
		var netFDs []string
		for _, f := range netFiles {
			netFDs = append(netFDs, fdArg(f))
		}
		if len(netFDs) > 0 {
			args = append(args, "--net-fds", strings.Join(netFDs, ","))
		}
	}
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
	if err := sentrySpawner.start(sentry, netns); err != nil {
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
		Terminal: o.Terminal, Overlay: o.Overlay, Network: o.Network, Interfaces: netIfs, NetRaw: o.NetRaw, Strace: o.Strace, Debug: o.Debug,
		HostSignalsActOnInit: o.HostSignalsActOnInit, Limits: o.Limits,
		RelayTerminal: o.RelayTerminal, RelayTermios: o.RelayTermios, PodVolumes: o.PodVolumes, Pod: o.Pod,
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
	if err := goferSpawner.start(g, ""); err != nil {
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
func planMounts(spec *specs.Spec, rootfs string, overlay bool, podVolumes []string) ([]string, *GoferConfig, error) {
	// Under an overlay the root is never written on the host.
	cfg := &GoferConfig{Root: rootfs, ReadOnly: overlay || spec.Root != nil && spec.Root.Readonly}
	cfg.Conns = append(cfg.Conns, GoferConn{Root: "/", ReadOnly: cfg.ReadOnly})
	var binds []string
	for _, m := range spec.Mounts {
		if boot.IsBind(m) && slices.Contains(podVolumes, path.Clean(m.Source)) {
			continue // the pod's tmpfs, in Sentry memory
		}
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

// runscBinary is the runsc executable that becomes the gofer and the
// Sentry: bin, or this process's own (the shim names runsc's).
func runscBinary(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find own executable: %w", err)
	}
	return self, nil
}

// goferSocketpairs makes n connections between the Sentry and a gofer,
// one per served tree: the Sentry's ends and the gofer's. On failure
// the pairs made so far are returned for the caller to close.
func goferSocketpairs(n int) (sentry, gofer []*os.File, err error) {
	for range n {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return sentry, gofer, fmt.Errorf("gofer socketpair: %w", err)
		}
		gofer = append(gofer, os.NewFile(uintptr(fds[0]), "gofer-io"))
		sentry = append(sentry, os.NewFile(uintptr(fds[1]), "sentry-io"))
	}
	return sentry, gofer, nil
}
