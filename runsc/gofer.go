package main

import (
	"flag"
	"os"

	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/runsc/seccomp"
	"golang.org/x/sys/unix"
)

// cmdGofer is the gofer process: it confines itself to the container's
// root filesystem and serves it to the Sentry over the socket at --io-fd.
func cmdGofer(g *globalFlags, args []string) int {
	fs := flag.NewFlagSet("gofer", flag.ExitOnError)
	root := fs.String("root", "", "root filesystem to serve")
	ioFD := fs.Int("io-fd", -1, "file descriptor of the Sentry's socket")
	readOnly := fs.Bool("readonly", false, "refuse all modifications")
	fs.Parse(args)
	if *root == "" || *ioFD < 0 {
		fatalf("gofer: --root and --io-fd are required")
	}
	if err := gofer.Confine(*root); err != nil {
		fatalf("gofer: %v", err)
	}
	// Serving files as their owners needs only the file capabilities.
	if err := confineCapabilities(unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
		unix.CAP_FOWNER, unix.CAP_FSETID); err != nil {
		fatalf("gofer: %v", err)
	}
	conn := os.NewFile(uintptr(*ioFD), "sentry")
	// From here on only the system calls of serving files.
	if err := seccomp.InstallGofer(); err != nil {
		fatalf("gofer: %v", err)
	}
	if err := gofer.Serve(conn, "/", gofer.ServerOptions{ReadOnly: *readOnly}); err != nil {
		fatalf("gofer: %v", err)
	}
	return 0
}
