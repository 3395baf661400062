package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/cgroup"
	"github.com/veil-sandbox/veil/runsc/container"
	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/runsc/sandbox"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// outputGrace bounds the wait for a process's last output after it
// exited (see stdio.WaitOutput).
const outputGrace = 2 * time.Second

// service is the task service (task API v2, which containerd 1.6 speaks)
// of one shim: all the containers of one pod, or one container.
type service struct {
	ctx       context.Context
	publisher shim.Publisher
	shutdown  shutdown.Service

	mu         sync.Mutex
	containers map[string]*task1
}

// task1 is one container: its init process and its execs.
type task1 struct {
	id, bundle string
	c          *container.Container
	cfg        *Config
	rootfs     string // mounted by the shim ("" if containerd mounted it)
	init       *process
	execs      map[string]*process
}

// process is the init process or an exec.
type process struct {
	id, execID string
	io         *stdio
	stdin      string
	stdout     string
	stderr     string
	terminal   bool
	spec       *specs.Process // exec: what to run

	mu         sync.Mutex
	pid        uint32
	status     task.Status
	exitStatus uint32
	exitedAt   time.Time
	exited     chan struct{}
}

func newProcess(id, execID, stdin, stdout, stderr string, terminal bool) *process {
	return &process{id: id, execID: execID, stdin: stdin, stdout: stdout, stderr: stderr, terminal: terminal,
		status: task.Status_CREATED, exited: make(chan struct{})}
}

// setExited records the exit once.
func (p *process) setExited(code int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == task.Status_STOPPED {
		return false
	}
	p.status, p.exitStatus, p.exitedAt = task.Status_STOPPED, uint32(code), time.Now()
	close(p.exited)
	return true
}

func (p *process) state() (task.Status, uint32, time.Time, uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.exitStatus, p.exitedAt, p.pid
}

func newService(ctx context.Context, pub shim.Publisher, sd shutdown.Service) *service {
	s := &service{ctx: ctx, publisher: pub, shutdown: sd, containers: map[string]*task1{}}
	sd.RegisterCallback(func(context.Context) error { pub.Close(); return nil })
	return s
}

// RegisterTTRPC serves the task API v2 (containerd.task.v2.Task).
func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskapi.RegisterTTRPCTaskService(server, s)
	return nil
}

func (s *service) publish(topic string, ev any) {
	ctx := namespaces.WithNamespace(context.Background(), namespaceOf(s.ctx))
	if err := s.publisher.Publish(ctx, topic, ev); err != nil {
		log.G(s.ctx).WithError(err).Warnf("publishing %s", topic)
	}
}

func namespaceOf(ctx context.Context) string {
	ns, _ := namespaces.Namespace(ctx)
	return ns
}

// get finds a container and, for a non-empty execID, one of its execs.
func (s *service) get(id, execID string) (*task1, *process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.containers[id]
	if t == nil {
		return nil, nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "container %s", id)
	}
	if execID == "" {
		return t, t.init, nil
	}
	p := t.execs[execID]
	if p == nil {
		return nil, nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "exec %s of container %s", execID, id)
	}
	return t, p, nil
}

