package boot

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"github.com/veil-sandbox/veil/sentry/socket"
	"golang.org/x/sys/unix"
)

// controlServer answers the runsc commands that reach a running sandbox
// through its control socket (see package control).
type controlServer struct {
	k       *kernel.Kernel
	init    *kernel.ThreadGroup
	initTTY *kernel.TTY
	// filters are the container's seccomp filters, for exec'd processes.
	filters []*seccomp.Filter

	mu      sync.Mutex
	started bool
	// ttys are the controlling terminals of exec'd processes, by pid,
	// for signals to their foreground group.
	ttys map[kernel.ThreadID]*kernel.TTY

	// done is closed when the sandbox has ended; initStatus is then the
	// first process's wait status.
	done       chan struct{}
	initStatus uint32
	// waiters counts requests that still owe an answer when the sandbox
	// ends (waits, and signals that may end it): finish gives them time.
	waiters sync.WaitGroup

	// pod is the sandbox, which further containers of the pod are built
	// in; containers are those, by id (under mu).
	pod        *sandbox
	containers map[string]*podContainer
}

func newControlServer(k *kernel.Kernel, init *kernel.ThreadGroup, tty *kernel.TTY, filters []*seccomp.Filter) *controlServer {
	return &controlServer{
		k: k, init: init, initTTY: tty, filters: filters,
		ttys:       make(map[kernel.ThreadID]*kernel.TTY),
		done:       make(chan struct{}),
		containers: make(map[string]*podContainer),
	}
}

// serve accepts clients on the listening socket lfd until the Sentry
// exits.
func (cs *controlServer) serve(lfd int) {
	for {
		c, err := control.Accept(lfd)
		if err != nil {
			return
		}
		go cs.handle(c)
	}
}

// finish records the end of the sandbox and gives the requests waiting
// for it up to grace to send their answers.
func (cs *controlServer) finish(ws uint32, grace time.Duration) {
	cs.initStatus = ws
	close(cs.done)
	answered := make(chan struct{})
	go func() {
		cs.waiters.Wait()
		close(answered)
	}()
	select {
	case <-answered:
	case <-time.After(grace):
	}
}

func (cs *controlServer) handle(c *control.Conn) {
	var req control.Request
	fds, err := c.Recv(&req)
	if err != nil {
		c.Close()
		return
	}
	if req.Method == control.MethodExec {
		cs.exec(c, &req, fds) // owns c and fds
		return
	}
	if req.Method == control.MethodCreateContainer {
		cs.createContainer(c, &req, fds) // owns c and fds
		return
	}
	if req.Method == control.MethodNetwork {
		cs.network(c, &req, fds) // owns c and fds
		return
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	defer c.Close()
	var resp control.Response
	if req.Container != "" {
		resp, err = cs.containerRequest(&req)
		if err != nil {
			resp = control.Response{Error: err.Error()}
		}
		c.Send(&resp)
		return
	}
	switch req.Method {
	case control.MethodStart:
		err = cs.start()
	case control.MethodSignal:
		// The answer is owed even when the signal ends the sandbox
		// (SIGKILL of the first process): finish waits for it, or
		// `runsc kill` would see the socket close and report the
		// container not running.
		cs.waiters.Add(1)
		defer cs.waiters.Done()
		err = cs.signal(&req)
	case control.MethodWait:
		cs.waiters.Add(1)
		resp, err = cs.wait(kernel.ThreadID(req.PID))
		defer cs.waiters.Done()
	case control.MethodProcesses:
		resp.Processes = cs.processes()
	case control.MethodPause:
		cs.k.Freeze()
	case control.MethodResume:
		cs.k.Thaw()
	default:
		err = fmt.Errorf("unknown control method %q", req.Method)
	}
	if err != nil {
		resp = control.Response{Error: err.Error()}
	}
	c.Send(&resp)
}

// network attaches the interfaces of a MethodNetwork request, served by
// the packet sockets fds, which the stack keeps open from then on.
func (cs *controlServer) network(c *control.Conn, req *control.Request, fds []int) {
	defer c.Close()
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "packet")
	}
	var resp control.Response
	if err := attachInterfaces(netstack.Of(socket.StackFor(cs.k)), req.Interfaces, files); err != nil {
		for _, f := range files {
			f.Close()
		}
		resp.Error = err.Error()
	}
	c.Send(&resp)
}

// start runs the first process.
func (cs *controlServer) start() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.started {
		return fmt.Errorf("container already started")
	}
	cs.started = true
	cs.init.Start()
	return nil
}

// signal implements MethodSignal.
func (cs *controlServer) signal(req *control.Request) error {
	sig := unix.Signal(req.Signal)
	if sig < 1 || sig > 64 {
		return fmt.Errorf("invalid signal %d", req.Signal)
	}
	info := &arch.SignalInfo{Signo: int32(sig)} // SI_USER from pid 0: from outside
	if (req.All || req.PID == 0) && !req.Foreground && cs.killBeforeStart(sig) {
		return nil
	}
	if req.All {
		// The sandbox's own processes: the pod's other containers are
		// signalled by id.
		return cs.k.SignalContainer("", info)
	}
	if req.Foreground {
		tty := cs.ttyOf(kernel.ThreadID(req.PID))
		if tty == nil {
			return fmt.Errorf("process %d has no terminal", req.PID)
		}
		tty.SignalForeground(sig)
		return nil
	}
	tg := cs.init
	if req.PID != 0 {
		if tg = cs.k.ThreadGroupByID(kernel.ThreadID(req.PID)); tg == nil {
			return fmt.Errorf("no such process %d", req.PID)
		}
	}
	return cs.k.SendSignal(tg, info)
}

