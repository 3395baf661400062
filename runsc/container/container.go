// Package container is one container's lifecycle on top of a sandbox:
// create, start, signal, exec, pause, wait and delete, with its state kept
// in a directory under the runtime's root (--root). runsc's commands, the
// shim and the CRI server are thin callers of this package.
//
// The state directory of container ID is ROOT/ID (mode 0700): state.json
// (written atomically under an exclusive flock of the directory), the
// Sentry's control socket and the exit status file the Sentry writes when
// the container's first process exits. A container whose sandbox process
// is gone is stopped, whatever state.json last said, so a killed Sentry,
// gofer or runsc never leaves a container that claims to run.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/cgroup"
	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/runsc/logfile"
	"github.com/veil-sandbox/veil/runsc/sandbox"
	"golang.org/x/sys/unix"
)

// Container is a container known to the runtime.
type Container struct {
	State
	dir string
	// child is the sandbox when this process started it.
	child *sandbox.Sandbox
	// stale: the directory has no state (see loadStale).
	stale bool
}

// CreateOptions describe a container to create.
type CreateOptions struct {
	// Bundle is the bundle directory (absolute); Spec its config.json
	// (see LoadBundle) and Rootfs its root filesystem (absolute).
	Bundle string
	Spec   *specs.Spec
	Rootfs string
	// Stdio are the first process's stdin, stdout, stderr and preserved
	// descriptors. Ignored with a terminal.
	Stdio []*os.File
	// Console is the terminal for a process.terminal container whose
	// caller relays it itself (runsc run in a terminal); otherwise
	// ConsoleSocket receives the terminal's master, as with runc.
	Console       *os.File
	ConsoleSocket string
	// RelayTerminal lists the descriptors of Stdio (among 0-2) that are
	// the caller's terminal, which the caller has put in raw mode: the
	// process gets a pseudo-terminal of the Sentry's in their place,
	// relayed to that terminal, starting with the settings RelayTermios
	// (runsc do on a terminal; see boot.Spec).
	RelayTerminal []int
	RelayTermios  *unix.Termios
	PIDFile       string
	// Binary is the runsc executable that runs the sandbox ("": this
	// process's own; see sandbox.Options).
	Binary string
	// Detach leaves the sandbox running on its own when the caller exits
	// (runsc create); otherwise it dies with the caller.
	Detach bool
	// Start runs the process right away (the container is then
	// running when Create returns), as Create followed by Start would.
	Start bool
	// Systemd names the cgroup as slice:prefix:name (--systemd-cgroup).
	Systemd bool
	// Log receives the sandbox's messages (the --log file, or stderr);
	// LogArgs are the global flags it needs; Logger is the caller's.
	Log     *os.File
	LogArgs []string
	Logger  *logfile.Logger
	// HostSignalsActOnInit: see boot.Spec (runsc do).
	HostSignalsActOnInit bool
	Overlay              bool
	// Network is the network mode (boot.NetworkSandbox, ...).
	Network string
	// NetRaw allows raw IP sockets (runsc --net-raw).
	NetRaw bool
	Strace bool
	Debug  bool
}

