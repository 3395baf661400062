// Command runsc is Veil's OCI runtime: it runs containers on the Sentry, a
// Linux kernel in user space, with a gofer process serving their files.
// Its command line is runc's, so container engines drive it as they drive
// runc; each command lives in its own file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/container"
	"github.com/veil-sandbox/veil/runsc/logfile"
	"github.com/veil-sandbox/veil/runsc/sandbox"
)

// version is runsc's version (set with -ldflags "-X main.version=...").
var version = "0.1.0-dev"

// defaultPlatform is --platform's default: auto picks the fastest platform
// that works here (see boot.NewPlatform). -ldflags "-X
// main.defaultPlatform=ptrace" builds a runsc with another default (the
// end-to-end tests use this to run everything on each platform).
var defaultPlatform = "auto"

// globalFlags are the flags accepted before the command, as runc's.
type globalFlags struct {
	root          string
	platform      string
	logPath       string
	logFormat     string
	strace        bool
	debug         bool
	systemdCgroup bool
	overlay       bool
	network       string
	showVersion   bool
	help          bool
	netRaw        bool

	// log is the --log file (nil without one); logger writes to it.
	log    *os.File
	logger *logfile.Logger
}

// command is one runsc subcommand.
type command struct {
	name    string
	summary string
	run     func(g *globalFlags, args []string) int
	// internal commands are runsc's own children, not for users.
	internal bool
	// unprivileged commands work without root (they only read or
	// write files the caller names).
	unprivileged bool
	// startsSandbox commands start a Sentry: the host's support for it
	// is checked first, so that a missing feature is named.
	startsSandbox bool
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func main() {
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	g := &globalFlags{}
	fs := globalFlagSet(g)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "runsc: %v (see runsc --help)\n", flagError(err))
		return 2
	}
	if g.showVersion {
		printVersion()
		return 0
	}
	if g.help || fs.NArg() == 0 {
		usage(fs, os.Stdout)
		if fs.NArg() == 0 && !g.help {
			return 2
		}
		return 0
	}
	format, err := logfile.ParseFormat(g.logFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc: %v\n", err)
		return 2
	}
	if g.logPath != "" {
		g.logger, g.log, err = logfile.Open(g.logPath, format, g.debug)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runsc: %v\n", err)
			return 1
		}
		defer g.log.Close()
	} else {
		g.logger = logfile.New(nil, format, g.debug)
	}
	name := fs.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		return g.fail("unknown command %q (see runsc --help)", name)
	}
	// Help needs nothing of the host.
	if asksHelp(fs.Args()[1:]) {
		return cmd.run(g, fs.Args()[1:])
	}
	if !cmd.unprivileged && !cmd.internal && os.Geteuid() != 0 {
		return g.fail("%s needs root (it creates namespaces and traces the sandbox's processes): run it as root, e.g. sudo runsc %s", name, name)
	}
	if err := boot.CheckPlatform(g.platform); err != nil {
		return g.fail("%v", err)
	}
	if cmd.startsSandbox {
		if err := sandbox.CheckHost(); err != nil {
			return g.fail("%v", err)
		}
	}
	if err := boot.CheckNetwork(g.network); err != nil {
		return g.fail("%v", err)
	}
	g.logger.Debugf("runsc %s", strings.Join(args, " "))
	return cmd.run(g, fs.Args()[1:])
}

// asksHelp says whether a command's flags (those before its first
// argument) ask for its help.
func asksHelp(args []string) bool {
	for _, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			return false
		}
		switch a {
		case "-h", "-help", "--help", "--h":
			return true
		}
	}
	return false
}

