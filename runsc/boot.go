package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/seccomp"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/socket/hostinet"
	"github.com/veil-sandbox/veil/sentry/vdso"
)

func init() {
	register(&command{name: "boot", summary: "the Sentry (started by runsc)", run: cmdBoot, internal: true})
}

// cmdBoot is the Sentry process. runsc starts it; users never do.
func cmdBoot(g *globalFlags, args []string) int {
	fs := flagSet("boot")
	specFD := fs.Int("spec-fd", -1, "descriptor to read the JSON spec from")
	readyFD := fs.Int("ready-fd", -1, "descriptor to report readiness on")
	controlFD := fs.Int("control-fd", -1, "listening control socket")
	goferFDs := fs.String("gofer-fds", "", "descriptors of the gofer connections, comma-separated")
	exitFD := fs.Int("exit-fd", -1, "descriptor of the exit status file")
	logFD := fs.Int("log-fd", -1, "descriptor of the log")
	netFDs := fs.String("net-fds", "", "packet sockets of the network interfaces, comma-separated")
	packetIO := fs.Bool("packet-io", false, "allow packet I/O for interfaces handed over later")
	commitFD := fs.Int("commit-fd", -1, "descriptor runsc writes to once the container is recorded")
	if err := fs.Parse(args); err != nil {
		return fatalf("boot: %v", flagError(err))
	}
	if *specFD < 0 || *readyFD < 0 || *goferFDs == "" {
		return fatalf("boot: --spec-fd, --ready-fd and --gofer-fds are required")
	}
	// The vDSO's TSC calibration takes a few milliseconds: from now,
	// while the Sentry sets up, rather than once its first process
	// waits to map the vDSO.
	files := boot.Files{Ready: os.NewFile(uintptr(*readyFD), "ready"), Calibration: vdso.StartCalibration()}
	for _, s := range strings.Split(*goferFDs, ",") {
		fd, err := strconv.Atoi(s)
		if err != nil {
			return fatalf("boot: bad --gofer-fds %q", *goferFDs)
		}
		files.Gofers = append(files.Gofers, os.NewFile(uintptr(fd), "gofer"))
	}
	if *netFDs != "" {
		for _, s := range strings.Split(*netFDs, ",") {
			fd, err := strconv.Atoi(s)
			if err != nil {
				return fatalf("boot: bad --net-fds %q", *netFDs)
			}
			files.Net = append(files.Net, os.NewFile(uintptr(fd), "packet"))
		}
	}
	if *controlFD >= 0 {
		files.Control = os.NewFile(uintptr(*controlFD), "control")
	}
	if *exitFD >= 0 {
		files.Exit = os.NewFile(uintptr(*exitFD), "exit")
	}
	if *logFD >= 0 {
		files.Log = os.NewFile(uintptr(*logFD), "log")
	}
	if *commitFD >= 0 {
		files.Commit = os.NewFile(uintptr(*commitFD), "commit")
	}
	// The spec first: the network mode decides what the Sentry reads of
	// the host and which seccomp filter it runs under.
	var spec boot.Spec
	f := os.NewFile(uintptr(*specFD), "spec")
	if err := json.NewDecoder(f).Decode(&spec); err != nil {
		return fatalf("boot: reading spec: %v", err)
	}
	f.Close()
	hostNetwork := spec.Network == boot.NetworkHost
	if hostNetwork {
		// The network namespace's interfaces and routes, and its
		// /proc/net files, while rtnetlink and /proc are still there.
		var err error
		if files.HostNetwork, err = hostinet.ReadHost(); err != nil {
			return fatalf("boot: %v", err)
		}
	}
	// The host's processors, for the sandbox's /proc/cpuinfo and
	// /sys/devices/system/cpu: read while the host's /sys is still there.
	files.Host = hostinfo.Read()
	if err := boot.ConfineSentry(); err != nil {
		return fatalf("boot: %v", err)
	}
	// The Sentry needs no privilege once its namespaces are set up:
	// tracing its own stub processes takes none.
	if err := confineCapabilities(); err != nil {
		return fatalf("boot: %v", err)
	}
	// The platform, if it must exist before the filter (systrap: see
	// boot.NewPlatform).
	var err error
	if files.Platform, err = boot.NewPlatform(g.platform); err != nil {
		return fatalf("boot: %v", err)
	}
	// From here on only the system calls the Sentry needs at run time,
	// on every thread, and in the ptrace platform's stub processes
	// (with --network=host, also those of its host sockets).
	if err := seccomp.InstallSentry(seccomp.SentryOptions{PacketIO: *packetIO || len(files.Net) > 0, HostNetwork: hostNetwork}); err != nil {
		return fatalf("boot: %v", err)
	}
	return boot.Run(&spec, files)
}