// Create creates a container whose first process waits for Start.
func (s *service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, err error) {
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotImplemented, "restoring from a checkpoint is not supported")
	}
	s.mu.Lock()
	_, exists := s.containers[r.ID]
	s.mu.Unlock()
	if exists {
		return nil, errgrpc.ToGRPCf(errdefs.ErrAlreadyExists, "container %s", r.ID)
	}
	cfg, err := configFromOptions(r.Options, namespaceOf(ctx))
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "%v", err)
	}
	if cfg.LogLevel != "" {
		log.SetLevel(cfg.LogLevel)
	}
	// The shim's delete (run by containerd when the shim is gone) has no
	// options: it finds the container's state through the bundle.
	if err := writeBundleConfig(r.Bundle, cfg); err != nil {
		return nil, err
	}
	t := &task1{id: r.ID, bundle: r.Bundle, cfg: cfg, execs: map[string]*process{}}
	if len(r.Rootfs) > 0 {
		rootfs := filepath.Join(r.Bundle, "rootfs")
		var ms []mount.Mount
		for _, m := range r.Rootfs {
			ms = append(ms, mount.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
		}
		if err := mount.All(ms, rootfs); err != nil {
			return nil, fmt.Errorf("mounting the rootfs: %w", err)
		}
		t.rootfs = rootfs
		defer func() {
			if err != nil {
				mount.UnmountAll(rootfs, 0)
			}
		}()
	}
	spec, bundle, rootfs, err := container.LoadBundle(r.Bundle)
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "%v", err)
	}
	warnings, err := container.Check(spec)
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "%v", err)
	}
	for _, w := range warnings {
		log.G(ctx).Warn(w)
	}
	p := newProcess(r.ID, "", r.Stdin, r.Stdout, r.Stderr, r.Terminal)
	if p.io, err = newStdio(r.Stdin, r.Stdout, r.Stderr, r.Terminal, spec.Process.ConsoleSize); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.io.Close()
		}
	}()
	o := cfg.createOptions(spec, bundle, rootfs)
	if r.Terminal != spec.Process.Terminal {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "terminal %v but config.json's process.terminal %v", r.Terminal, spec.Process.Terminal)
	}
	if r.Terminal {
		o.Console = p.io.files[0]
	} else {
		o.Stdio = p.io.files
	}
	o.Log = sandboxLog()
	c, err := container.Create(cfg.Root, r.ID, o)
	if o.Log != nil {
		o.Log.Close()
	}
	p.io.closeProcessEnds()
	if err != nil && !container.IsWarning(err) {
		return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "%v", err)
	}
	t.c, t.init = c, p
	p.pid = uint32(c.Sandbox.PID)
	s.mu.Lock()
	s.containers[r.ID] = t
	s.mu.Unlock()
	if c.Cgroup != "" {
		if err := watchOOM(c.Cgroup, func() {
			s.publish(runtime.TaskOOMEventTopic, &eventstypes.TaskOOM{ContainerID: t.id})
		}); err != nil {
			log.G(ctx).WithError(err).Warnf("container %s: OOM kills will not be reported", t.id)
		}
	}
	go s.waitInit(t)
	s.publish(runtime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs, Pid: p.pid, Checkpoint: r.Checkpoint,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskapi.CreateTaskResponse{Pid: p.pid}, nil
}

// waitInit reports the end of the container's sandbox: its first
// process's exit status, or 128+N when the Sentry itself was killed.
func (s *service) waitInit(t *task1) {
	var code int
	var err error
	if t.c.SandboxID != "" {
		// A further container of a pod: its first process runs in the
		// pod's Sentry, which the Sentry reports on.
		var ws uint32
		if ws, err = t.c.Wait(); err == nil {
			code = control.ExitCode(ws)
		} else {
			code = 128 + int(unix.SIGKILL) // the pod's sandbox is gone
		}
	} else if code, err = t.c.WaitChild(); err != nil {
		log.G(s.ctx).WithError(err).Errorf("waiting for the sandbox of %s", t.id)
		code = 255
	}
	// The execs died with the sandbox.
	s.mu.Lock()
	var execs []*process
	for _, e := range t.execs {
		execs = append(execs, e)
	}
	s.mu.Unlock()
	for _, e := range execs {
		<-e.exited
	}
	t.init.io.WaitOutput(outputGrace)
	if t.init.setExited(code) {
		_, status, at, pid := t.init.state()
		s.publish(runtime.TaskExitEventTopic, &eventstypes.TaskExit{
			ContainerID: t.id, ID: t.id, Pid: pid, ExitStatus: status, ExitedAt: timestamppb.New(at),
		})
	}
}

