package main

import (
	"os"
	"os/signal"

	"github.com/veil-sandbox/veil/runsc/container"
	"github.com/veil-sandbox/veil/runsc/control"
	"github.com/veil-sandbox/veil/runsc/sandbox"
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "exec-wait", summary: "the host stand-in of an exec'd process (started by runsc exec)", run: cmdExecWait, internal: true})
}

// cmdExecWait stands on the host for a process runsc exec started in a
// sandbox, as runc's exec'd process itself would: engines wait for this
// pid, and signal it to signal the process. It exits with the process's
// status. It holds the process's control connection; if it dies, the
// Sentry kills the process. With --tty it holds the process's terminal
// as its controlling terminal, so ^C, ^\, ^Z and window size changes
// from the host's line discipline reach it and go to the terminal's
// foreground process group.
func cmdExecWait(g *globalFlags, args []string) int {
	fs := flagSet("exec-wait")
	id := fs.String("id", "", "container id")
	pid := fs.Int("pid", 0, "pid of the process in the sandbox")
	connFD := fs.Int("conn-fd", -1, "descriptor of the process's control connection")
	tty := fs.Bool("tty", false, "the process has a terminal, our controlling terminal")
	if err := fs.Parse(args); err != nil || *connFD < 0 || *id == "" || *pid <= 0 {
		return g.fail("exec-wait: --id, --pid and --conn-fd are required")
	}
	c, err := container.Load(g.root, *id)
	if err != nil {
		return g.fail("exec-wait: %v", err)
	}
	proc := &sandbox.ExecProcess{PID: int32(*pid), Conn: control.NewConn(*connFD)}
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGWINCH, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT, unix.SIGALRM, unix.SIGPIPE)
	go func() {
		for s := range ch {
			sig := s.(unix.Signal)
			switch {
			case sig == unix.SIGTTIN || sig == unix.SIGTTOU || sig == unix.SIGPIPE:
			case *tty && (sig == unix.SIGINT || sig == unix.SIGQUIT || sig == unix.SIGTSTP || sig == unix.SIGWINCH):
				c.SignalProcess(proc.PID, sig, true)
			default:
				c.SignalProcess(proc.PID, sig, false)
			}
		}
	}()
	ws, err := proc.Wait()
	if err != nil {
		return g.fail("exec-wait: %v", err)
	}
	signal.Stop(ch)
	if ws&0x7f != 0 {
		// Die of the same signal, so that the engine sees what a runc
		// process would show.
		sig := unix.Signal(ws & 0x7f)
		unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}) // no core file of ours
		signal.Reset(sig)
		unix.Kill(os.Getpid(), sig)
	}
	return control.ExitCode(ws)
}
