package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/sandbox"
	"golang.org/x/sys/unix"
)

var validID = regexp.MustCompile(`^[\w+-][\w+.-]*$`)

// cmdRun runs an OCI bundle in a new sandbox and waits for it.
func cmdRun(g *globalFlags, args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	bundle := fs.String("bundle", ".", "path to the OCI bundle (holding config.json)")
	fs.StringVar(bundle, "b", ".", "short for --bundle")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fatalf("run: expected exactly one container id, got %d", fs.NArg())
	}
	id := fs.Arg(0)
	if !validID.MatchString(id) {
		fatalf("run: invalid container id %q", id)
	}
	spec, rootfs, err := loadBundle(*bundle)
	if err != nil {
		fatalf("run: %v", err)
	}
	profile, err := containerSeccomp(spec)
	if err != nil {
		fatalf("run: %v", err)
	}
	release, err := claimID(g.root, id)
	if err != nil {
		fatalf("run: %v", err)
	}
	defer release()
	b := boot.Spec{
		Args:         spec.Process.Args,
		Env:          spec.Process.Env,
		Cwd:          spec.Process.Cwd,
		RootReadOnly: spec.Root.Readonly,
		Hostname:     spec.Hostname,
		UID:          spec.Process.User.UID,
		GID:          spec.Process.User.GID,
		Strace:       g.strace,
		Debug:        g.debug,
	}
	for _, m := range spec.Mounts {
		if m.Type == "tmpfs" {
			b.Mounts = append(b.Mounts, boot.Mount{Destination: m.Destination, Type: "tmpfs"})
		}
		// proc, sysfs, devpts, mqueue and /dev are provided by the
		// Sentry itself; bind mounts are not supported yet.
	}
	b.Seccomp = profile
	return sandbox.Run(b, rootfs)
}

// loadBundle reads and checks DIR/config.json and returns it with the
// absolute root filesystem path.
func loadBundle(dir string) (*specs.Spec, string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", dir, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, "", fmt.Errorf("bundle %s: config.json is not valid: %v", dir, err)
	}
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, "", fmt.Errorf("bundle %s: config.json has no process.args", dir)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, "", fmt.Errorf("bundle %s: config.json has no root.path", dir)
	}
	if spec.Process.Cwd == "" {
		spec.Process.Cwd = "/"
	}
	root := spec.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(dir, root)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, "", err
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: root filesystem %s: %w", dir, root, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, "", fmt.Errorf("bundle %s: root filesystem %s is not a directory", dir, root)
	}
	return &spec, root, nil
}

// claimID creates the container's state directory under root, failing if
// the id is taken, and returns a function that removes it.
func claimID(root, id string) (func(), error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", root, err)
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %q already exists", id)
		}
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	// Hold a lock for as long as the container runs so a crashed runsc
	// can be told apart later (state recovery is future work).
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	return func() {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
	}, nil
}
