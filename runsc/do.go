package main

import (
	"flag"
	"os"

	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/sandbox"
)

// cmdDo runs a command in a sandbox over the host's root filesystem,
// read-only, with a private tmpfs at /tmp (like gVisor's "runsc do").
func cmdDo(g *globalFlags, args []string) int {
	fs := flag.NewFlagSet("do", flag.ExitOnError)
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		fatalf("do: no command given")
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	spec := boot.Spec{
		Args:         argv,
		Env:          os.Environ(),
		Cwd:          cwd,
		RootReadOnly: true,
		Overlay:      g.overlay,
		Mounts:       []boot.Mount{{Destination: "/tmp", Type: "tmpfs"}},
		Hostname:     "veil",
		Strace:       g.strace,
		Debug:        g.debug,
	}
	return sandbox.Run(spec, "/")
}
