package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/container"
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "do", summary: "run a command in a sandbox over the host's / (read-only, private /tmp)", run: cmdDo, startsSandbox: true})
}

// cmdDo runs a command in a sandbox whose root is the host's /, read-only,
// with a private tmpfs at /tmp (like gVisor's "runsc do"): the caller's
// environment, working directory and stdio. If stdin is a terminal, the
// command gets a terminal of the Sentry's in place of the descriptors
// that are that terminal, as its controlling terminal; runsc puts its
// own terminal in raw mode meanwhile, and the Sentry relays the keys and
// the output (see the README's design notes).
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
	// The sandbox's /tmp is a fresh tmpfs, so a directory below the
	// host's /tmp does not exist there: say so rather than "no such file".
	if strings.HasPrefix(cwd, "/tmp/") {
		return g.fail("do: the working directory %s is below /tmp, which is empty in the sandbox (it gets a fresh tmpfs): run runsc do from another directory", cwd)
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
	o := &container.CreateOptions{
		Bundle: cwd, Spec: spec, Rootfs: "/",
		Stdio: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		// As with gVisor's runsc do, ^C and kill stop the command even
		// without a handler.
		HostSignalsActOnInit: true,
		Overlay:              g.overlay, Network: g.networkOr(boot.NetworkNone), NetRaw: g.netRaw, Strace: g.strace, Debug: g.debug, Logger: g.logger,
	}
	o.Log, o.LogArgs = g.sandboxLog()
	if fds := terminalFDs(); fds != nil {
		// Raw before runForeground catches SIGTTOU: a runsc started in
		// the background stops here until it is in the foreground,
		// as any program that sets up its terminal does.
		if saved, err := makeRaw(0); err != nil {
			// The command still runs, on the terminal as a plain
			// file, without a terminal of its own.
			g.warn("do: cannot take the terminal: %v", err)
		} else {
			defer unix.IoctlSetTermios(0, unix.TCSETS, saved)
			o.RelayTerminal, o.RelayTermios = fds, saved
		}
	}
	container.SweepAbandoned(g.root, "do-")
	b := make([]byte, 8)
	rand.Read(b)
	return g.runForeground("do", "do-"+hex.EncodeToString(b), o)
}

// terminalFDs returns the descriptors among 0-2 that are the terminal on
// stdin, or nil if stdin is not a terminal.
func terminalFDs() []int {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return nil
	}
	var in unix.Stat_t
	if unix.Fstat(0, &in) != nil {
		return nil
	}
	fds := []int{0}
	for _, fd := range []int{1, 2} {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == in.Rdev && st.Dev == in.Dev {
			fds = append(fds, fd)
		}
	}
	return fds
}