// globalFlagSet makes the flag set of the global flags, filling g.
func globalFlagSet(g *globalFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("runsc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", "/run/runsc", "directory for the state of containers")
	fs.StringVar(&g.platform, "platform", defaultPlatform, "platform that runs application code: systrap, ptrace, or auto (systrap where it works, else ptrace)")
	fs.StringVar(&g.logPath, "log", "", "file to append runsc's log to (errors always go to stderr too)")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&g.strace, "strace", false, "log every system call of the application")
	fs.BoolVar(&g.debug, "debug", false, "debug log; report unimplemented system calls at exit")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "cgroupsPath is slice:prefix:name for systemd")
	fs.BoolVar(&g.overlay, "overlay", false, "keep writes to the root filesystem in sandbox memory")
	fs.StringVar(&g.network, "network", "", "network: sandbox (the Sentry's own TCP/IP stack on the container's network namespace; default), host (host sockets, weaker isolation) or none (loopback only; default for do)")
	fs.BoolVar(&g.netRaw, "net-raw", false, "let applications with CAP_NET_RAW make raw IP sockets (SOCK_RAW); without it they get EPERM")
	fs.BoolVar(&g.showVersion, "version", false, "print the version")
	fs.BoolVar(&g.showVersion, "v", false, "print the version")
	fs.BoolVar(&g.help, "help", false, "show help")
	fs.BoolVar(&g.help, "h", false, "show help")
	return fs
}

// fail reports an error as one line on stderr and in the log, and returns
// runsc's exit code for it.
func (g *globalFlags) fail(format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", "; ")
	fmt.Fprintf(os.Stderr, "runsc: %s\n", msg)
	g.logger.Errorf("%s", msg)
	return 1
}

// warn reports a problem that did not stop the command.
func (g *globalFlags) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "runsc: warning: %s\n", msg)
	g.logger.Warnf("%s", msg)
}

// result turns a container operation's error into an exit code: warnings
// are reported but succeed.
func (g *globalFlags) result(err error) int {
	switch {
	case err == nil:
		return 0
	case container.IsWarning(err):
		g.warn("%v", err)
		return 0
	}
	return g.fail("%v", err)
}

// fatalf is fail for the internal commands, which have no logger setup
// of their own beyond stderr.
func fatalf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "runsc: "+format+"\n", args...)
	return 1
}

// flagSet makes a command's flag set: errors are returned, not printed.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses a command's flags; on error it reports one line. It
// returns false if the command should stop (code is then its exit code).
func (g *globalFlags) parseFlags(fs *flag.FlagSet, args []string, synopsis string) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Printf("usage: runsc %s %s\n\n", fs.Name(), synopsis)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return false, 0
		}
		return false, g.fail("%s: %v (see runsc %s --help)", fs.Name(), flagError(err), fs.Name())
	}
	return true, 0
}

// flagError shortens the flag package's messages to one line.
func flagError(err error) string {
	return strings.SplitN(err.Error(), "\n", 2)[0]
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "usage: runsc [global flags] COMMAND [flags] [args]\n\ncommands:\n")
	var names []string
	for n, c := range commands {
		if !c.internal {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nglobal flags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// needArgs checks a command's positional arguments.
func (g *globalFlags) needArgs(fs *flag.FlagSet, min, max int, what string) (ok bool, code int) {
	n := fs.NArg()
	if n < min || (max >= 0 && n > max) {
		return false, g.fail("%s: expected %s, got %d argument(s) (see runsc %s --help)", fs.Name(), what, n, fs.Name())
	}
	return true, 0
}

// load finds a container for a command.
func (g *globalFlags) load(id string) (*container.Container, error) {
	return container.Load(g.root, id)
}

// containerCommand parses the flags of a command that takes one container
// id (after its flags, and before at most maxExtra more arguments) and
// loads the container. On failure it returns nil and the exit code.
func (g *globalFlags) containerCommand(fs *flag.FlagSet, args []string, synopsis string, maxExtra int) (*container.Container, int) {
	if ok, code := g.parseFlags(fs, args, synopsis); !ok {
		return nil, code
	}
	what := "a container id"
	if maxExtra != 0 {
		what = "a container id and arguments"
	}
	max := 1 + maxExtra
	if maxExtra < 0 {
		max = -1
	}
	if ok, code := g.needArgs(fs, 1, max, what); !ok {
		return nil, code
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return nil, g.fail("%s: %v", fs.Name(), err)
	}
	return c, 0
}
