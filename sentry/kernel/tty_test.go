package kernel

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/vfs"
)

type fakeTTYDevice struct{}

func (fakeTTYDevice) Reopen(vfs.Context, uint32) (vfs.FileImpl, error) { return nil, nil }

func TestControllingAndConsoleTTY(t *testing.T) {
	h := newHarness(t)
	console := NewTTY(fakeTTYDevice{})
	if console.Device() != (fakeTTYDevice{}) {
		t.Fatal("Device does not return the TTYDevice")
	}
	if err := h.k.CreateProcess(CreateProcessArgs{
		Path: "/sbin/init", Argv: []string{"init"}, Open: h.open, TTY: console,
		FDTable: vfs.NewFDTable(),
		FS:      vfs.NewFSContext(vfs.VirtualDentry{}, vfs.VirtualDentry{}, 0o022),
	}); err != nil {
		t.Fatal(err)
	}
	it := h.k.TaskByTID(1)
	if got := h.k.ConsoleTTY(); got != console {
		t.Errorf("ConsoleTTY = %p, want the first process's %p", got, console)
	}
	if got := it.ControllingTTY(); got != console {
		t.Errorf("init's ControllingTTY = %p, want %p", got, console)
	}
	// A child shares its parent's session and so its terminal.
	c := h.fork(it)
	if got := c.ControllingTTY(); got != console {
		t.Errorf("child's ControllingTTY = %p, want %p", got, console)
	}
	// A new session has none; opening a terminal another session has
	// does not take it, opening a free one does.
	if _, err := c.ThreadGroup().SetSession(); err != nil {
		t.Fatal(err)
	}
	if got := c.ControllingTTY(); got != nil {
		t.Errorf("new session's ControllingTTY = %p, want nil", got)
	}
	c.OpenedTTY(console)
	if got := c.ControllingTTY(); got != nil {
		t.Errorf("opening init's terminal made it the new session's")
	}
	// Only a session leader acquires one.
	g := h.fork(c)
	other := NewTTY(nil)
	g.OpenedTTY(other)
	if got := c.ControllingTTY(); got != nil {
		t.Errorf("a non-leader's open gave its session a terminal")
	}
	c.OpenedTTY(other)
	if got, gg := c.ControllingTTY(), g.ControllingTTY(); got != other || gg != other {
		t.Errorf("after the leader opened a free terminal: %p and %p, want %p", got, gg, other)
	}
	if got := it.ControllingTTY(); got != console {
		t.Errorf("init's terminal changed to %p", got)
	}
}