// Start starts the container's first process or an exec.
func (s *service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	t, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.ExecID == "" {
		if err := t.c.Start(); err != nil && !container.IsWarning(err) {
			return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
		}
		p.mu.Lock()
		if p.status == task.Status_CREATED {
			p.status = task.Status_RUNNING
		}
		p.mu.Unlock()
		s.publish(runtime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: t.id, Pid: p.pid})
		return &taskapi.StartResponse{Pid: p.pid}, nil
	}
	p.mu.Lock()
	started := p.status != task.Status_CREATED || p.pid != 0
	p.mu.Unlock()
	if started {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "exec %s was started already", r.ExecID)
	}
	io, err := newStdio(p.stdin, p.stdout, p.stderr, p.terminal, p.spec.ConsoleSize)
	if err != nil {
		return nil, err
	}
	// With a terminal, the slave three times, as runsc exec passes it.
	proc, err := t.c.Exec(p.spec, io.files)
	io.closeProcessEnds()
	if err != nil {
		io.Close()
		var se *sandbox.StartError
		if errors.As(err, &se) {
			return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
		}
		return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "%v", err)
	}
	p.mu.Lock()
	p.io, p.pid, p.status = io, uint32(proc.PID), task.Status_RUNNING
	p.mu.Unlock()
	go s.waitExec(t, p, proc)
	s.publish(runtime.TaskExecStartedEventTopic, &eventstypes.TaskExecStarted{ContainerID: t.id, ExecID: p.execID, Pid: p.pid})
	return &taskapi.StartResponse{Pid: p.pid}, nil
}

func (s *service) waitExec(t *task1, p *process, proc *sandbox.ExecProcess) {
	ws, err := proc.Wait()
	proc.Conn.Close()
	code := control.ExitCode(ws)
	if err != nil {
		// The sandbox went away under it.
		code = 128 + int(unix.SIGKILL)
	}
	p.io.WaitOutput(outputGrace)
	if p.setExited(code) {
		_, status, at, pid := p.state()
		s.publish(runtime.TaskExitEventTopic, &eventstypes.TaskExit{
			ContainerID: t.id, ID: p.execID, Pid: pid, ExitStatus: status, ExitedAt: timestamppb.New(at),
		})
	}
}

// Exec records a process to run in the container (Start runs it).
func (s *service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (*emptypb.Empty, error) {
	t, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	var ps specs.Process
	if r.Spec == nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "exec %s has no process spec", r.ExecID)
	}
	if err := json.Unmarshal(r.Spec.Value, &ps); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "exec %s: process spec: %v", r.ExecID, err)
	}
	if _, err := container.CheckProcess(&ps); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "exec %s: %v", r.ExecID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := t.execs[r.ExecID]; ok {
		return nil, errgrpc.ToGRPCf(errdefs.ErrAlreadyExists, "exec %s", r.ExecID)
	}
	if st, _, _, _ := t.init.state(); st == task.Status_STOPPED {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "container %s has stopped", r.ID)
	}
	p := newProcess(r.ID, r.ExecID, r.Stdin, r.Stdout, r.Stderr, r.Terminal)
	ps.Terminal = r.Terminal
	p.spec = &ps
	t.execs[r.ExecID] = p
	go s.publish(runtime.TaskExecAddedEventTopic, &eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return &emptypb.Empty{}, nil
}

// State reports a process's state.
func (s *service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	t, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	st, code, at, pid := p.state()
	if r.ExecID == "" && st != task.Status_STOPPED {
		switch t.c.Status() {
		case container.Paused:
			st = task.Status_PAUSED
		case container.Running:
			st = task.Status_RUNNING
		case container.Created:
			st = task.Status_CREATED
		}
	}
	resp := &taskapi.StateResponse{
		ID: r.ID, ExecID: r.ExecID, Bundle: t.bundle, Pid: pid, Status: st,
		Stdin: p.stdin, Stdout: p.stdout, Stderr: p.stderr, Terminal: p.terminal, ExitStatus: code,
	}
	if st == task.Status_STOPPED {
		resp.ExitedAt = timestamppb.New(at)
	}
	return resp, nil
}