// Create creates container id in root: its sandbox runs, its first
// process exists but does not run until Start. On failure nothing is
// left behind.
func Create(root, id string, o *CreateOptions) (c *Container, err error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if role, sandboxID := PodRole(o.Spec); role == PodContainer && sandboxID != id {
		return createInPod(root, id, sandboxID, o)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", root, err)
	}
	dir, lock, err := newStateDir(root, id)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	c = &Container{dir: dir, State: State{
		ID: id, Bundle: o.Bundle, Rootfs: o.Rootfs, Status: Creating,
		Created: time.Now().UTC(), Owner: ownerName(), Creator: processOf(os.Getpid()), Spec: o.Spec,
	}}
	var sb *sandbox.Sandbox
	var cg *cgroup.Cgroup
	defer func() {
		if err != nil {
			sb.Kill()
			if cg != nil {
				cg.Destroy()
			}
			os.RemoveAll(dir)
		}
	}()
	if cg, err = newCgroup(id, o.Spec, o.Systemd); err != nil {
		return nil, err
	}
	if cg != nil {
		c.Cgroup = cg.Path()
	}
	// Recorded before anything runs, with the cgroup: a runsc killed from
	// here on leaves a container that reads as stopped and that delete
	// cleans up. (Killed before this write, it leaves a directory without
	// state, which Load treats the same way.) The sandbox itself never
	// outlives a creator that dies before committing it.
	if err := writeState(dir, &c.State); err != nil {
		return nil, err
	}

	terminal, hold := o.Spec.Process.Terminal, o.Spec.Process.Terminal
	stdio, closeStdio, err := o.stdio()
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	ctl, err := control.Listen(filepath.Join(dir, controlSocket))
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	exit, err := os.OpenFile(filepath.Join(dir, exitFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("exit status file: %w", err)
	}
	defer exit.Close()

	sb, err = sandbox.Start(&sandbox.Options{
		Binary: o.Binary, Spec: o.Spec, Rootfs: o.Rootfs, Control: ctl, Exit: exit, Log: o.Log, LogArgs: o.LogArgs,
		Stdio: stdio, Terminal: terminal, HoldTerminal: hold, Detach: o.Detach,
		RelayTerminal: o.RelayTerminal, RelayTermios: o.RelayTermios,
		Overlay: o.Overlay, Network: o.Network, NetRaw: o.NetRaw, Strace: o.Strace, Debug: o.Debug, HostSignalsActOnInit: o.HostSignalsActOnInit,
		Limits: sandboxLimits(cg), PodVolumes: boot.PodVolumeSources(o.Spec.Annotations), Pod: isPodSandbox(o.Spec),
		BeforeRun: func(goferPID, sentryPID int) error {
			c.Gofer, c.Sandbox = processOf(goferPID), processOf(sentryPID)
			if cg != nil {
				for _, pid := range []int{goferPID, sentryPID} {
					if err := cg.Add(pid); err != nil {
						return err
					}
				}
			}
			if o.Spec.Process.OOMScoreAdj != nil {
				if err := setOOMScoreAdj(sentryPID, *o.Spec.Process.OOMScoreAdj); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	c.child = sb
	if err := c.runCreateHooks(o.Spec); err != nil {
		return nil, err
	}
	if err := sb.HandOverNetwork(c.control()); err != nil {
		return nil, err
	}
	return c.commitCreated(dir, o, sb.Commit)
}

// runCreateHooks runs the hooks of a container being created, on the
// host: prestart, createRuntime and createContainer (the container's
// namespaces exist only inside the Sentry, so all run in runsc's).
func (c *Container) runCreateHooks(spec *specs.Spec) error {
	h := spec.Hooks
	if h == nil {
		return nil
	}
	//nolint:staticcheck // prestart is deprecated but engines still send it.
	hooks := append(append([]specs.Hook{}, h.Prestart...), h.CreateRuntime...)
	hooks = append(hooks, h.CreateContainer...)
	return runHooks("createRuntime", hooks, c.ociState(Creating))
}

// commitCreated records a created container, writes its pid file and
// commits it in the Sentry (commit), then runs the poststart hooks if
// it started. With o.Start, the container starts as it is committed,
// sparing a control round trip (runsc run and do); startContainer hooks
// need the separate Start.
func (c *Container) commitCreated(dir string, o *CreateOptions, commit func(start bool) error) (*Container, error) {
	start := o.Start && (o.Spec.Hooks == nil || len(o.Spec.Hooks.StartContainer) == 0)
	c.State.Status = Created
	if start {
		c.State.Status = Running
	}
	if err := writeState(dir, &c.State); err != nil {
		return nil, err
	}
	if o.PIDFile != "" {
		if err := writePIDFile(o.PIDFile, c.Sandbox.PID); err != nil {
			return nil, err
		}
	}
	if err := commit(start); err != nil {
		return nil, err
	}
	if start {
		if h := o.Spec.Hooks; h != nil {
			if err := runHooks("poststart", h.Poststart, c.ociState(Running)); err != nil {
				return c, warning{err}
			}
		}
	}
	return c, nil
}

// stdio returns the first process's descriptors: o.Stdio, or with a
// terminal the console (o.Console, or a new pseudo-terminal whose master
// goes to o.ConsoleSocket) in place of 0-2. done closes what it opened.
func (o *CreateOptions) stdio() (stdio []*os.File, done func(), err error) {
	stdio, done = o.Stdio, func() {}
	if !o.Spec.Process.Terminal {
		return stdio, done, nil
	}
	tty := o.Console
	if tty == nil {
		if o.ConsoleSocket == "" {
			return nil, nil, errors.New("process.terminal is set but no --console-socket was given")
		}
		master, slave, err := openPTY(o.Spec.Process.ConsoleSize)
		if err != nil {
			return nil, nil, err
		}
		done = func() {
			master.Close()
			slave.Close()
		}
		if err := sendConsole(o.ConsoleSocket, master); err != nil {
			done()
			return nil, nil, err
		}
		tty = slave
	}
	return append([]*os.File{tty, tty, tty}, stdio[min(3, len(stdio)):]...), done, nil
}

// WaitChild waits for the sandbox this process created (with Detach
// false, it is our child) to end and returns its exit code: the first
// process's, 128+N for a signal.
func (c *Container) WaitChild() (int, error) {
	if c.child == nil || c.child.Sentry == nil {
		return 0, errors.New("the sandbox is not a child of this process")
	}
	err := c.child.Sentry.Wait()
	if g := c.child.Gofer; g != nil {
		// With the Sentry gone the gofer has nobody to serve; no need to
		// wait for it to notice.
		g.Process.Kill()
		g.Wait()
	}
	c.child = nil
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
	return 0, err
}

// SignalSandbox sends sig to the Sentry process itself (which forwards it
// as it forwards host signals: to the first process, or for ^C and the
// like to its terminal's foreground group).
func (c *Container) SignalSandbox(sig unix.Signal) error {
	if !c.Sandbox.Alive() {
		return fmt.Errorf("container %q is not running", c.ID)
	}
	return unix.Kill(c.Sandbox.PID, sig)
}

func ownerName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func setOOMScoreAdj(pid, v int) error {
	p := "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
	if err := os.WriteFile(p, []byte(strconv.Itoa(v)), 0); err != nil {
		return fmt.Errorf("process.oomScoreAdj %d: %w", v, err)
	}
	return nil
}

// writePIDFile writes pid atomically, as engines read it right away.
func writePIDFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// Load finds container id in root.
func Load(root, id string) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	s, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, errTornState) {
		return loadStale(dir, id)
	}
	if err != nil {
		return nil, err
	}
	return &Container{State: *s, dir: dir}, nil
}

// loadStale handles a state directory without a (readable) state file:
// one being created (its creator holds the lock), or left by a creator
// killed before it wrote any state or by a host crash, which reads as
// stopped so that delete removes it.
func loadStale(dir, id string) (*Container, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("container %q does not exist", id)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("container %q is being created", id)
	}
	if s, err := readState(dir); err == nil {
		return &Container{State: *s, dir: dir}, nil // written meanwhile
	}
	return &Container{State: State{ID: id, Status: Stopped}, dir: dir, stale: true}, nil
}

// List returns the containers in root, by id.
func List(root string) ([]*Container, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() || checkID(e.Name()) != nil {
			continue
		}
		if c, err := Load(root, e.Name()); err == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SweepAbandoned deletes the containers in root whose ids start with
// prefix and that nobody will delete: stopped, and the runsc that
// created them gone. runsc do deletes its container when the command
// ends; one that was killed (SIGKILL, a test's timeout) cannot, and its
// next run cleans up after it.
func SweepAbandoned(root, prefix string) {
	cs, _ := List(root)
	for _, c := range cs {
		if strings.HasPrefix(c.ID, prefix) && c.Status() == Stopped && !c.Creator.Alive() {
			c.Delete(true)
		}
	}
}

// Status is the container's status now: what was recorded, unless the
// sandbox (or, while creating, the runsc creating it) is gone.
func (c *Container) Status() Status {
	switch c.State.Status {
	case Creating:
		if c.Creator.Alive() {
			return Creating
		}
		return Stopped
	case Stopped:
		return Stopped
	}
	if !c.Sandbox.Alive() {
		return Stopped
	}
	if c.isPodMember() && c.exited() {
		return Stopped
	}
	return c.State.Status
}

// PID is the host pid of the sandbox while the container is not
// stopped, else 0.
func (c *Container) PID() int {
	if s := c.Status(); s == Stopped || s == Creating {
		return 0
	}
	return c.Sandbox.PID
}

// OCIState is the container's state as `runsc state` prints it: the OCI
// state with runc's extra fields.
type OCIState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// OCI returns the container's state.
func (c *Container) OCI() OCIState {
	// The status is read once: the sandbox may die between two reads.
	s := c.Status()
	st := c.ociState(s)
	if s == Stopped || s == Creating {
		st.Pid = 0
	}
	return OCIState{State: st, Rootfs: c.Rootfs, Created: c.Created, Owner: c.Owner}
}

func (c *Container) ociState(s Status) specs.State {
	var ann map[string]string
	if c.Spec != nil {
		ann = c.Spec.Annotations
	}
	return specs.State{
		Version: specs.Version, ID: c.ID, Status: specs.ContainerState(s),
		Pid: c.Sandbox.PID, Bundle: c.Bundle, Annotations: ann,
	}
}

func (c *Container) control() sandbox.Control {
	if c.isPodMember() {
		// The pod's Sentry serves it, through its sandbox's socket.
		return sandbox.Control{Path: filepath.Join(c.root(), c.SandboxID, controlSocket), Container: c.ID}
	}
	return sandbox.Control{Path: filepath.Join(c.dir, controlSocket)}
}

// lock takes the container's lock and rereads its state (another runsc
// may have changed it).
func (c *Container) lock() (*dirLock, error) {
	l, err := lockDir(c.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, notExistError{c.ID}
		}
		return nil, err
	}
	s, err := readState(c.dir)
	if err != nil {
		if c.stale && (errors.Is(err, os.ErrNotExist) || errors.Is(err, errTornState)) {
			return l, nil
		}
		l.unlock()
		if errors.Is(err, os.ErrNotExist) {
			return nil, notExistError{c.ID}
		}
		return nil, err
	}
	c.State = *s
	c.stale = false
	return l, nil
}

// notRunning is the error for a command that needs a live container.
func (c *Container) notRunning(what string) error {
	return fmt.Errorf("cannot %s container %q: it is %s", what, c.ID, c.Status())
}

// Start runs the container's first process.
func (c *Container) Start() error {
	l, err := c.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	switch st := c.Status(); st {
	case Created:
	case Stopped:
		return fmt.Errorf("cannot start container %q: it has stopped", c.ID)
	default:
		return fmt.Errorf("cannot start container %q: it is %s", c.ID, st)
	}
	if h := c.Spec.Hooks; h != nil {
		if err := runHooks("startContainer", h.StartContainer, c.ociState(Created)); err != nil {
			return err
		}
	}
	if err := c.control().Start(); err != nil {
		return fmt.Errorf("starting container %q: %w", c.ID, err)
	}
	c.State.Status = Running
	if err := writeState(c.dir, &c.State); err != nil {
		return err
	}
	if h := c.Spec.Hooks; h != nil {
		if err := runHooks("poststart", h.Poststart, c.ociState(Running)); err != nil {
			return warning{err}
		}
	}
	return nil
}

// warning is an error after which the command still succeeded (a failed
// poststart or poststop hook, as the OCI spec says).
type warning struct{ error }

// IsWarning reports whether err only warns.
func IsWarning(err error) bool {
	var w warning
	return errors.As(err, &w)
}

// Signal sends sig to the first process, or with all to every process.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	switch c.Status() {
	case Created, Running, Paused:
	default:
		return fmt.Errorf("container %q is not running", c.ID)
	}
	if err := c.control().Signal(0, sig, all, false); err != nil {
		if !c.Sandbox.Alive() {
			return fmt.Errorf("container %q is not running", c.ID)
		}
		return fmt.Errorf("signalling container %q: %w", c.ID, err)
	}
	return nil
}

