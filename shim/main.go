// Package shim is containerd-shim-runsc-v1, the containerd shim v2 of
// Veil: containerd starts it per container (or per pod), and it serves
// the task API over ttrpc by driving the sandbox through runsc's
// container package (never the runsc command line).
//
// It is built on containerd's shim library (pkg/shim), which serves the
// ttrpc socket, publishes events and handles `delete`. The library's own
// `start` speaks the bootstrap protocol of containerd 2.3+; containerd
// 1.6 (Debian 12's) instead expects the shim's socket address, as plain
// text, on stdout, so `start` is the shim's own (see start.go).
package shim

import (
	"context"
	"fmt"
	"io"
	"os"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// RuntimeName is the runtime type containerd knows the shim by.
const RuntimeName = "io.containerd.runsc.v1"

// Main runs the shim binary.
func Main() {
	if action, f, ok := parseStartFlags(os.Args[1:]); ok && action == "start" {
		if err := start(f); err != nil {
			fmt.Fprintf(os.Stderr, "containerd-shim-runsc-v1: start: %v\n", err)
			os.Exit(1)
		}
		return
	}
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			ss, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			return newService(ic.Context, pp.(shim.Publisher), ss.(shutdown.Service)), nil
		},
	})
	// The shim waits for its own children (the sandbox's gofer and
	// Sentry, through exec.Cmd): the library's reaper would steal their
	// exit statuses. It need not be a subreaper either: the sandbox's
	// own processes are reaped by the Sentry and the gofer.
	shim.RunShim(context.Background(), manager{}, func(c *shim.Config) {
		c.NoReaper = true
		c.NoSubreaper = true
	})
}

// manager is what the library asks of the shim beyond the task service.
type manager struct{}

func (manager) Name() string { return RuntimeName }

// Start is the bootstrap protocol of containerd 2.3+, which the shim
// does not speak yet (Main answers containerd 1.6's start itself).
func (manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	return nil, fmt.Errorf("the bootstrap protocol of containerd 2.3+: %w", errdefs.ErrNotImplemented)
}

// Stop is `delete`: containerd runs it when the shim is gone, to remove
// what is left of the container (its bundle is the working directory).
func (manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	return deleteContainer(ctx, id)
}

func (manager) Info(ctx context.Context, _ io.Reader) (*types.RuntimeInfo, error) {
	return &types.RuntimeInfo{Name: RuntimeName}, nil
}