// Kill signals the first process (all: every process) or an exec.
func (s *service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	t, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	st, _, _, pid := p.state()
	if st == task.Status_STOPPED {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "process %s already finished", nameOf(p))
	}
	sig := unix.Signal(r.Signal)
	if r.ExecID == "" {
		err = t.c.Signal(sig, r.All)
	} else if pid == 0 {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "exec %s is not started", r.ExecID)
	} else {
		err = t.c.SignalProcess(int32(pid), sig, false)
	}
	if err != nil {
		if st, _, _, _ := p.state(); st == task.Status_STOPPED {
			return nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "process %s already finished", nameOf(p))
		}
		return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "%v", err)
	}
	return &emptypb.Empty{}, nil
}

func nameOf(p *process) string {
	if p.execID != "" {
		return p.execID
	}
	return p.id
}

// Wait waits for a process to exit.
func (s *service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	_, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, errgrpc.ToGRPC(ctx.Err())
	}
	_, code, at, _ := p.state()
	return &taskapi.WaitResponse{ExitStatus: code, ExitedAt: timestamppb.New(at)}, nil
}

// Delete removes an exited exec, or the container with everything it
// left on the host (a running one is killed).
func (s *service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	t, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.ExecID != "" {
		st, code, at, pid := p.state()
		if st != task.Status_STOPPED && pid != 0 {
			return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "exec %s is still running", r.ExecID)
		}
		s.mu.Lock()
		delete(t.execs, r.ExecID)
		s.mu.Unlock()
		if p.io != nil {
			p.io.Close()
		}
		return &taskapi.DeleteResponse{Pid: pid, ExitStatus: code, ExitedAt: timestamppb.New(at)}, nil
	}
	if err := t.c.Delete(true); errors.Is(err, container.ErrNotExist) {
		// A member of a pod whose sandbox was deleted first (containerd
		// handles the exits of a dead Sentry's containers in any order):
		// the sandbox's delete removed it.
		log.G(ctx).Infof("container %s was deleted with its pod", t.id)
	} else if err != nil && !container.IsWarning(err) {
		return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "%v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.setExited(128 + int(unix.SIGKILL))
	}
	p.io.Close()
	if t.rootfs != "" {
		if err := mount.UnmountAll(t.rootfs, 0); err != nil {
			log.G(ctx).WithError(err).Warnf("unmounting the rootfs of %s", t.id)
		}
	}
	os.Remove(filepath.Join(t.bundle, bundleConfigFile))
	s.mu.Lock()
	delete(s.containers, r.ID)
	s.mu.Unlock()
	_, code, at, pid := p.state()
	s.publish(runtime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
		ContainerID: t.id, ID: t.id, Pid: pid, ExitStatus: code, ExitedAt: timestamppb.New(at),
	})
	return &taskapi.DeleteResponse{Pid: pid, ExitStatus: code, ExitedAt: timestamppb.New(at)}, nil
}

// Pids lists the container's processes (their pids in the sandbox).
func (s *service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	t, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	ps, err := t.c.Processes()
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
	}
	resp := &taskapi.PidsResponse{}
	for _, e := range ps {
		resp.Processes = append(resp.Processes, &task.ProcessInfo{Pid: uint32(e.PID)})
	}
	return resp, nil
}

// Pause freezes the container; Resume thaws it.
func (s *service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	t, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	if err := t.c.Pause(); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
	}
	s.publish(runtime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: r.ID})
	return &emptypb.Empty{}, nil
}

func (s *service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	t, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	if err := t.c.Resume(); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
	}
	s.publish(runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: r.ID})
	return &emptypb.Empty{}, nil
}

