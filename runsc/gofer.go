package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/runsc/sandbox"
	"github.com/veil-sandbox/veil/runsc/seccomp"
)

func init() {
	register(&command{name: "gofer", summary: "the file server (started by runsc)", run: cmdGofer, internal: true})
}

// cmdGofer is the gofer process (runsc starts it; users never do): it
// mounts the container's bind mounts into its view of the root, confines
// itself to the root and serves it, and each directory bind mount, to
// the Sentry over the sockets it was given.
func cmdGofer(g *globalFlags, args []string) int {
	fs := flag.NewFlagSet("gofer", flag.ContinueOnError)
	configFD := fs.Int("config-fd", -1, "file descriptor to read the gofer configuration (JSON) from")
	readyFD := fs.Int("ready-fd", -1, "file descriptor to report readiness on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configFD < 0 || *readyFD < 0 {
		return fatalf("gofer: --config-fd and --ready-fd are required")
	}
	var cfg sandbox.GoferConfig
	cf := os.NewFile(uintptr(*configFD), "gofer-config")
	err := json.NewDecoder(cf).Decode(&cfg)
	cf.Close()
	ready := os.NewFile(uintptr(*readyFD), "gofer-ready")
	report := func(err error) {
		msg := "ok"
		if err != nil {
			msg = err.Error()
		}
		fmt.Fprintln(ready, msg)
		ready.Close()
	}
	if err != nil {
		report(fmt.Errorf("reading configuration: %w", err))
		return 1
	}
	if err := setUpGofer(&cfg); err != nil {
		report(err)
		return 1
	}
	report(nil)
	var wg sync.WaitGroup
	errs := make(chan error, len(cfg.Conns))
	for _, c := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := os.NewFile(uintptr(c.FD), "sentry")
			if err := gofer.Serve(conn, c.Root, gofer.ServerOptions{ReadOnly: c.ReadOnly}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return fatalf("gofer: %v", err)
	}
	return 0
}

// setUpGofer confines the gofer: bind mounts, pivot into the root, only
// the file capabilities, and the seccomp filter.
func setUpGofer(cfg *sandbox.GoferConfig) error {
	if err := gofer.ConfineWithMounts(cfg.Root, cfg.ReadOnly, cfg.Mounts); err != nil {
		return err
	}
	// Serving files as their owners needs only the file capabilities.
	if err := confineCapabilities(sandbox.GoferFileCaps...); err != nil {
		return err
	}
	// From here on only the system calls of serving files.
	return seccomp.InstallGofer()
}
