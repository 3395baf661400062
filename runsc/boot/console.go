package boot

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/sentry/fs/devpts"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// console is the Sentry's pseudo-terminal that stands for the terminal
// runsc was started on (runsc do): the first process gets its slave as
// the descriptors that were that terminal and as its controlling
// terminal, and the Sentry relays between its master and the host
// terminal, which runsc has put in raw mode. So the line discipline,
// echo and job control are all the Sentry's, and the application never
// changes the host terminal (see the README's design notes).
type console struct {
	m *devpts.Master
	// fds are the first process's descriptors (among 0-2) that are the
	// terminal; in and out are the Sentry's own host descriptors of it
	// that keys are read from and output written to.
	fds     []int
	in, out int
	path    string

	// outMu serializes writes to the host, so the final drain comes
	// after what the relay already took.
	outMu sync.Mutex
}

// newConsole makes the console of spec.RelayTerminal: a new pair in the
// sandbox's devpts, owned by the process's user, with the host
// terminal's settings (as runsc saw them before making them raw, like
// ssh -t and script(1) copy them) and window size.
func newConsole(s *sandbox, spec *Spec) (*console, error) {
	if s.pts == nil {
		return nil, fmt.Errorf("no devpts for the terminal")
	}
	owner := ownerContext{}
	if p := spec.OCI.Process; p != nil {
		owner.uid, owner.gid = p.User.UID, p.User.GID
	}
	m, err := s.pts.NewMaster(owner)
	if err != nil {
		return nil, fmt.Errorf("allocating the terminal: %w", err)
	}
	c := &console{m: m, fds: spec.RelayTerminal, in: 0, out: -1, path: "/dev/pts/" + strconv.Itoa(int(m.Index()))}
	for _, fd := range []int{1, 2, 0} {
		if c.isTerminal(fd) {
			c.out = fd
			break
		}
	}
	if spec.RelayTermios != nil {
		m.SetTermios(devpts.FromUnix(spec.RelayTermios))
	}
	m.TTY().SetKeysFromHost(true)
	m.Unlock()
	c.resize()
	return c, nil
}

func (c *console) isTerminal(fd int) bool {
	for _, f := range c.fds {
		if f == fd {
			return true
		}
	}
	return false
}

// openSlave opens the slave for the first process.
func (c *console) openSlave(v *vfs.VirtualFilesystem, owner ownerContext) (*vfs.FileDescription, error) {
	root := v.Root()
	pop := vfs.PathOperation{Root: root, Start: root, Path: c.path, FollowFinal: true}
	return v.Open(owner, pop, unix.O_RDWR|unix.O_NOCTTY, 0)
}

// start begins relaying keys from the host terminal to the master and
// output from the master to the host terminal.
func (c *console) start() {
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := hostIO(c.in, buf, unix.POLLIN, unix.Read)
			if n > 0 {
				// A size the host terminal took before these keys
				// were typed reaches the terminal before them, as on
				// the host's own pty; the SIGWINCH that also says so
				// may come later (resize does nothing if unchanged).
				c.resize()
				if _, err := c.m.Write(bootContext{}, buf[:n], -1, false); err != nil {
					return
				}
			}
			if err != nil || n == 0 {
				// The host terminal is gone (hung up): the
				// sandbox's keyboard is gone with it.
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 4096)
		for c.m.WaitOutput(bootContext{}) {
			c.outMu.Lock()
			c.writeOut(buf[:c.m.TakeOutput(buf)])
			c.outMu.Unlock()
		}
	}()
}

// drain writes what the sandbox's processes left in the terminal before
// the Sentry exits.
func (c *console) drain() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	buf := make([]byte, 4096)
	for {
		n := c.m.TakeOutput(buf)
		if n == 0 {
			return
		}
		c.writeOut(buf[:n])
	}
}

// writeOut writes all of b to the host terminal (dropping it if there is
// no writable one).
func (c *console) writeOut(b []byte) {
	for len(b) > 0 && c.out >= 0 {
		n, err := hostIO(c.out, b, unix.POLLOUT, unix.Write)
		if err != nil {
			return
		}
		b = b[n:]
	}
}

// hostIO does one read or write on a host descriptor that may be in
// non-blocking mode (it is shared with the user's shell, so the Sentry
// leaves its mode alone), waiting for it to be ready.
func hostIO(fd int, b []byte, ev int16, op func(int, []byte) (int, error)) (int, error) {
	for {
		n, err := op(fd, b)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			fds := []unix.PollFd{{Fd: int32(fd), Events: ev}}
			unix.Ppoll(fds, nil, nil)
			continue
		}
		return n, err
	}
}

// resize gives the terminal the host terminal's window size (at start and
// on SIGWINCH); a change signals the foreground process group.
func (c *console) resize() {
	if ws, err := unix.IoctlGetWinsize(c.in, unix.TIOCGWINSZ); err == nil {
		c.m.SetWindowSize(*ws)
	}
}

// ownerContext is bootContext acting as the first process's user, so that
// the terminal is the user's, as login(1) and sshd make it.
type ownerContext struct {
	bootContext
	uid, gid uint32
}

func (o ownerContext) FSUID() uint32 { return o.uid }
func (o ownerContext) FSGID() uint32 { return o.gid }

// ptsOptions are the options of the devpts mount of the configuration
// (mode=, ptmxmode=, gid=), or those of a Debian host without one.
func ptsOptions(oci *specs.Spec) (devpts.Options, error) {
	o := devpts.HostDefaults
	for _, m := range oci.Mounts {
		if m.Type != "devpts" || strings.TrimRight(m.Destination, "/") != "/dev/pts" {
			continue
		}
		var err error
		if o, err = devpts.ParseOptions(m.Options, func(g uint32) (uint32, bool) { return g, true }, false); err != nil {
			return o, fmt.Errorf("devpts options %q: %w", strings.Join(m.Options, ","), err)
		}
	}
	return o, nil
}