// killBeforeStart ends a first process that has not run yet if sig would
// end it (it has no handlers yet), as a runc container killed in the
// created state: it exits killed by sig without running an instruction.
// It reports whether it did.
func (cs *controlServer) killBeforeStart(sig unix.Signal) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.started || !killsByDefault(sig) {
		return false
	}
	cs.started = true
	cs.init.Terminate(sig)
	cs.init.Start()
	return true
}

// killsByDefault reports whether sig's default action ends the process.
func killsByDefault(sig unix.Signal) bool {
	switch sig {
	case unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH,
		unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return false
	}
	return true
}

func (cs *controlServer) ttyOf(pid kernel.ThreadID) *kernel.TTY {
	if pid == 0 || pid == cs.init.ID() {
		return cs.initTTY
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.ttys[pid]
}

// wait implements MethodWait.
func (cs *controlServer) wait(pid kernel.ThreadID) (control.Response, error) {
	if pid == 0 || pid == cs.init.ID() {
		<-cs.done
		return control.Response{Exited: true, ExitStatus: cs.initStatus}, nil
	}
	tg := cs.k.ThreadGroupByID(pid)
	if tg == nil {
		return control.Response{}, fmt.Errorf("no such process %d", pid)
	}
	select {
	case <-tg.Exited():
		return control.Response{Exited: true, ExitStatus: uint32(tg.ExitStatus())}, nil
	case <-cs.done:
		return control.Response{Exited: true, ExitStatus: uint32(kernel.WaitStatusSignaled(unix.SIGKILL))}, nil
	}
}

func (cs *controlServer) processes() []control.ProcessEntry {
	var out []control.ProcessEntry
	for _, p := range cs.k.ProcessesOf("", cs.k.RootPIDNamespace()) {
		out = append(out, control.ProcessEntry{
			PID: int32(p.PID), PPID: int32(p.PPID), UID: p.UID, Threads: p.Threads,
			Comm: p.Comm, Start: p.Start.Unix(), Stopped: p.Stopped,
		})
	}
	return out
}

// exec implements MethodExec: it starts the process, answers with its
// pid, and answers again when it exits. The client keeps the connection
// open meanwhile; if it goes away first, the process is killed, so that a
// process never outlives the runsc that stands for it on the host.
func (cs *controlServer) exec(c *control.Conn, req *control.Request, fds []int) {
	cs.mu.Lock()
	started := cs.started
	env, filters, pidns := procEnv{}, cs.filters, cs.k.RootPIDNamespace()
	if req.Container != "" {
		pc := cs.containers[req.Container]
		if pc == nil {
			cs.mu.Unlock()
			closeFDs(fds)
			c.Send(&control.Response{Error: fmt.Sprintf("no container %q in the sandbox", req.Container)})
			c.Close()
			return
		}
		pc.mu.Lock()
		started = pc.started
		pc.mu.Unlock()
		env, filters, pidns = pc.env, pc.filters, pc.pidns
	}
	cs.mu.Unlock()
	if !started {
		closeFDs(fds)
		c.Send(&control.Response{Error: "cannot exec in a container that has not started"})
		c.Close()
		return
	}
	if req.Process == nil {
		closeFDs(fds)
		c.Send(&control.Response{Error: "exec: no process given"})
		c.Close()
		return
	}
	tg, tty, err := newProcessIn(cs.k, env, req.Process, filters, fds, req.Process.Terminal, false, nil)
	if err != nil {
		c.Send(&control.Response{Error: err.Error()})
		c.Close()
		return
	}
	pid := tg.ID()
	if tty != nil {
		cs.mu.Lock()
		cs.ttys[pid] = tty
		cs.mu.Unlock()
	}
	tg.Start()
	cs.waiters.Add(1)
	defer cs.waiters.Done()

	// The reader sees the client go away. c is closed only after it has
	// returned (the shutdown below wakes it), so its recvmsg never runs
	// on a descriptor number reused meanwhile.
	gone := make(chan struct{})
	reader := c.Send(&control.Response{PID: int32(tg.IDIn(pidns))}) == nil
	if reader {
		go func() {
			var r control.Request
			fds, _ := c.Recv(&r)
			closeFDs(fds)
			close(gone)
		}()
	} else {
		close(gone)
	}
	var ws uint32
	exited := false
	select {
	case <-tg.Exited():
		ws, exited = uint32(tg.ExitStatus()), true
	case <-gone:
		cs.k.SendSignal(tg, &arch.SignalInfo{Signo: int32(unix.SIGKILL)})
	case <-cs.done:
		ws, exited = uint32(kernel.WaitStatusSignaled(unix.SIGKILL)), true
	}
	if exited {
		c.Send(&control.Response{Exited: true, ExitStatus: ws})
	}
	if tty != nil {
		cs.mu.Lock()
		delete(cs.ttys, pid)
		cs.mu.Unlock()
	}
	unix.Shutdown(c.FD(), unix.SHUT_RDWR)
	<-gone
	c.Close()
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
