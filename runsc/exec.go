package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/container"
	"github.com/veil-sandbox/veil/runsc/control"
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "exec", summary: "run a new process in a running container", run: cmdExec})
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type execFlags struct {
	process, pidFile, consoleSocket, cwd, user string
	detach, tty, noNewPrivs                    bool
	env, caps, gids                            listFlag
	preserveFDs                                int
	label, apparmor                            string
}

func cmdExec(g *globalFlags, args []string) int {
	fs := flagSet("exec")
	var f execFlags
	fs.StringVar(&f.process, "process", "", "JSON file with the process to run (an OCI process)")
	fs.StringVar(&f.process, "p", "", "short for --process")
	fs.BoolVar(&f.detach, "detach", false, "return once the process runs")
	fs.BoolVar(&f.detach, "d", false, "short for --detach")
	fs.StringVar(&f.pidFile, "pid-file", "", "file to write the pid of the process's host stand-in to")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "unix socket to send the terminal's master to")
	fs.BoolVar(&f.tty, "tty", false, "give the process a terminal")
	fs.BoolVar(&f.tty, "t", false, "short for --tty")
	fs.StringVar(&f.cwd, "cwd", "", "working directory in the container")
	fs.Var(&f.env, "env", "set an environment variable (KEY=VALUE, repeatable)")
	fs.Var(&f.env, "e", "short for --env")
	fs.StringVar(&f.user, "user", "", "UID[:GID] to run as")
	fs.StringVar(&f.user, "u", "", "short for --user")
	fs.Var(&f.gids, "additional-gids", "additional group id (repeatable)")
	fs.Var(&f.gids, "g", "short for --additional-gids")
	fs.Var(&f.caps, "cap", "add a capability (repeatable)")
	fs.Var(&f.caps, "c", "short for --cap")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many descriptors after stdio to the process")
	fs.StringVar(&f.label, "process-label", "", "SELinux label (not applied)")
	fs.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile (not applied)")
	if ok, code := g.parseFlags(fs, args, "[flags] ID [COMMAND ARGS...]"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, -1, "a container id and a command (or --process)"); !ok {
		return code
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("exec: %v", err)
	}
	p, err := execProcess(c, &f, fs.Args()[1:])
	if err != nil {
		return g.fail("exec: %v", err)
	}
	warnings, err := container.CheckProcess(p)
	if err != nil {
		return g.fail("exec: %v", err)
	}
	for _, w := range warnings {
		g.logger.Warnf("%s", w)
	}
	if p.Terminal && f.detach && f.consoleSocket == "" {
		return g.fail("exec: a terminal for a detached process needs --console-socket")
	}

	var stdio []*os.File
	var relay *ptyRelay
	var tty *os.File
	if p.Terminal {
		master, slave, err := container.OpenPTY(p.ConsoleSize)
		if err != nil {
			return g.fail("exec: %v", err)
		}
		defer slave.Close()
		if f.consoleSocket != "" {
			err := container.SendConsole(f.consoleSocket, master)
			master.Close()
			if err != nil {
				return g.fail("exec: %v", err)
			}
		} else {
			relay = newPTYRelay(master)
			defer relay.Close()
		}
		tty = slave
		stdio = []*os.File{slave, slave, slave}
	} else {
		stdio = []*os.File{os.Stdin, os.Stdout, os.Stderr}
	}
	for i := 0; i < f.preserveFDs; i++ {
		stdio = append(stdio, os.NewFile(uintptr(3+i), "preserved"))
	}
	proc, err := c.Exec(p, stdio)
	if err != nil {
		return g.startFailure("exec", err)
	}
	if f.detach || tty != nil {
		// A host process stands for the new one: it waits for it and exits
		// with its status, forwards the signals it gets, and holds its
		// terminal as controlling terminal to get ^C and the like.
		w, err := g.startExecWaiter(c.ID, proc.PID, proc.Conn, tty, !f.detach)
		proc.Conn.Close()
		if err != nil {
			return g.fail("exec: %v", err)
		}
		if f.pidFile != "" {
			if err := writeFile(f.pidFile, strconv.Itoa(w.Process.Pid)); err != nil {
				w.Process.Kill()
				return g.fail("exec: %v", err)
			}
		}
		if f.detach {
			w.Process.Release()
			return 0
		}
		if relay != nil {
			relay.Start()
		}
		stopForwarding := forwardTo(func(sig unix.Signal) { w.Process.Signal(sig) }, relay)
		defer stopForwarding()
		code := waiterExitCode(w.Wait())
		if relay != nil {
			relay.Drain(tty)
		}
		return code
	}
	if f.pidFile != "" {
		return g.fail("exec: --pid-file needs --detach")
	}
	stopForwarding := forwardTo(func(sig unix.Signal) { c.SignalProcess(proc.PID, sig, false) }, nil)
	defer stopForwarding()
	ws, err := proc.Wait()
	proc.Conn.Close()
	if err != nil {
		return g.fail("exec: %v", err)
	}
	return control.ExitCode(ws)
}

