package main

import (
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/veil-sandbox/veil/runsc/container"
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "run", summary: "create and start a container, and wait for it unless --detach", run: cmdRun, startsSandbox: true})
}

func cmdRun(g *globalFlags, args []string) int {
	fs := flagSet("run")
	var f createFlags
	f.register(fs)
	var detach bool
	fs.BoolVar(&detach, "detach", false, "return once the container runs, leaving it in the background")
	fs.BoolVar(&detach, "d", false, "short for --detach")
	if ok, code := g.parseFlags(fs, args, "[flags] ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	o, err := g.createOptions(&f, detach)
	if err != nil {
		return g.fail("run: %v", err)
	}
	id := fs.Arg(0)
	if detach {
		o.Start = true
		c, err := container.Create(g.root, id, o)
		if err != nil && !container.IsWarning(err) {
			return g.startFailure("run", err)
		}
		if err != nil {
			g.warn("%v", err)
		}
		if c.State.Status == container.Created {
			if err := c.Start(); err != nil && !container.IsWarning(err) {
				c.Delete(true)
				return g.fail("run: %v", err)
			}
		}
		return 0
	}
	return g.runForeground("run", id, o)
}

// runForeground creates, starts and waits for a container whose sandbox
// dies with runsc, forwarding signals to it and relaying its terminal if
// runsc allocated one, then deletes it. It returns the process's exit
// code.
func (g *globalFlags) runForeground(cmd, id string, o *container.CreateOptions) int {
	var relay *ptyRelay
	if o.Spec.Process.Terminal && o.ConsoleSocket == "" {
		master, slave, err := container.OpenPTY(o.Spec.Process.ConsoleSize)
		if err != nil {
			return g.fail("%s: %v", cmd, err)
		}
		defer slave.Close()
		relay = newPTYRelay(master)
		defer relay.Close()
		o.Console = slave
	}
	// Caught before the sandbox exists, so that none is lost; forwarded
	// once it runs.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGWINCH)
	defer signal.Stop(sigs)
	if relay != nil {
		// Copying begins before the process runs, so none of its output
		// waits.
		relay.Start()
	}
	o.Start = true
	c, err := container.Create(g.root, id, o)
	if err != nil && !container.IsWarning(err) {
		return g.startFailure(cmd, err)
	}
	if err != nil {
		g.warn("%v", err)
	}
	defer c.Delete(true)
	if c.State.Status == container.Created {
		if err := c.Start(); err != nil && !container.IsWarning(err) {
			return g.fail("%s: %v", cmd, err)
		}
	}
	go func() {
		for s := range sigs {
			sig := s.(unix.Signal)
			switch {
			case sig == unix.SIGWINCH && relay != nil:
				relay.Resize()
			case sig == unix.SIGTTIN || sig == unix.SIGTTOU:
			case sig == unix.SIGTSTP && !o.Spec.Process.Terminal && len(o.RelayTerminal) == 0:
			default:
				c.SignalSandbox(sig)
			}
		}
	}()
	code, err := c.WaitChild()
	if err != nil {
		return g.fail("%s: %v", cmd, err)
	}
	if relay != nil {
		relay.Drain(o.Console)
	}
	return code
}

// ptyRelay copies between runsc's own stdio and a terminal it allocated
// for the container (runc does the same for `run` without a console
// socket), with runsc's terminal in raw mode so that keys reach the
// container's terminal untouched.
type ptyRelay struct {
	master  *os.File
	restore *unix.Termios
	out     chan struct{}
}

func newPTYRelay(master *os.File) *ptyRelay {
	r := &ptyRelay{master: master, out: make(chan struct{})}
	r.Resize()
	return r
}

// Start begins copying and puts runsc's terminal in raw mode.
func (r *ptyRelay) Start() {
	if saved, err := makeRaw(0); err == nil {
		r.restore = saved
	}
	go io.Copy(r.master, os.Stdin)
	go func() {
		io.Copy(os.Stdout, r.master)
		close(r.out)
	}()
}

// Resize gives the container's terminal runsc's window size.
func (r *ptyRelay) Resize() {
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Drain closes runsc's end of the terminal, the last one once the
// sandbox is gone, and waits for the output still buffered in it.
func (r *ptyRelay) Drain(slave *os.File) {
	slave.Close()
	select {
	case <-r.out:
	case <-time.After(time.Second):
	}
}

// Close restores runsc's terminal.
func (r *ptyRelay) Close() {
	if r.restore != nil {
		unix.IoctlSetTermios(0, unix.TCSETS, r.restore)
	}
	r.master.Close()
}

// makeRaw puts terminal fd in raw mode (cfmakeraw(3)): no line editing,
// echo, signal keys or output processing, so that every key reaches
// whoever reads it as typed. It returns the settings to restore.
func makeRaw(fd int) (*unix.Termios, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	saved := *t
	raw := *t
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return &saved, nil
}
