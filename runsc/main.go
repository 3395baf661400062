// Command runsc is Veil's OCI runtime: it runs containers on the Sentry, a
// Linux kernel in user space, with a gofer process serving their files.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// globalFlags are the flags accepted before the subcommand, as with
// gVisor's and runc's runsc.
type globalFlags struct {
	root     string
	platform string
	strace   bool
	debug    bool
	overlay  bool
}

var commands = map[string]func(g *globalFlags, args []string) int{
	"do":    cmdDo,
	"run":   cmdRun,
	"boot":  cmdBoot,
	"gofer": cmdGofer,
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage: runsc [global flags] COMMAND [args]

commands:
  do [--] CMD ARGS...     run CMD in a sandbox whose root is the host's / (read-only)
  run --bundle DIR ID     run the OCI bundle DIR as container ID

global flags:
`)
	flag.PrintDefaults()
}

func main() {
	var g globalFlags
	flag.StringVar(&g.root, "root", "/run/runsc", "state directory for containers")
	flag.StringVar(&g.platform, "platform", "ptrace", "platform that runs application code (ptrace)")
	flag.BoolVar(&g.strace, "strace", false, "log every system call of the application to stderr")
	flag.BoolVar(&g.debug, "debug", false, "report unimplemented system calls at exit")
	flag.BoolVar(&g.overlay, "overlay", false, "overlay the root filesystem with a tmpfs in sandbox memory: writes never reach the host")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() == 0 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[flag.Arg(0)]
	if !ok {
		fatalf("unknown command %q (try: %s)", flag.Arg(0), strings.Join([]string{"do", "run"}, ", "))
	}
	if g.platform != "ptrace" {
		fatalf("platform %q is not available: only ptrace is implemented", g.platform)
	}
	os.Exit(cmd(&g, flag.Args()[1:]))
}

// fatalf prints a one-line error and exits 1.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "runsc: "+format+"\n", args...)
	os.Exit(1)
}