// execProcess builds the process to exec: the --process file, or the
// container's own process description with the command line and flags
// applied, as runc does.
func execProcess(c *container.Container, f *execFlags, argv []string) (*specs.Process, error) {
	var p specs.Process
	if f.process != "" {
		b, err := os.ReadFile(f.process)
		if err != nil {
			return nil, fmt.Errorf("process file: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("process file %s: %v", f.process, err)
		}
	} else {
		if len(argv) == 0 {
			return nil, errors.New("no command given")
		}
		if c.Spec != nil && c.Spec.Process != nil {
			p = *c.Spec.Process
		}
		p.Args = argv
		p.Terminal = f.tty
		p.ConsoleSize = nil
	}
	if len(p.Args) == 0 {
		return nil, errors.New("the process has no args")
	}
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	p.Env = append(append([]string{}, p.Env...), f.env...)
	if f.user != "" {
		uid, gid, err := parseUser(f.user)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
	}
	for _, s := range f.gids {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad additional gid %q", s)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
	}
	if len(f.caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		} else {
			cp := *p.Capabilities
			p.Capabilities = &cp
		}
		for _, cp := range f.caps {
			name := strings.ToUpper(cp)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			c := p.Capabilities
			c.Bounding = append(append([]string{}, c.Bounding...), name)
			c.Effective = append(append([]string{}, c.Effective...), name)
			c.Permitted = append(append([]string{}, c.Permitted...), name)
		}
	}
	if f.noNewPrivs {
		p.NoNewPrivileges = true
	}
	return &p, nil
}

// parseUser reads UID[:GID] (numeric: names would need the container's
// /etc/passwd, which the caller resolves).
func parseUser(s string) (uint32, uint32, error) {
	us, gs, _ := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("bad --user %q: want UID[:GID]", s)
	}
	var gid uint64
	if gs != "" {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("bad --user %q: want UID[:GID]", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}

// startExecWaiter starts `runsc exec-wait` for process pid, handing it
// the process's control connection (and terminal).
func (g *globalFlags) startExecWaiter(id string, pid int32, conn *control.Conn, tty *os.File, child bool) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	connFile := os.NewFile(uintptr(conn.FD()), "control")
	args := []string{"--root", g.root, "--log-format", string(g.logger.Format())}
	if g.logPath != "" {
		args = append(args, "--log", g.logPath)
	}
	args = append(args, "exec-wait", "--id", id, "--pid", strconv.Itoa(int(pid)), "--conn-fd", "3")
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "runsc-exec"
	cmd.ExtraFiles = []*os.File{connFile}
	attr := &syscall.SysProcAttr{Setsid: true}
	if tty != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, tty)
		cmd.Args = append(cmd.Args, "--tty")
		attr.Setctty, attr.Ctty = true, 4
	}
	if child {
		attr.Pdeathsig = unix.SIGKILL
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the process's waiter: %w", err)
	}
	return cmd, nil
}

// waiterExitCode is the exit code of a finished exec-wait.
func waiterExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
	if err != nil {
		return 1
	}
	return 0
}

// forwardTo passes the signals runsc gets to send (window size changes to
// the relayed terminal), until the returned function is called.
func forwardTo(send func(unix.Signal), relay *ptyRelay) func() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	go func() {
		for s := range ch {
			sig := s.(unix.Signal)
			if sig == unix.SIGWINCH {
				if relay != nil {
					relay.Resize()
				}
				continue
			}
			send(sig)
		}
	}()
	return func() { signal.Stop(ch) }
}

// writeFile writes a small file atomically (engines read pid files as
// soon as runsc exits).
func writeFile(path, content string) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
