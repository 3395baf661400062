package boot

import (
	"fmt"
	"os"

	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/platform/ptrace"
	"github.com/veil-sandbox/veil/sentry/fs/dev"
	goferfs "github.com/veil-sandbox/veil/sentry/fs/gofer"
	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/fs/proc"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vdso"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/syscalls"
)

// build creates the kernel with its filesystems, and the first process's
// file descriptor table and filesystem context.
func build(spec Spec, goferConn *os.File) (*kernel.Kernel, *vfs.FDTable, *vfs.FSContext, error) {
	if len(spec.Args) == 0 {
		return nil, nil, nil, fmt.Errorf("no program to run")
	}
	mf, err := memfile.New()
	if err != nil {
		return nil, nil, nil, err
	}
	// veil: vdso. Created first: its TSC calibration (a few ms) runs
	// while the rest of the sandbox is set up.
	vd, err := vdso.New(mf, vdso.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := ptrace.New()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ptrace platform: %w", err)
	}
	ctx := bootContext{}
	v := vfs.New(mf)

	client, err := gofer.NewClient(goferConn)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connecting to gofer: %w", err)
	}
	rootFS, err := goferfs.New(client, mf, goferfs.Options{ReadOnly: spec.RootReadOnly})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("root filesystem: %w", err)
	}
	if err := mountRoot(ctx, v, mf, rootFS.Root(), spec.RootReadOnly, spec.Overlay); err != nil {
		return nil, nil, nil, err
	}

	k, err := kernel.New(p, mf, v, syscalls.Dispatch)
	if err != nil {
		return nil, nil, nil, err
	}
	k.VDSO = vd // veil: vdso
	if spec.Hostname != "" {
		k.SetHostname(spec.Hostname)
	}
	if spec.Strace {
		k.Strace = os.Stderr
	}

	if err := dev.Mount(ctx, v); err != nil {
		return nil, nil, nil, fmt.Errorf("mounting /dev: %w", err)
	}
	if _, err := v.MountAt(ctx, "/proc", proc.New(k, proc.Options{Release: syscalls.Release}),
		vfs.MountOptions{FSType: "proc", Source: "proc", NoExec: true}); err != nil {
		return nil, nil, nil, fmt.Errorf("mounting /proc: %w", err)
	}
	for _, m := range spec.Mounts {
		switch m.Type {
		case "tmpfs":
			fs := tmpfs.New(mf, tmpfs.Options{Mode: 0o1777})
			if _, err := v.MountAt(ctx, m.Destination, fs.Root(), vfs.MountOptions{FSType: "tmpfs", Source: "tmpfs"}); err != nil {
				return nil, nil, nil, fmt.Errorf("mounting tmpfs at %s: %w", m.Destination, err)
			}
		default:
			return nil, nil, nil, fmt.Errorf("mount at %s: type %q is not supported", m.Destination, m.Type)
		}
	}

	fdt := vfs.NewFDTable()
	for fd := 0; fd < 3; fd++ {
		f, err := host.NewFile(ctx, fd, false)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("stdio fd %d: %w", fd, err)
		}
		fdt.SetFD(int32(fd), f, false)
		f.DecRef()
	}
	root := v.Root()
	fsc := vfs.NewFSContext(root, root, 0o022)
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if vd, err := v.GetDirectory(ctx, fsc.PathOp(root, cwd, true)); err == nil {
		fsc.SetCwd(vd)
	} else {
		return nil, nil, nil, fmt.Errorf("working directory %s: %w", cwd, err)
	}
	return k, fdt, fsc, nil
}
