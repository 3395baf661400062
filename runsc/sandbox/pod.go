package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/control"
)

// ContainerOptions describe a further container of a pod, to run in the
// pod's running sandbox.
type ContainerOptions struct {
	// ID is the container's id; Sandbox the control socket of the
	// pod's sandbox.
	ID      string
	Sandbox Control
	// Spec, Rootfs, Stdio, Terminal, Log, LogArgs, Overlay, Detach: as
	// in Options.
	Spec     *specs.Spec
	Rootfs   string
	Stdio    []*os.File
	Terminal bool
	Log      *os.File
	LogArgs  []string
	Overlay  bool
	Detach   bool
	// Binary: as in Options.
	Binary string
	// Exit receives the container's exit status (a boot.ExitMessage)
	// when its first process exits.
	Exit *os.File
	// PodVolumes and SharePID: see boot.Spec.
	PodVolumes []string
	SharePID   bool
	// BeforeCreate is called with the host pid of the container's gofer
	// before the sandbox builds the container (to put it in the pod's
	// cgroup and record it); an error stops the start.
	BeforeCreate func(goferPID int) error
}

// PodContainer is a container created in a running sandbox, waiting for
// Commit.
type PodContainer struct {
	GoferPID int
	// Gofer is the gofer process, waitable while the caller is its
	// parent.
	Gofer *exec.Cmd
	conn  *control.Conn
}

// StartContainer starts the gofer of a further container of a pod and
// has the sandbox build the container and its first process (not
// running yet). On failure nothing is left running.
func StartContainer(o *ContainerOptions) (pc *PodContainer, err error) {
	self, err := runscBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	binds, goferCfg, err := planMounts(o.Spec, o.Rootfs, o.Overlay, o.PodVolumes)
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{}
	pc = &PodContainer{}
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
		if err != nil {
			pc.Kill()
			sb.Kill()
		}
	}()
	sentryConns, goferConns, err := goferSocketpairs(1 + len(binds))
	toClose = append(append(toClose, sentryConns...), goferConns...)
	if err != nil {
		return nil, err
	}
	goferReady, err := startGofer(sb, &Options{Log: o.Log, LogArgs: o.LogArgs, Detach: o.Detach}, self, goferCfg, goferConns)
	if err != nil {
		return nil, err
	}
	pc.Gofer, pc.GoferPID = sb.Gofer, sb.GoferPID
	sb.Gofer = nil // pc owns it now
	if o.BeforeCreate != nil {
		if err := o.BeforeCreate(pc.GoferPID); err != nil {
			return nil, err
		}
	}
	if err := goferReady(); err != nil {
		return nil, err
	}
	bs := &boot.Spec{
		OCI: o.Spec, BindMounts: binds, PreserveFDs: len(o.Stdio) - 3, Terminal: o.Terminal,
		Overlay: o.Overlay, PodVolumes: o.PodVolumes, SharePID: o.SharePID,
	}
	raw, err := json.Marshal(bs)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, f := range o.Stdio {
		fds = append(fds, int(f.Fd()))
	}
	fds = append(fds, int(o.Exit.Fd()))
	for _, f := range sentryConns {
		fds = append(fds, int(f.Fd()))
	}
	conn, err := control.Dial(o.Sandbox.Path)
	if err != nil {
		return nil, err
	}
	pc.conn = conn
	resp, err := conn.Call(&control.Request{Method: control.MethodCreateContainer, Container: o.ID, Spec: raw}, fds...)
	if err != nil {
		if resp != nil && resp.ExitStatus != 0 {
			return nil, &StartError{Code: int(resp.ExitStatus), Msg: err.Error()}
		}
		return nil, fmt.Errorf("creating the container in the sandbox: %w", err)
	}
	return pc, nil
}

// Commit tells the sandbox the container is recorded, and with start to
// run its first process now. A container never committed is destroyed
// by the sandbox when this process goes away.
func (pc *PodContainer) Commit(start bool) error {
	if pc.conn == nil {
		return nil
	}
	defer func() {
		pc.conn.Close()
		pc.conn = nil
	}()
	if _, err := pc.conn.Call(&control.Request{Method: control.MethodCommit, Start: start}); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// Kill stops what StartContainer started: the sandbox destroys the
// uncommitted container when the connection closes.
func (pc *PodContainer) Kill() {
	if pc == nil {
		return
	}
	if pc.conn != nil {
		pc.conn.Close()
		pc.conn = nil
	}
	if pc.Gofer != nil && pc.Gofer.Process != nil {
		pc.Gofer.Process.Kill()
		pc.Gofer.Wait()
		pc.Gofer = nil
	}
}

// DestroyContainer has the sandbox kill container Container's processes
// and release its mounts.
func (c Control) DestroyContainer() error {
	_, err := c.call(&control.Request{Method: control.MethodDestroyContainer, Container: c.Container})
	return err
}
