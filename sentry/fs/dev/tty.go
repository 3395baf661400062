package dev

import (
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Terminals are the sandbox's own pseudo-terminals (sentry/fs/devpts:
// /dev/ptmx, /dev/pts/N) and those of the host it was given
// (sentry/fs/host), which devpts also shows as /dev/pts/N under their host
// numbers. Whatever the terminal:
//
//   - /dev/tty opens the caller's controlling terminal (ENXIO without);
//   - /dev/console opens the first process's terminal (ENODEV if it
//     was started without one).

func init() {
	vfs.RegisterCharDevice(vfs.TTYAuxMajor, vfs.TTYMinor, openTTY)
	vfs.RegisterCharDevice(vfs.TTYAuxMajor, vfs.ConsoleMinor, openConsole)
}

// openTTY opens /dev/tty. Like Linux's, it never changes the caller's
// controlling terminal.
func openTTY(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return nil, unix.ENXIO
	}
	return reopen(ctx, t.ControllingTTY(), flags, unix.ENXIO)
}

// openConsole opens /dev/console, which is nobody's controlling terminal
// through this name either.
func openConsole(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return nil, unix.ENODEV
	}
	return reopen(ctx, t.Kernel().ConsoleTTY(), flags, unix.ENODEV)
}

func reopen(ctx vfs.Context, tty *kernel.TTY, flags uint32, none error) (vfs.FileImpl, error) {
	if tty == nil || tty.Device() == nil {
		return nil, none
	}
	return tty.Device().Reopen(ctx, flags)
}
