package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/container"
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "do", summary: "run a command in a sandbox over the host's / (read-only, private /tmp)", run: cmdDo})
}

// cmdDo runs a command in a sandbox whose root is the host's /, read-only,
// with a private tmpfs at /tmp (like gVisor's "runsc do"): the caller's
// environment, working directory and stdio, and the caller's terminal as
// the command's controlling terminal if stdin is one.
func cmdDo(g *globalFlags, args []string) int {
	fs := flagSet("do")
	if ok, code := g.parseFlags(fs, args, "[--] CMD ARGS..."); !ok {
		return code
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return g.fail("do: no command given")
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: argv, Env: os.Environ(), Cwd: cwd},
		Root:    &specs.Root{Path: "/", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
			// The Sentry's own sysfs and cgroup view, not the host's
			// /sys (which the gofer would otherwise serve).
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid", "nodev", "noexec"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: []string{"ro", "nosuid", "nodev", "noexec"}},
		},
		Hostname: "veil",
	}
	_, ttyErr := unix.IoctlGetTermios(0, unix.TCGETS)
	o := &container.CreateOptions{
		Bundle: cwd, Spec: spec, Rootfs: "/",
		Stdio:         []*os.File{os.Stdin, os.Stdout, os.Stderr},
		TerminalStdin: ttyErr == nil,
		// As with gVisor's runsc do, ^C and kill stop the command even
		// without a handler.
		HostSignalsActOnInit: true,
		Overlay:              g.overlay, Strace: g.strace, Debug: g.debug, Logger: g.logger,
	}
	o.Log, o.LogArgs = g.sandboxLog()
	b := make([]byte, 8)
	rand.Read(b)
	return g.runForeground("do", "do-"+hex.EncodeToString(b), o)
}
