package container

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/cgroup"
	"github.com/veil-sandbox/veil/runsc/sandbox"
)

// Pods. The annotations containerd's CRI plugin (and cri-o) set say
// which container of a pod a config.json is: the pod's sandbox (its
// pause container) gets a sandbox of its own, as any container does;
// every other container of the pod runs inside that sandbox's Sentry,
// with a gofer of its own for its root filesystem and binds.

// Pod roles (PodRole).
const (
	PodSandbox   = "sandbox"
	PodContainer = "container"
)

// Annotations read, by engine.
const (
	annCRIContainerType  = "io.kubernetes.cri.container-type"
	annCRISandboxID      = "io.kubernetes.cri.sandbox-id"
	annCRIOContainerType = "io.kubernetes.cri-o.ContainerType"
	annCRIOSandboxID     = "io.kubernetes.cri-o.SandboxID"
	// The pod's name, namespace and uid, as the CRI plugin sets them.
	AnnotationPodName      = "io.kubernetes.cri.sandbox-name"
	AnnotationPodNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationPodUID       = "io.kubernetes.cri.sandbox-uid"
)

// PodRole says what spec is in a pod: PodSandbox, PodContainer with the
// id of its pod's sandbox, or "" for a container outside any pod.
func PodRole(spec *specs.Spec) (role, sandboxID string) {
	if spec == nil {
		return "", ""
	}
	a := spec.Annotations
	switch {
	case a[annCRIContainerType] != "":
		role, sandboxID = a[annCRIContainerType], a[annCRISandboxID]
	case a[annCRIOContainerType] != "":
		role, sandboxID = a[annCRIOContainerType], a[annCRIOSandboxID]
	}
	if role == PodContainer && sandboxID == "" {
		return "", ""
	}
	if role != PodSandbox && role != PodContainer {
		return "", ""
	}
	return role, sandboxID
}

func isPodSandbox(spec *specs.Spec) bool {
	role, _ := PodRole(spec)
	return role == PodSandbox
}

// isPodMember reports whether c runs in another container's sandbox.
func (c *Container) isPodMember() bool { return c.SandboxID != "" }

// root is the runtime root c's state directory is in.
func (c *Container) root() string { return filepath.Dir(c.dir) }

// sharesPodPID reports whether spec asks to join the pod's pid
// namespace: no pid namespace of its own, or one given by path (the
// CRI plugin gives the sandbox's for a pod sharing its process
// namespace).
func sharesPodPID(spec *specs.Spec) bool {
	if spec.Linux == nil {
		return true
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path != ""
		}
	}
	return true
}