// SignalProcess sends sig to process pid of the sandbox, or to the
// foreground group of its terminal.
func (c *Container) SignalProcess(pid int32, sig unix.Signal, foreground bool) error {
	return c.control().Signal(pid, sig, false, foreground)
}

// Pause freezes the container; Resume thaws it.
func (c *Container) Pause() error {
	l, err := c.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := c.Status(); st != Running {
		return fmt.Errorf("cannot pause container %q: it is %s", c.ID, st)
	}
	if err := c.control().Pause(); err != nil {
		return err
	}
	c.State.Status = Paused
	return writeState(c.dir, &c.State)
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	l, err := c.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := c.Status(); st != Paused {
		return fmt.Errorf("cannot resume container %q: it is %s, not paused", c.ID, st)
	}
	if err := c.control().Resume(); err != nil {
		return err
	}
	c.State.Status = Running
	return writeState(c.dir, &c.State)
}

// Processes lists the processes in the container.
func (c *Container) Processes() ([]control.ProcessEntry, error) {
	if st := c.Status(); st == Stopped || st == Creating {
		return nil, fmt.Errorf("container %q is not running", c.ID)
	}
	return c.control().Processes()
}

// Wait waits for the container's first process to exit and returns its
// wait status.
func (c *Container) Wait() (uint32, error) {
	if c.Status() != Stopped {
		if ws, err := c.control().Wait(0); err == nil {
			return ws, nil
		}
	}
	// Gone already: the Sentry left the status behind. Give a Sentry that
	// is just exiting a moment to finish (a container of a pod has its
	// status written when its process exits, the Sentry running on).
	for i := 0; i < 50 && c.Sandbox.Alive() && !(c.isPodMember() && c.exited()); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, exitFile))
	if err == nil && len(b) > 0 {
		var m boot.ExitMessage
		if err := json.Unmarshal(b, &m); err == nil {
			return m.ExitStatus, nil
		}
	}
	return 0, fmt.Errorf("container %q: exit status unknown (the sandbox was killed)", c.ID)
}

