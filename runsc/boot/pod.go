package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/dev"
	goferfs "github.com/veil-sandbox/veil/sentry/fs/gofer"
	"github.com/veil-sandbox/veil/sentry/fs/overlay"
	"github.com/veil-sandbox/veil/sentry/fs/proc"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Pods: a sandbox runs its own container (the pod's pause container)
// and, on MethodCreateContainer, further containers of the pod. Each
// has its root served by a gofer of its own (runsc started it and passed
// the connections with the request), its own mount namespace built from
// its config.json, its own init (pid 1 of a pid namespace of its own
// unless Spec.SharePID) and the pod's UTS, IPC and network namespaces.

// Annotations gVisor uses to describe a pod's volumes, which runsc
// accepts: dev.gvisor.spec.mount.NAME.{source,type,share}. A volume of
// type tmpfs shared by the pod (an emptyDir) is one tmpfs in Sentry
// memory that every container's bind of its source shows.
const podVolumePrefix = "dev.gvisor.spec.mount."

// PodVolumeSources returns the sources of the pod-shared tmpfs volumes
// the annotations describe (the sandbox's and the container's), sorted.
func PodVolumeSources(annotations ...map[string]string) []string {
	type vol struct{ source, typ, share string }
	vols := map[string]*vol{}
	for _, ann := range annotations {
		for k, val := range ann {
			rest, ok := strings.CutPrefix(k, podVolumePrefix)
			if !ok {
				continue
			}
			i := strings.LastIndexByte(rest, '.')
			if i <= 0 {
				continue
			}
			name, field := rest[:i], rest[i+1:]
			v := vols[name]
			if v == nil {
				v = &vol{}
				vols[name] = v
			}
			switch field {
			case "source":
				v.source = val
			case "type":
				v.typ = val
			case "share":
				v.share = val
			}
		}
	}
	var out []string
	for _, v := range vols {
		if v.source != "" && v.typ == "tmpfs" && (v.share == "pod" || v.share == "shared") {
			out = append(out, path.Clean(v.source))
		}
	}
	sort.Strings(out)
	return out
}

// podVolumes are the pod's shared tmpfs volumes, by source, each the
// root of a mount in a namespace of their own that no process uses, so
// that they live as long as the sandbox whatever containers come and go.
type podVolumes struct {
	mu       sync.Mutex
	ns       *vfs.MountNamespace
	bySource map[string]vfs.VirtualDentry
}

// get returns the volume of source, made on first use.
func (p *podVolumes) get(v *vfs.VirtualFilesystem, source string) (vfs.VirtualDentry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	source = path.Clean(source)
	if vd, ok := p.bySource[source]; ok {
		return vd, nil
	}
	ctx := bootContext{}
	if p.ns == nil {
		ns, err := v.NewNamespace(ctx, tmpfs.New(v.MemoryFile(), tmpfs.Options{Mode: 0o700}).Root(), vfs.MountOptions{FSType: "tmpfs", Source: "none"}, nil, 0)
		if err != nil {
			return vfs.VirtualDentry{}, fmt.Errorf("pod volumes: %w", err)
		}
		p.ns, p.bySource = ns, map[string]vfs.VirtualDentry{}
	}
	m, err := v.MountAtFrom(ctx, p.ns.Root(v), fmt.Sprintf("/%d", len(p.bySource)), tmpfs.New(v.MemoryFile(), tmpfs.Options{Mode: 0o1777}).Root(),
		vfs.MountOptions{FSType: "tmpfs", Source: "tmpfs"})
	if err != nil {
		return vfs.VirtualDentry{}, fmt.Errorf("pod volume %s: %w", source, err)
	}
	vd := vfs.VirtualDentry{Mount: m, Dentry: m.Root()}
	p.bySource[source] = vd
	return vd, nil
}

// podContainer is a further container of the pod.
type podContainer struct {
	id      string
	env     procEnv
	pidns   *kernel.PIDNamespace
	filters []*seccomp.Filter
	clients []*gofer.Client
	init    *kernel.ThreadGroup
	tty     *kernel.TTY
	// exit receives the init's ExitMessage when it exits.
	exit *os.File

	mu      sync.Mutex
	started bool
	// gone is closed once the container was destroyed.
	gone     chan struct{}
	goneOnce sync.Once
}

// createContainer builds container id from spec with the gofer
// connections conns and makes its init with stdio, not started.
func (s *sandbox) createContainer(id string, spec *Spec, conns []*os.File, stdio []int) (_ *podContainer, err error) {
	if spec.OCI == nil || spec.OCI.Process == nil || len(conns) != 1+len(spec.BindMounts) {
		for _, f := range conns {
			f.Close()
		}
		closeFDs(stdio)
		return nil, fmt.Errorf("bad container spec (no process, or %d gofer connections for %d bind mounts)", len(conns), len(spec.BindMounts))
	}
	ctx := bootContext{}
	v := s.k.VFS()
	mf := v.MemoryFile()
	// c is not the named result: the deferred cleanup needs it after a
	// failed return has set that to nil.
	c := &podContainer{id: id, gone: make(chan struct{})}
	var mntns *vfs.MountNamespace
	stdioTaken := false
	defer func() {
		if err != nil {
			if !stdioTaken {
				closeFDs(stdio)
			}
			if mntns != nil && c.init == nil {
				v.Release(mntns)
			}
			for _, cl := range c.clients {
				cl.Close()
			}
		}
	}()
	for i, conn := range conns {
		cl, err := gofer.NewClient(conn)
		if err != nil {
			for _, rest := range conns[i:] {
				rest.Close()
			}
			return nil, fmt.Errorf("connecting to gofer (%d): %w", i, err)
		}
		c.clients = append(c.clients, cl)
	}
	rootRO := spec.OCI.Root != nil && spec.OCI.Root.Readonly
	rootFS, err := goferfs.New(c.clients[0], mf, goferfs.Options{ReadOnly: rootRO || spec.Overlay})
	if err != nil {
		return nil, fmt.Errorf("root filesystem: %w", err)
	}
	rootInode, opts, err := rootMount(ctx, mf, rootFS.Root(), rootRO, spec.Overlay)
	if err != nil {
		return nil, err
	}
	if mntns, err = v.NewNamespace(ctx, rootInode, opts, nil, 0); err != nil {
		return nil, fmt.Errorf("mounting root: %w", err)
	}
	root := mntns.Root(v)
	ns, err := s.k.NewContainerNamespaces(mntns, spec.SharePID)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	c.env = procEnv{root: root, ns: ns, id: id}
	c.pidns = ns.PIDForChildren

	// /dev of its own, with the pod's /dev/shm and terminals.
	devRoot, err := dev.New(ctx, mf)
	if err != nil {
		return nil, err
	}
	if _, err := v.MountAtFrom(ctx, root, "/dev", devRoot, vfs.MountOptions{FSType: "tmpfs", Source: "dev"}); err != nil {
		return nil, fmt.Errorf("mounting /dev: %w", err)
	}
	for _, p := range []string{"/dev/shm", "/dev/pts"} {
		src, err := v.GetDentry(ctx, vfs.PathOperation{Root: v.Root(), Start: v.Root(), Path: p, FollowFinal: true})
		if err != nil {
			return nil, fmt.Errorf("the pod's %s: %w", p, err)
		}
		_, err = v.BindMountAt(ctx, root, p, src)
		src.DecRef()
		if err != nil {
			return nil, fmt.Errorf("mounting %s: %w", p, err)
		}
	}
	procOpts := s.procOpts
	procOpts.PIDNamespace = c.pidns
	if p := spec.OCI.Process; p != nil && p.OOMScoreAdj != nil {
		procOpts.OOMScoreAdj = *p.OOMScoreAdj
	}
	if _, err := v.MountAtFrom(ctx, root, "/proc", proc.New(s.k, procOpts),
		vfs.MountOptions{FSType: "proc", Source: "proc", NoSuid: true, NoDev: true, NoExec: true}); err != nil {
		return nil, fmt.Errorf("mounting /proc: %w", err)
	}
	// Its binds may be the pod's volumes that other containers write
	// through their own gofers: never trust cached names there.
	t := &mountTarget{root: root, clients: c.clients, sub: true, revalidate: true, goferRoot: rootFS.Root()}
	if err := s.mountAll(spec, t); err != nil {
		return nil, err
	}
	if l := spec.OCI.Linux; l != nil {
		if c.filters, err = seccompFilters(l.Seccomp); err != nil {
			return nil, err
		}
	}
	stdioTaken = true
	init, tty, err := newProcessIn(s.k, c.env, spec.OCI.Process, c.filters, stdio, spec.Terminal, false, nil)
	if err != nil {
		return nil, err
	}
	c.init, c.tty = init, tty
	return c, nil
}

// rootMount returns the root inode and mount options of a container
// (see mountRoot).
func rootMount(ctx vfs.Context, mf *memfile.File, root vfs.Inode, readOnly, withOverlay bool) (vfs.Inode, vfs.MountOptions, error) {
	if !withOverlay {
		return root, vfs.MountOptions{ReadOnly: readOnly, FSType: "9p", Source: "gofer"}, nil
	}
	ov, err := overlay.New(ctx, tmpfs.New(mf, tmpfs.Options{}).Root(), root)
	if err != nil {
		return nil, vfs.MountOptions{}, fmt.Errorf("root overlay: %w", err)
	}
	return ov.Root(), vfs.MountOptions{FSType: "overlay", Source: "overlay"}, nil
}

// start runs the container's init; its exit is reported on c.exit.
func (c *podContainer) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return fmt.Errorf("container %s already started", c.id)
	}
	c.started = true
	c.init.Start()
	return nil
}

// reportExit writes the init's exit status to the exit file once it
// exits (or the container is destroyed before it ran).
func (c *podContainer) reportExit() {
	<-c.init.Exited()
	if c.exit != nil {
		json.NewEncoder(c.exit).Encode(ExitMessage{ExitStatus: uint32(c.init.ExitStatus())})
		c.exit.Close()
	}
}

// signal implements MethodSignal for the container.
func (c *podContainer) signal(k *kernel.Kernel, req *control.Request) error {
	sig := unix.Signal(req.Signal)
	if sig < 1 || sig > 64 {
		return fmt.Errorf("invalid signal %d", req.Signal)
	}
	info := &arch.SignalInfo{Signo: int32(sig)}
	if req.Foreground {
		return errors.New("signalling a terminal's foreground group is not supported in the containers of a pod")
	}
	if (req.All || req.PID == 0) && c.killBeforeStart(sig) {
		return nil
	}
	if req.All {
		return k.SignalContainer(c.id, info)
	}
	tg := c.init
	if req.PID != 0 {
		if tg = k.ThreadGroupIn(c.id, c.pidns, kernel.ThreadID(req.PID)); tg == nil {
			return fmt.Errorf("no such process %d", req.PID)
		}
	}
	return k.SendSignal(tg, info)
}

// killBeforeStart: see controlServer.killBeforeStart.
func (c *podContainer) killBeforeStart(sig unix.Signal) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || !killsByDefault(sig) {
		return false
	}
	c.started = true
	c.init.Terminate(sig)
	c.init.Start()
	return true
}

// destroy kills every process of the container and lets go of its
// gofer connections; its mounts go with its last process (the kernel
// releases a mount namespace no task uses).
func (c *podContainer) destroy(k *kernel.Kernel) {
	c.goneOnce.Do(func() {
		if !c.killBeforeStart(unix.SIGKILL) {
			k.SignalContainer(c.id, &arch.SignalInfo{Signo: int32(unix.SIGKILL)})
		}
		<-c.init.Exited()
		// Exec'd processes in a shared pid namespace outlive the init:
		// kill them too, giving them a moment to exit.
		for i := 0; i < 200 && len(k.ProcessesOf(c.id, k.RootPIDNamespace())) > 0; i++ {
			k.SignalContainer(c.id, &arch.SignalInfo{Signo: int32(unix.SIGKILL)})
			time.Sleep(10 * time.Millisecond)
		}
		for _, cl := range c.clients {
			cl.Close()
		}
		close(c.gone)
	})
}