// Checkpoint is not supported: the Sentry cannot save its state.
func (s *service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, errgrpc.ToGRPCf(errdefs.ErrNotImplemented, "checkpoint is not supported by runsc")
}

// ResizePty sets a process's terminal size.
func (s *service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	_, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	io := p.io
	p.mu.Unlock()
	if io == nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "process %s is not started", nameOf(p))
	}
	if err := io.Resize(r.Width, r.Height); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
	}
	return &emptypb.Empty{}, nil
}

// CloseIO closes a process's stdin.
func (s *service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	_, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	io := p.io
	p.mu.Unlock()
	if r.Stdin && io != nil {
		io.CloseStdin()
	}
	return &emptypb.Empty{}, nil
}

// Update changes the sandbox cgroup's limits.
func (s *service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	t, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	if r.Resources == nil {
		return &emptypb.Empty{}, nil
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.Value, &res); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "resources: %v", err)
	}
	if t.c.Cgroup == "" {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "container %s has no cgroup", r.ID)
	}
	cg, err := cgroup.Load(t.c.Cgroup)
	if err == nil {
		err = cg.Update(&res)
	}
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "%v", err)
	}
	return &emptypb.Empty{}, nil
}

// Stats reports the sandbox cgroup's metrics.
func (s *service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	t, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	st, err := t.c.Stats()
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%v", err)
	}
	var m any = metricsV1(st)
	if unifiedCgroups() {
		m = metricsV2(st)
	}
	a, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, err
	}
	return &taskapi.StatsResponse{Stats: a}, nil
}

// Connect tells containerd who serves the task.
func (s *service) Connect(ctx context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	resp := &taskapi.ConnectResponse{ShimPid: uint32(os.Getpid()), Version: "2"}
	if t, p, err := s.get(r.ID, ""); err == nil && t != nil {
		_, _, _, resp.TaskPid = p.state()
	}
	return resp, nil
}

// Shutdown ends the shim once it serves no container.
func (s *service) Shutdown(ctx context.Context, r *taskapi.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.containers)
	s.mu.Unlock()
	if n > 0 && !r.Now {
		return &emptypb.Empty{}, nil
	}
	s.shutdown.Shutdown()
	return &emptypb.Empty{}, nil
}

// bundleConfigFile, in a container's bundle, keeps the shim's Config for
// the delete subcommand.
const bundleConfigFile = "veil-shim.json"

func writeBundleConfig(bundle string, cfg *Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	tmp := filepath.Join(bundle, "."+bundleConfigFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return os.Rename(tmp, filepath.Join(bundle, bundleConfigFile))
}

func readBundleConfig(bundle string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(bundle, bundleConfigFile))
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", bundleConfigFile, err)
	}
	return &cfg, nil
}

// createOptions are runsc's create options under this configuration.
func (c *Config) createOptions(spec *specs.Spec, bundle, rootfs string) *container.CreateOptions {
	args := []string{"--log-format", "text"}
	if p := c.platform(); p != "" {
		args = append(args, "--platform", p)
	}
	if c.flag("debug") {
		args = append(args, "--debug")
	}
	network := c.Runsc["network"]
	if network == "" {
		network = boot.NetworkSandbox // runsc create's default
	}
	return &container.CreateOptions{
		Bundle: bundle, Spec: spec, Rootfs: rootfs, Binary: c.Binary, Detach: true,
		Systemd: c.flag("systemd-cgroup"), Overlay: c.flag("overlay"), Network: network,
		NetRaw: c.flag("net-raw"), Strace: c.flag("strace"), Debug: c.flag("debug"), LogArgs: args,
	}
}

// sandboxLog opens the shim's log (the fifo "log" in the bundle that
// containerd reads) for the sandbox's own messages; nil if containerd
// does not read it.
func sandboxLog() *os.File {
	fd, err := unix.Open("log", unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	// Blocking again: the sandbox must not lose messages to EAGAIN.
	unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), "shim-log")
}
