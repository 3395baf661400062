package shim

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// An output fifo's reader sees EOF once the process's output ends, before
// the process is deleted: containerd's CRI plugin waits for it to report
// an exec's exit (and deletes the exec only then).
func TestStdioOutputFifoEOFWhenProcessEnds(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "stdout")
	if err := syscall.Mkfifo(out, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reader, as containerd opens it.
	got := make(chan string, 1)
	go func() {
		f, err := os.OpenFile(out, os.O_RDONLY, 0)
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	s, err := newStdio("", out, "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The "process" writes and exits: the shim's copy of its end goes
	// with closeProcessEnds, the process's own with this write end.
	w := s.files[1]
	dup, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	s.closeProcessEnds()
	proc := os.NewFile(uintptr(dup), "process stdout")
	proc.WriteString("last words\n")
	proc.Close()
	select {
	case b := <-got:
		if b != "last words\n" {
			t.Errorf("the fifo's reader got %q, want %q", b, "last words\n")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fifo's reader saw no EOF after the process's output ended")
	}
}
