package kernel

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
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

// TestTerminalSignalsAndHangup: what a pseudo-terminal's line discipline
// and master do through its TTY: signals to the foreground group (as the
// kernel's, or as from outside for runsc do's relayed terminal), the
// master's view of the foreground group, and hangup (SIGHUP and SIGCONT to
// the session leader, the terminal freed).
func TestTerminalSignalsAndHangup(t *testing.T) {
	h := newHarness(t)
	if err := h.k.CreateProcess(CreateProcessArgs{
		Path: "/sbin/init", Argv: []string{"init"}, Open: h.open,
		FDTable: vfs.NewFDTable(),
		FS:      vfs.NewFSContext(vfs.VirtualDentry{}, vfs.VirtualDentry{}, 0o022),
	}); err != nil {
		t.Fatal(err)
	}
	c := h.fork(h.k.TaskByTID(1))
	// Blocked, so that they stay pending for the test to look at.
	c.SetSignalMask(SigBit(unix.SIGINT) | SigBit(unix.SIGHUP) | SigBit(unix.SIGCONT))
	if _, err := c.ThreadGroup().SetSession(); err != nil {
		t.Fatal(err)
	}
	tty := NewTTY(fakeTTYDevice{})
	if pg, sid := tty.Foreground(); pg != 0 || sid != 0 {
		t.Errorf("a free terminal's foreground %d/%d", pg, sid)
	}
	tty.SignalFromTerminal(unix.SIGINT) // nobody's: nothing happens
	c.OpenedTTY(tty)
	id := c.ThreadGroup().ID()
	if pg, sid := tty.Foreground(); pg != id || sid != id {
		t.Errorf("foreground %d/%d, want %d/%d", pg, sid, id, id)
	}
	tty.SignalFromTerminal(unix.SIGINT)
	if info := c.DequeueSignal(SigBit(unix.SIGINT)); info == nil || info.Code != arch.SI_KERNEL {
		t.Errorf("^C from the line discipline: %+v, want SIGINT with SI_KERNEL", info)
	}
	tty.SetKeysFromHost(true)
	tty.SignalFromTerminal(unix.SIGINT)
	if info := c.DequeueSignal(SigBit(unix.SIGINT)); info == nil || !FromHost(info) {
		t.Errorf("^C typed on runsc's terminal: %+v, want a signal from outside", info)
	}
	tty.Hangup()
	want := SigBit(unix.SIGHUP) | SigBit(unix.SIGCONT)
	if got := c.PendingSignals() & want; got != want {
		t.Errorf("pending after hangup %#x, want SIGHUP and SIGCONT", got)
	}
	if c.ControllingTTY() != nil {
		t.Error("the session keeps a hung-up terminal")
	}
	if pg, sid := tty.Foreground(); pg != 0 || sid != 0 {
		t.Errorf("a hung-up terminal's foreground %d/%d", pg, sid)
	}
}
