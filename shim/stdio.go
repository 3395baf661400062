package shim

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/fifo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/container"
	"golang.org/x/sys/unix"
)

// stdio connects one process to the fifos containerd gives it: the
// process gets pipes (or a pseudo-terminal) whose other ends the shim
// copies to and from the fifos, so that stdin can be closed on its own
// (CloseIO) and the output is complete before the exit is reported.
type stdio struct {
	// files are the process's stdin, stdout and stderr, or the terminal's
	// slave three times; closed once the sandbox holds them.
	files []*os.File
	// console is the terminal's master (nil without a terminal).
	console *os.File

	mu    sync.Mutex
	stdin io.Closer // where the shim writes the process's stdin
	// output is done when every output copy has ended.
	output  sync.WaitGroup
	closers []io.Closer
	// outputs are the output fifos, closed when the process's output
	// ends: their reader (containerd's CRI plugin waits for it before it
	// reports an exec's exit) then reads EOF.
	outputs []io.Closer
	cancel  context.CancelFunc
}

// newStdio opens the fifos (paths may be empty: /dev/null).
func newStdio(stdinPath, stdoutPath, stderrPath string, terminal bool, size *specs.Box) (s *stdio, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	s = &stdio{cancel: cancel}
	defer func() {
		if err != nil {
			s.closeProcessEnds()
			s.Close()
		}
	}()
	if terminal {
		master, slave, err := container.OpenPTY(size)
		if err != nil {
			return nil, err
		}
		s.console = master
		s.closers = append(s.closers, master)
		s.files = []*os.File{slave, slave, slave}
		if stdoutPath != "" {
			out, err := fifo.OpenFifo(ctx, stdoutPath, syscall.O_WRONLY, 0)
			if err != nil {
				return nil, fmt.Errorf("stdout fifo: %w", err)
			}
			s.closers = append(s.closers, out)
			s.outputs = append(s.outputs, out)
			s.copyOut(out, master)
		}
		if stdinPath != "" {
			in, err := fifo.OpenFifo(ctx, stdinPath, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				return nil, fmt.Errorf("stdin fifo: %w", err)
			}
			s.closers = append(s.closers, in)
			s.stdin = in
			go io.Copy(master, in)
		}
		return s, nil
	}

	// stdin
	if stdinPath == "" {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, null)
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, r)
		s.stdin = w
		in, err := fifo.OpenFifo(ctx, stdinPath, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("stdin fifo: %w", err)
		}
		s.closers = append(s.closers, in)
		go func() {
			io.Copy(w, in)
			// The client closed its end: the process reads EOF.
			s.CloseStdin()
		}()
	}
	// stdout, stderr
	for _, p := range []string{stdoutPath, stderrPath} {
		if p == "" {
			null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				return nil, err
			}
			s.files = append(s.files, null)
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, w)
		out, err := fifo.OpenFifo(ctx, p, syscall.O_WRONLY, 0)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("output fifo %s: %w", p, err)
		}
		s.closers = append(s.closers, out)
		s.outputs = append(s.outputs, out)
		s.copyOut(out, r)
	}
	return s, nil
}

// copyOut copies the process's output until it closes its end (for a
// terminal: until the master reads EIO, every slave being closed).
func (s *stdio) copyOut(dst io.WriteCloser, src *os.File) {
	s.output.Add(1)
	go func() {
		defer s.output.Done()
		io.Copy(dst, src)
		if src != s.console {
			src.Close()
		}
		dst.Close()
	}()
}

// closeProcessEnds closes the shim's copies of the process's ends, once
// the sandbox holds its own: the output copies then end when the process
// does.
func (s *stdio) closeProcessEnds() {
	seen := map[*os.File]bool{}
	for _, f := range s.files {
		if !seen[f] {
			seen[f] = true
			f.Close()
		}
	}
	s.files = nil
}

// CloseStdin closes the process's stdin (CloseIO).
func (s *stdio) CloseStdin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
}

// Resize sets the terminal's window size.
func (s *stdio) Resize(width, height uint32) error {
	if s.console == nil {
		return fmt.Errorf("the process has no terminal")
	}
	ws := &unix.Winsize{Col: uint16(width), Row: uint16(height)}
	return unix.IoctlSetWinsize(int(s.console.Fd()), unix.TIOCSWINSZ, ws)
}

// WaitOutput waits until the process's output has been copied, at most
// for timeout (a terminal whose slave the Sentry still holds never reads
// EOF), then closes the output fifos so that their reader sees the end.
func (s *stdio) WaitOutput(timeout time.Duration) {
	done := make(chan struct{})
	go func() { s.output.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.outputs {
		c.Close()
	}
}

// Close stops all copying and closes the fifos.
func (s *stdio) Close() {
	s.CloseStdin()
	s.cancel()
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
}
