package boot

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

// createContainer implements MethodCreateContainer (see package
// control): it owns c and fds.
func (cs *controlServer) createContainer(c *control.Conn, req *control.Request, fds []int) {
	defer c.Close()
	fail := func(err error) {
		closeFDs(fds)
		c.Send(&control.Response{Error: err.Error()})
	}
	var spec Spec
	if err := json.Unmarshal(req.Spec, &spec); err != nil {
		fail(fmt.Errorf("container spec: %w", err))
		return
	}
	id := req.Container
	nstdio := 3 + spec.PreserveFDs
	if id == "" || spec.PreserveFDs < 0 || len(fds) < nstdio+2 {
		fail(fmt.Errorf("create-container: bad request (id %q, %d descriptors)", id, len(fds)))
		return
	}
	cs.mu.Lock()
	_, exists := cs.containers[id]
	if !exists {
		cs.containers[id] = nil // reserved while it is built
	}
	cs.mu.Unlock()
	if exists {
		fail(fmt.Errorf("container %q already exists in the sandbox", id))
		return
	}
	unreserve := func() {
		cs.mu.Lock()
		delete(cs.containers, id)
		cs.mu.Unlock()
	}
	stdio, exitFD, goferFDs := fds[:nstdio], fds[nstdio], fds[nstdio+1:]
	var conns []*os.File
	for _, fd := range goferFDs {
		conns = append(conns, os.NewFile(uintptr(fd), "gofer"))
	}
	pc, err := cs.pod.createContainer(id, &spec, conns, stdio)
	if err != nil {
		// createContainer took the gofer connections and stdio.
		unix.Close(exitFD)
		unreserve()
		code := 1
		if se, ok := err.(*startError); ok {
			code = se.code
		}
		c.Send(&control.Response{Error: err.Error(), ExitStatus: uint32(code)})
		return
	}
	pc.exit = os.NewFile(uintptr(exitFD), "exit")
	go pc.reportExit()
	cs.mu.Lock()
	cs.containers[id] = pc
	cs.mu.Unlock()
	// Without its gofer the container cannot reach its files: stop it
	// (the rest of the pod runs on).
	for _, cl := range pc.clients {
		go func() {
			select {
			case <-cl.Lost():
				pc.destroy(cs.k)
			case <-pc.gone:
			}
		}()
	}
	if err := c.Send(&control.Response{}); err != nil {
		cs.destroyContainer(id)
		return
	}
	var commit control.Request
	if cfds, err := c.Recv(&commit); err != nil || commit.Method != control.MethodCommit {
		// The runsc creating it went away before recording it.
		closeFDs(cfds)
		cs.destroyContainer(id)
		return
	}
	if commit.Start {
		if err := pc.start(); err != nil {
			c.Send(&control.Response{Error: err.Error()})
			return
		}
	}
	c.Send(&control.Response{})
}

// container returns the pod's container id.
func (cs *controlServer) container(id string) (*podContainer, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if pc := cs.containers[id]; pc != nil {
		return pc, nil
	}
	return nil, fmt.Errorf("no container %q in the sandbox", id)
}

// destroyContainer implements MethodDestroyContainer.
func (cs *controlServer) destroyContainer(id string) error {
	pc, err := cs.container(id)
	if err != nil {
		return err
	}
	pc.destroy(cs.k)
	cs.mu.Lock()
	delete(cs.containers, id)
	cs.mu.Unlock()
	return nil
}

// containerRequest serves the requests for one further container of the
// pod.
func (cs *controlServer) containerRequest(req *control.Request) (control.Response, error) {
	if req.Method == control.MethodDestroyContainer {
		return control.Response{}, cs.destroyContainer(req.Container)
	}
	pc, err := cs.container(req.Container)
	if err != nil {
		return control.Response{}, err
	}
	switch req.Method {
	case control.MethodStart:
		return control.Response{}, pc.start()
	case control.MethodSignal:
		cs.waiters.Add(1)
		defer cs.waiters.Done()
		return control.Response{}, pc.signal(cs.k, req)
	case control.MethodWait:
		cs.waiters.Add(1)
		defer cs.waiters.Done()
		tg := pc.init
		if req.PID != 0 {
			if tg = cs.k.ThreadGroupIn(pc.id, pc.pidns, kernel.ThreadID(req.PID)); tg == nil {
				return control.Response{}, fmt.Errorf("no such process %d", req.PID)
			}
		}
		select {
		case <-tg.Exited():
			return control.Response{Exited: true, ExitStatus: uint32(tg.ExitStatus())}, nil
		case <-cs.done:
			return control.Response{Exited: true, ExitStatus: uint32(kernel.WaitStatusSignaled(unix.SIGKILL))}, nil
		}
	case control.MethodProcesses:
		var out []control.ProcessEntry
		for _, p := range cs.k.ProcessesOf(pc.id, pc.pidns) {
			out = append(out, control.ProcessEntry{
				PID: int32(p.PID), PPID: int32(p.PPID), UID: p.UID, Threads: p.Threads,
				Comm: p.Comm, Start: p.Start.Unix(), Stopped: p.Stopped,
			})
		}
		return control.Response{Processes: out}, nil
	case control.MethodPause, control.MethodResume:
		return control.Response{}, fmt.Errorf("pausing one container of a pod is not supported (pause the sandbox's container to pause the whole pod)")
	}
	return control.Response{}, fmt.Errorf("unknown control method %q", req.Method)
}
