package shim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/container"
	"golang.org/x/sys/unix"
)

// sandboxIDAnnotation groups the containers of a pod: containerd's CRI
// plugin sets it on every container to the pod's sandbox id, and one shim
// serves them all.
const sandboxIDAnnotation = "io.kubernetes.cri.sandbox-id"

// startFlags are the flags containerd gives the shim (those of the
// library's own parser).
type startFlags struct {
	namespace, id, address, bundle string
	debug                          bool
}

// parseStartFlags parses the shim's command line as the library does;
// ok is false if it does not parse (the library then reports it).
func parseStartFlags(args []string) (action string, f startFlags, ok bool) {
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&f.debug, "debug", false, "")
	fs.Bool("v", false, "")
	fs.Bool("version", false, "")
	fs.Bool("info", false, "")
	fs.StringVar(&f.namespace, "namespace", "", "")
	fs.StringVar(&f.id, "id", "", "")
	fs.String("socket", "", "")
	fs.String("debug-socket", "", "")
	fs.StringVar(&f.bundle, "bundle", "", "")
	fs.StringVar(&f.address, "address", "", "")
	fs.String("publish-binary", "", "")
	if err := fs.Parse(args); err != nil {
		return "", f, false
	}
	return fs.Arg(0), f, true
}

// start is containerd 1.6's `start`: in the bundle directory, with the
// runtime options on stdin, it makes sure a shim serves the container
// (the pod's existing shim, or a new one it starts) and prints that
// shim's address.
func start(f startFlags) error {
	if f.namespace == "" || f.id == "" {
		return errors.New("-namespace and -id are required")
	}
	io.Copy(io.Discard, os.Stdin) // the options, which Create gets too
	ctx := namespaces.WithNamespace(context.Background(), f.namespace)
	bundle, err := os.Getwd()
	if err != nil {
		return err
	}
	group := f.id
	if spec, err := readSpec(bundle); err == nil && spec.Annotations[sandboxIDAnnotation] != "" {
		group = spec.Annotations[sandboxIDAnnotation]
	}
	address, err := shim.SocketAddress(ctx, f.address, group, false)
	if err != nil {
		return err
	}
	socket, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return fmt.Errorf("shim socket: %w", err)
		}
		if shim.CanConnect(address) {
			// The pod's shim serves this container too.
			return announce(address)
		}
		// Left by a shim that was killed.
		if err := shim.RemoveSocket(address); err != nil {
			return fmt.Errorf("removing a stale shim socket: %w", err)
		}
		if socket, err = shim.NewSocket(address); err != nil {
			return fmt.Errorf("shim socket: %w", err)
		}
	}
	// Inherited by the serving shim: closing it here must not unlink it.
	socket.SetUnlinkOnClose(false)
	defer socket.Close()
	sf, err := socket.File()
	if err != nil {
		shim.RemoveSocket(address)
		return err
	}
	defer sf.Close()
	self, err := os.Executable()
	if err != nil {
		shim.RemoveSocket(address)
		return err
	}
	args := []string{"-namespace", f.namespace, "-id", f.id, "-address", f.address}
	if f.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = bundle
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.ExtraFiles = []*os.File{sf} // fd 3, where the library serves
	// Its own process group: signals to containerd's group spare it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		shim.RemoveSocket(address)
		return fmt.Errorf("starting the shim: %w", err)
	}
	if err := shim.WritePidFile(filepath.Join(bundle, "shim.pid"), cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		shim.RemoveSocket(address)
		return err
	}
	cmd.Process.Release()
	return announce(address)
}

// announce records the address in the bundle and tells containerd.
func announce(address string) error {
	if err := os.WriteFile("address", []byte(address), 0o600); err != nil {
		return err
	}
	_, err := fmt.Fprint(os.Stdout, address)
	return err
}

func readSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// deleteContainer removes what is left of container id after its shim
// died: the sandbox (killed), its state and cgroup, the rootfs mount.
func deleteContainer(ctx context.Context, id string) (shim.StopStatus, error) {
	st := shim.StopStatus{ExitStatus: 128 + int(unix.SIGKILL), ExitedAt: time.Now()}
	bundle, err := os.Getwd()
	if err != nil {
		return st, err
	}
	ns, _ := namespaces.Namespace(ctx)
	cfg, err := readBundleConfig(bundle)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return st, err
		}
		cfg = &Config{Root: defaultRoot(ns)}
	}
	// The rootfs mount goes whatever happens to the state.
	defer func() {
		if err := mount.UnmountAll(filepath.Join(bundle, "rootfs"), 0); err != nil {
			log.G(ctx).WithError(err).Warn("unmounting the rootfs")
		}
	}()
	if c, err := container.Load(cfg.Root, id); err == nil {
		st.Pid = c.Sandbox.PID
		// containerd cleans up a dead pod shim's containers at once: the
		// sandbox's delete may remove a member's state under it.
		if err := c.Delete(true); errors.Is(err, container.ErrNotExist) {
			log.G(ctx).Infof("container %s was deleted with its pod", id)
		} else if err != nil && !container.IsWarning(err) {
			return st, fmt.Errorf("deleting container %s: %w", id, err)
		}
	} else {
		log.G(ctx).WithError(err).Warnf("container %s has no state left", id)
	}
	os.Remove(filepath.Join(bundle, bundleConfigFile))
	// The socket of the dead shim, unless a live one (the pod's) serves
	// on it.
	if address, err := shim.ReadAddress(filepath.Join(bundle, "address")); err == nil && !shim.CanConnect(address) {
		shim.RemoveSocket(address)
	}
	return st, nil
}
