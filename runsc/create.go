package main

import (
	"os"

	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/container"
)

func init() {
	register(&command{name: "create", summary: "create a container from a bundle (its process waits for start)", run: cmdCreate, startsSandbox: true})
}

// createFlags are the flags create and run share.
type createFlags struct {
	bundle        string
	pidFile       string
	consoleSocket string
	preserveFDs   int
	noPivot       bool
	noNewKeyring  bool
}

func (f *createFlags) register(fs flagSetter) {
	fs.StringVar(&f.bundle, "bundle", ".", "path to the bundle (the directory holding config.json)")
	fs.StringVar(&f.bundle, "b", ".", "short for --bundle")
	fs.StringVar(&f.pidFile, "pid-file", "", "file to write the sandbox process's pid to")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "unix socket to send the terminal's master to (process.terminal)")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many descriptors after stdio (3, 4, ...) to the process")
	// Accepted for runc compatibility: the container's root is never the
	// root of a host process (the gofer serves it), and the Sentry has
	// no kernel keyrings to share.
	fs.BoolVar(&f.noPivot, "no-pivot", false, "accepted for runc compatibility (no effect)")
	fs.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "accepted for runc compatibility (no effect)")
}

// createOptions loads and checks the bundle and prepares a Create.
func (g *globalFlags) createOptions(f *createFlags, detach bool) (*container.CreateOptions, error) {
	spec, bundle, rootfs, err := container.LoadBundle(f.bundle)
	if err != nil {
		return nil, err
	}
	warnings, err := container.Check(spec)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		g.logger.Warnf("%s", w)
	}
	stdio := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for i := 0; i < f.preserveFDs; i++ {
		stdio = append(stdio, os.NewFile(uintptr(3+i), "preserved"))
	}
	o := &container.CreateOptions{
		Bundle: bundle, Spec: spec, Rootfs: rootfs, Stdio: stdio,
		ConsoleSocket: f.consoleSocket, PIDFile: f.pidFile, Detach: detach,
		Systemd: g.systemdCgroup, Overlay: g.overlay, Network: g.networkOr(boot.NetworkSandbox), NetRaw: g.netRaw, Strace: g.strace, Debug: g.debug,
		Logger: g.logger,
	}
	o.Log, o.LogArgs = g.sandboxLog()
	return o, nil
}

// sandboxLog is where the sandbox's processes log, and the global flags
// they need: how to log, and the platform the Sentry runs on.
func (g *globalFlags) sandboxLog() (*os.File, []string) {
	args := []string{"--log-format", string(g.logger.Format()), "--platform", g.platform}
	if g.debug {
		args = append(args, "--debug")
	}
	if g.log != nil {
		return g.log, args
	}
	return nil, args
}

func cmdCreate(g *globalFlags, args []string) int {
	fs := flagSet("create")
	var f createFlags
	f.register(fs)
	if ok, code := g.parseFlags(fs, args, "[flags] ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	o, err := g.createOptions(&f, true)
	if err != nil {
		return g.fail("create: %v", err)
	}
	if _, err := container.Create(g.root, fs.Arg(0), o); err != nil {
		return g.startFailure("create", err)
	}
	return 0
}