// Exec starts p in the running container. stdio are its stdin, stdout
// and stderr, or one terminal if p.Terminal.
func (c *Container) Exec(p *specs.Process, stdio []*os.File) (*sandbox.ExecProcess, error) {
	if st := c.Status(); st != Running {
		if st == Paused {
			return nil, fmt.Errorf("cannot exec in container %q: it is paused", c.ID)
		}
		return nil, fmt.Errorf("cannot exec in container %q: it is %s", c.ID, st)
	}
	var fds []int
	for _, f := range stdio {
		fds = append(fds, int(f.Fd()))
	}
	return c.control().Exec(p, fds)
}

// Stats reads the container's resource usage from its cgroup.
//
// The containers of a pod run in one Sentry, whose host cgroup is the
// pod sandbox's: their stats are the pod's.
func (c *Container) Stats() (*cgroup.Stats, error) {
	if c.isPodMember() {
		return c.podStats()
	}
	if c.Cgroup == "" {
		return nil, fmt.Errorf("container %q has no cgroup (config.json sets no linux.cgroupsPath or resources)", c.ID)
	}
	cg, err := cgroup.Load(c.Cgroup)
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// Delete removes a stopped (or created) container; with force, a running
// one is killed first. Nothing of it is left: processes, cgroup, state.
func (c *Container) Delete(force bool) error {
	l, err := c.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	switch st := c.Status(); st {
	case Stopped, Created:
	default:
		if !force {
			return fmt.Errorf("cannot delete container %q that is not stopped: %s", c.ID, st)
		}
	}
	if err := c.destroy(); err != nil {
		return err
	}
	var hookErr error
	if c.Spec != nil && c.Spec.Hooks != nil && len(c.Spec.Hooks.Poststop) > 0 {
		h := c.Spec.Hooks
		hookErr = runHooks("poststop", h.Poststop, c.ociState(Stopped))
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing state of %q: %w", c.ID, err)
	}
	if hookErr != nil {
		return warning{hookErr}
	}
	return nil
}

// destroy kills whatever of the container still runs and removes its
// cgroup.
func (c *Container) destroy() error {
	if c.isPodMember() {
		return c.destroyInPod()
	}
	for _, p := range []Process{c.Sandbox, c.Gofer} {
		if err := killProcess(p); err != nil {
			return fmt.Errorf("container %q: %w", c.ID, err)
		}
	}
	if role, _ := PodRole(c.Spec); role == PodSandbox {
		if err := c.destroyPodMembers(); err != nil {
			return err
		}
	}
	if c.Cgroup != "" {
		cg, err := cgroup.Load(c.Cgroup)
		if err == nil {
			err = cg.Destroy()
		}
		if err != nil {
			return fmt.Errorf("container %q: %w", c.ID, err)
		}
	}
	return nil
}

// killProcess SIGKILLs p if it is still the same process and waits until
// it is gone (it need not be our child: a pidfd tells).
func killProcess(p Process) error {
	if !p.Alive() {
		return nil
	}
	pidfd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		if err == unix.ESRCH {
			return nil
		}
		return fmt.Errorf("pidfd of %d: %w", p.PID, err)
	}
	defer unix.Close(pidfd)
	if !p.Alive() { // the pid may have been reused before the open
		return nil
	}
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("killing %d: %w", p.PID, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Alive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d did not die", p.PID)
		}
		// Readable when the process exits; a zombie whose parent is slow
		// to reap it counts as gone (Alive says so).
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		unix.Poll(fds, 100)
	}
	return nil
}

// newStateDir makes the state directory of a new container id in root
// and returns it locked (it must not exist yet).
func newStateDir(root, id string) (string, *dirLock, error) {
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", nil, fmt.Errorf("container %q already exists", id)
		}
		return "", nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, lock, nil
}
