package main

import (
	"encoding/json"
	"flag"
	"os"

	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/seccomp"
)

// cmdBoot is the Sentry process. runsc starts it; users never do.
func cmdBoot(g *globalFlags, args []string) int {
	fs := flag.NewFlagSet("boot", flag.ExitOnError)
	specFD := fs.Int("spec-fd", -1, "file descriptor to read the JSON spec from")
	goferFD := fs.Int("gofer-fd", -1, "file descriptor of the gofer connection")
	fs.Parse(args)
	if *specFD < 0 || *goferFD < 0 {
		fatalf("boot: --spec-fd and --gofer-fd are required")
	}
	if err := boot.ConfineSentry(); err != nil {
		fatalf("boot: %v", err)
	}
	// The Sentry needs no privilege once its namespaces are set up:
	// tracing its own stub processes takes none.
	if err := confineCapabilities(); err != nil {
		fatalf("boot: %v", err)
	}
	// From here on only the system calls the Sentry needs at run time,
	// on every thread, and in the stub processes it will start.
	if err := seccomp.InstallSentry(); err != nil {
		fatalf("boot: %v", err)
	}
	var spec boot.Spec
	f := os.NewFile(uintptr(*specFD), "spec")
	if err := json.NewDecoder(f).Decode(&spec); err != nil {
		fatalf("boot: reading spec: %v", err)
	}
	f.Close()
	return boot.Run(spec, os.NewFile(uintptr(*goferFD), "gofer"))
}
