package sandbox

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/control"
	"golang.org/x/sys/unix"
)

// Control is a client of a running Sentry's control socket.
type Control struct {
	// Path is the control socket.
	Path string
	// Container is the container of the pod the requests are for; ""
	// is the sandbox's own.
	Container string
}

func (c Control) call(req *control.Request) (*control.Response, error) {
	conn, err := control.Dial(c.Path)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	req.Container = c.Container
	return conn.Call(req)
}

// Network hands the Sentry interfaces of its network namespace, each
// served by the packet socket in files (see control.MethodNetwork).
func (c Control) Network(ifs []control.NetInterface, files []*os.File) error {
	conn, err := control.Dial(c.Path)
	if err != nil {
		return err
	}
	defer conn.Close()
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	resp, err := conn.Call(&control.Request{Method: control.MethodNetwork, Interfaces: ifs}, fds...)
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	return err
}

// Start runs the container's first process.
func (c Control) Start() error {
	_, err := c.call(&control.Request{Method: control.MethodStart})
	return err
}

// Signal sends sig to process pid of the sandbox (0: the first process),
// to all processes, or to the foreground process group of pid's terminal.
func (c Control) Signal(pid int32, sig unix.Signal, all, foreground bool) error {
	_, err := c.call(&control.Request{Method: control.MethodSignal, PID: pid, Signal: int(sig), All: all, Foreground: foreground})
	return err
}

// Wait waits until process pid (0: the first process) exits and returns
// its wait status.
func (c Control) Wait(pid int32) (uint32, error) {
	resp, err := c.call(&control.Request{Method: control.MethodWait, PID: pid})
	if err != nil {
		return 0, err
	}
	return resp.ExitStatus, nil
}

// Processes lists the sandbox's processes.
func (c Control) Processes() ([]control.ProcessEntry, error) {
	resp, err := c.call(&control.Request{Method: control.MethodProcesses})
	if err != nil {
		return nil, err
	}
	return resp.Processes, nil
}

// Pause freezes every process of the sandbox; Resume thaws them.
func (c Control) Pause() error {
	_, err := c.call(&control.Request{Method: control.MethodPause})
	return err
}

// Resume thaws a paused sandbox.
func (c Control) Resume() error {
	_, err := c.call(&control.Request{Method: control.MethodResume})
	return err
}

// ExecProcess is a process started by Exec. Its connection stands for it:
// closing the connection before it exits kills it.
type ExecProcess struct {
	PID  int32
	Conn *control.Conn
}

// Exec starts p in the sandbox with stdio (host descriptors: stdin,
// stdout, stderr; or one terminal if p.Terminal) and returns once it runs.
func (c Control) Exec(p *specs.Process, stdio []int) (*ExecProcess, error) {
	conn, err := control.Dial(c.Path)
	if err != nil {
		return nil, err
	}
	resp, err := conn.Call(&control.Request{Method: control.MethodExec, Process: p, Container: c.Container}, stdio...)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &ExecProcess{PID: resp.PID, Conn: conn}, nil
}

// Wait waits for the process to exit and returns its wait status.
func (e *ExecProcess) Wait() (uint32, error) {
	resp, err := e.Conn.Next()
	if err != nil {
		return 0, fmt.Errorf("waiting for process %d: %w", e.PID, err)
	}
	if !resp.Exited {
		return 0, fmt.Errorf("waiting for process %d: unexpected answer", e.PID)
	}
	return resp.ExitStatus, nil
}
