// Package control is the protocol between runsc commands and a running
// Sentry: the control socket in the container's state directory.
//
// The socket is a unix SOCK_SEQPACKET socket that runsc create binds (mode
// 0600 in a 0700 directory, so only root reaches it) and hands to the
// Sentry, which accepts on it and also checks that the peer is uid 0. A
// client connects, sends one Request, and reads Responses on the same
// connection: one for most methods; for MethodExec one when the process
// has started and one when it has exited. Each message is one JSON
// document in one packet; host file descriptors travel with a message as
// SCM_RIGHTS (an exec's stdio).
package control

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Method names a control request.
type Method string

// The control requests.
const (
	// MethodStart runs the container's init process.
	MethodStart Method = "start"
	// MethodSignal sends Signal to PID (0: init), to every process (All),
	// or to the foreground process group of PID's terminal (Foreground).
	MethodSignal Method = "signal"
	// MethodExec starts Process in the sandbox with the attached
	// descriptors as its stdin, stdout and stderr (one descriptor, the
	// terminal, if Process.Terminal). The first response carries its pid,
	// the second its exit. Closing the connection before then kills it.
	MethodExec Method = "exec"
	// MethodWait waits for process PID (0: init) to exit.
	MethodWait Method = "wait"
	// MethodProcesses lists the sandbox's processes.
	MethodProcesses Method = "processes"
	// MethodPause and MethodResume freeze and thaw the sandbox.
	MethodPause  Method = "pause"
	MethodResume Method = "resume"
	// MethodCreateContainer creates container Container of the pod in
	// the sandbox from Spec (a boot.Spec), not started. The attached
	// descriptors are its stdio (3 + Spec.PreserveFDs of them), its exit
	// status file, then its gofer connections (root first). The first
	// response says it exists; the client then sends MethodCommit (Start:
	// run it now) once it has recorded it, and gets a second response.
	// A connection closed before the commit destroys the container, so
	// a runsc killed midway leaves nothing running.
	MethodCreateContainer Method = "create-container"
	MethodCommit          Method = "commit"
	// MethodDestroyContainer kills every process of container Container
	// and releases its mounts and gofer connections.
	MethodDestroyContainer Method = "destroy-container"
)

// Request is what a client sends.
type Request struct {
	Method     Method         `json:"method"`
	PID        int32          `json:"pid,omitempty"`
	Signal     int            `json:"signal,omitempty"`
	All        bool           `json:"all,omitempty"`
	Foreground bool           `json:"foreground,omitempty"`
	Process    *specs.Process `json:"process,omitempty"`
	// Container is the container of the pod the request is for; "" is
	// the sandbox's own (the first one).
	Container string          `json:"container,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	Start     bool            `json:"start,omitempty"`
	// Interfaces: see MethodNetwork.
	Interfaces []NetInterface `json:"interfaces,omitempty"`
}

// Response is what the Sentry answers.
type Response struct {
	// Error is a one-line description of what failed; empty on success.
	Error string `json:"error,omitempty"`
	// PID is the sandbox pid of an exec'd process.
	PID int32 `json:"pid,omitempty"`
	// Exited is set when a process exited; ExitStatus is its wait(2)
	// status word.
	Exited     bool           `json:"exited,omitempty"`
	ExitStatus uint32         `json:"exitStatus,omitempty"`
	Processes  []ProcessEntry `json:"processes,omitempty"`
}

// ProcessEntry is one process of the sandbox (runsc ps).
type ProcessEntry struct {
	PID     int32  `json:"pid"`
	PPID    int32  `json:"ppid"`
	UID     uint32 `json:"uid"`
	Threads int    `json:"threads"`
	Comm    string `json:"comm"`
	// Start is the process's start time in Unix seconds.
	Start   int64 `json:"start"`
	Stopped bool  `json:"stopped,omitempty"`
}

// ExitCode turns a wait status into a shell-style exit code (128+N for
// death by signal N).
func ExitCode(ws uint32) int {
	if ws&0x7f == 0 {
		return int(ws>>8) & 0xff
	}
	return 128 + int(ws&0x7f)
}

// maxMessage bounds one packet: a process with a large environment fits.
const maxMessage = 1 << 20

// maxFDs bounds the descriptors attached to one message.
const maxFDs = 16

// Conn is one control connection.
type Conn struct {
	fd int
}

// NewConn wraps a connected SOCK_SEQPACKET descriptor; the Conn owns it.
func NewConn(fd int) *Conn { return &Conn{fd: fd} }

// Dial connects to the control socket at path.
func Dial(path string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	err = viaShortPath(path, func(p string) error { return unix.Connect(fd, &unix.SockaddrUnix{Name: p}) })
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connecting to the sandbox (%s): %w", path, err)
	}
	setBuffers(fd)
	return &Conn{fd: fd}, nil
}

func setBuffers(fd int) {
	// A packet must fit the send buffer whole.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, maxMessage+4096)
}

// Listen creates the control socket at path, listening, and returns its
// descriptor (for the Sentry to inherit).
func Listen(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	old := unix.Umask(0o177) // the socket file is 0600
	err = viaShortPath(path, func(p string) error { return unix.Bind(fd, &unix.SockaddrUnix{Name: p}) })
	unix.Umask(old)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), "control"), nil
}

// maxSocketPath is the room in sockaddr_un for a path (and its NUL).
const maxSocketPath = 107

// viaShortPath calls op with path, or, if path is too long for a unix
// socket address (engines' state directories can be), with a path through
// an open descriptor of its directory (/proc/self/fd/N/NAME).
func viaShortPath(path string, op func(string) error) error {
	if len(path) <= maxSocketPath {
		return op(path)
	}
	dir, name := filepath.Split(path)
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	return op(fmt.Sprintf("/proc/self/fd/%d/%s", dfd, name))
}

// Accept waits for the next client on the listening socket lfd. Clients
// that are not root are turned away.
func Accept(lfd int) (*Conn, error) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return nil, err
		}
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil || cred.Uid != 0 {
			unix.Close(fd)
			continue
		}
		setBuffers(fd)
		return &Conn{fd: fd}, nil
	}
}

// FD returns the connection's descriptor.
func (c *Conn) FD() int { return c.fd }

// Close closes the connection.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Send sends v as one message with fds attached.
func (c *Conn) Send(v any, fds ...int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("control message too large (%d bytes)", len(b))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err = unix.Sendmsg(c.fd, b, oob, nil, 0)
		if err != unix.EINTR {
			return err
		}
	}
}

// Recv reads one message into v and returns the descriptors attached to
// it (close-on-exec). io.EOF-like closure is reported as errClosed.
func (c *Conn) Recv(v any) ([]int, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(c.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	if n == 0 {
		closeAll(fds)
		return nil, ErrClosed
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeAll(fds)
		return nil, fmt.Errorf("control message: %w", err)
	}
	return fds, nil
}

// ErrClosed reports that the peer closed the connection.
var ErrClosed = fmt.Errorf("control connection closed")

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Call sends req with fds and returns the first response; an error in the
// response is returned as an error.
func (c *Conn) Call(req *Request, fds ...int) (*Response, error) {
	if err := c.Send(req, fds...); err != nil {
		return nil, fmt.Errorf("sending %s request: %w", req.Method, err)
	}
	return c.Next()
}

// Next reads the next response on the connection.
func (c *Conn) Next() (*Response, error) {
	var resp Response
	fds, err := c.Recv(&resp)
	closeAll(fds)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return &resp, &RemoteError{Msg: resp.Error}
	}
	return &resp, nil
}

// RemoteError is a failure the Sentry reported.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }
