package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestCallWithDescriptors sends a request with a descriptor over a real
// control socket and checks both arrive.
func TestCallWithDescriptors(t *testing.T) {
	dir := t.TempDir()
	// Longer than a sockaddr_un path: reached through the directory.
	long := filepath.Join(dir, strings.Repeat("d", 120))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(long, "control.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		c, err := Accept(int(l.Fd()))
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		var req Request
		fds, err := c.Recv(&req)
		if err != nil {
			done <- err
			return
		}
		if req.Method != MethodExec || req.Process == nil || req.Process.Args[0] != "sh" || len(fds) != 1 {
			c.Send(&Response{Error: "bad request"})
			done <- nil
			return
		}
		unix.Write(fds[0], []byte("via fd"))
		unix.Close(fds[0])
		c.Send(&Response{PID: 42})
		done <- nil
	}()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(&Request{Method: MethodExec, Process: &specs.Process{Args: []string{"sh"}}}, int(w.Fd()))
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.PID != 42 {
		t.Errorf("pid %d, want 42", resp.PID)
	}
	buf := make([]byte, 16)
	n, _ := r.Read(buf)
	if string(buf[:n]) != "via fd" {
		t.Errorf("read %q through the passed descriptor", buf[:n])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRemoteErrorAndClose(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewConn(fds[0]), NewConn(fds[1])
	defer a.Close()
	if err := b.Send(&Response{Error: "no such process 7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Next(); err == nil || err.Error() != "no such process 7" {
		t.Errorf("Next: %v, want the remote error", err)
	}
	b.Close()
	if _, err := a.Next(); err != ErrClosed {
		t.Errorf("Next after close: %v, want ErrClosed", err)
	}
}

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		ws   uint32
		want int
	}{{0, 0}, {3 << 8, 3}, {9, 137}, {15, 143}} {
		if got := ExitCode(c.ws); got != c.want {
			t.Errorf("ExitCode(%#x) = %d, want %d", c.ws, got, c.want)
		}
	}
}