// createInPod creates container id inside the running sandbox of the
// pod whose sandbox container is sandboxID.
func createInPod(root, id, sandboxID string, o *CreateOptions) (c *Container, err error) {
	if err := checkID(sandboxID); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", annCRISandboxID, err)
	}
	sc, err := Load(root, sandboxID)
	if err != nil {
		return nil, fmt.Errorf("pod sandbox %q: %w", sandboxID, err)
	}
	if sc.isPodMember() {
		return nil, fmt.Errorf("pod sandbox %q is itself a container of pod %q", sandboxID, sc.SandboxID)
	}
	switch st := sc.Status(); st {
	case Created, Running, Paused:
	default:
		return nil, fmt.Errorf("pod sandbox %q is %s", sandboxID, st)
	}
	if l := o.Spec.Linux; l != nil && hasLimits(l.Resources) && o.Logger != nil {
		// Said rather than silently dropped: one cgroup, the sandbox's,
		// holds the pod's Sentry and gofers.
		o.Logger.Warnf("linux.resources of container %q are not applied on their own: the pod's cgroup (its sandbox's) bounds every container of the pod", id)
	}
	dir, lock, err := newStateDir(root, id)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	c = &Container{dir: dir, State: State{
		ID: id, Bundle: o.Bundle, Rootfs: o.Rootfs, Status: Creating, SandboxID: sandboxID,
		Created: time.Now().UTC(), Owner: ownerName(), Creator: processOf(os.Getpid()), Spec: o.Spec,
		Sandbox: sc.Sandbox,
	}}
	var pc *sandbox.PodContainer
	defer func() {
		if err != nil {
			pc.Kill()
			os.RemoveAll(dir)
		}
	}()
	// Recorded first, as in Create: a runsc killed from here on leaves
	// a container that reads as stopped, whose gofer delete kills.
	if err := writeState(dir, &c.State); err != nil {
		return nil, err
	}
	stdio, closeStdio, err := o.stdio()
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	exit, err := os.OpenFile(filepath.Join(dir, exitFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("exit status file: %w", err)
	}
	defer exit.Close()
	var cg *cgroup.Cgroup
	if sc.Cgroup != "" {
		if cg, err = cgroup.Load(sc.Cgroup); err != nil {
			return nil, fmt.Errorf("pod sandbox %q: %w", sandboxID, err)
		}
	}
	pc, err = sandbox.StartContainer(&sandbox.ContainerOptions{
		ID: id, Sandbox: sc.control(), Spec: o.Spec, Rootfs: o.Rootfs, Stdio: stdio, Terminal: o.Spec.Process.Terminal,
		Log: o.Log, LogArgs: o.LogArgs, Overlay: o.Overlay, Detach: o.Detach, Binary: o.Binary, Exit: exit,
		PodVolumes: boot.PodVolumeSources(sc.Spec.Annotations, o.Spec.Annotations), SharePID: sharesPodPID(o.Spec),
		BeforeCreate: func(goferPID int) error {
			c.Gofer = processOf(goferPID)
			// The pod's cgroup holds the Sentry and every gofer.
			if cg != nil {
				if err := cg.Add(goferPID); err != nil {
					return err
				}
			}
			return writeState(dir, &c.State)
		},
	})
	if err != nil {
		return nil, err
	}
	if err := c.runCreateHooks(o.Spec); err != nil {
		return nil, err
	}
	return c.commitCreated(dir, o, pc.Commit)
}

// hasLimits reports whether r limits anything (the device rules every
// spec carries do not: the Sentry has only its own devices).
func hasLimits(r *specs.LinuxResources) bool {
	return r != nil && (r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil ||
		len(r.HugepageLimits) > 0 || len(r.Unified) > 0 || r.Network != nil || len(r.Rdma) > 0)
}

// exited reports whether a container of a pod has seen its first
// process exit (the Sentry wrote its exit status).
func (c *Container) exited() bool {
	st, err := os.Stat(filepath.Join(c.dir, exitFile))
	return err == nil && st.Size() > 0
}

// destroyInPod has the sandbox destroy the container and kills its
// gofer.
func (c *Container) destroyInPod() error {
	if c.Sandbox.Alive() {
		// Not there (never created, or destroyed already) is fine.
		c.control().DestroyContainer()
	}
	if err := killProcess(c.Gofer); err != nil {
		return fmt.Errorf("container %q: %w", c.ID, err)
	}
	return nil
}

// destroyPodMembers ends the other containers of the pod whose sandbox
// container c is, after the sandbox: their gofers, and their state.
func (c *Container) destroyPodMembers() error {
	all, err := List(c.root())
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.SandboxID != c.ID {
			continue
		}
		l, err := m.lock()
		if err != nil {
			continue // deleted meanwhile
		}
		err = killProcess(m.Gofer)
		if err == nil {
			err = os.RemoveAll(m.dir)
		}
		l.unlock()
		if err != nil {
			return fmt.Errorf("container %q of pod %q: %w", m.ID, c.ID, err)
		}
	}
	return nil
}

// podStats are the pod's resource usage: the containers of a pod share
// their sandbox's cgroup (one Sentry runs them all).
func (c *Container) podStats() (*cgroup.Stats, error) {
	sc, err := Load(c.root(), c.SandboxID)
	if err != nil {
		return nil, fmt.Errorf("pod sandbox of %q: %w", c.ID, err)
	}
	if sc.Cgroup == "" {
		return nil, fmt.Errorf("pod sandbox %q has no cgroup", c.SandboxID)
	}
	cg, err := cgroup.Load(sc.Cgroup)
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}
