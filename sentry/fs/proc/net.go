package proc

import (
	"slices"
	"sort"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// newNetDir returns /proc/net: the files the socket families register
// with socket.RegisterProcNet (unix adds "unix") and those the sandbox's
// stack was given (socket.Stack.SetProcNet: the host's, under
// --network=host), generated when read from the socket stack of the
// reader's network namespace. (Linux makes /proc/net a link to self/net,
// which shows the same.)
func (fs *filesystem) newNetDir() *staticDir {
	names := socket.StackFor(fs.k).ProcNetNames()
	for _, f := range socket.ProcNetFiles() {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	names = slices.Compact(names)
	var entries []dirEntry
	for _, name := range names {
		entries = append(entries, dirEntry{name, fs.NewFile(0o444, nil, func(ctx vfs.Context) ([]byte, error) {
			return []byte(fs.readerStack(ctx).ProcNet(name)), nil
		})})
	}
	return fs.newDir(nil, entries)
}

// readerStack returns the socket stack of the reader's network namespace
// (the initial one's for a reader that is not a task).
func (fs *filesystem) readerStack(ctx vfs.Context) *socket.Stack {
	var ns any
	if t, ok := ctx.(*kernel.Task); ok {
		ns = t.NetNamespace().Stack
	}
	return socket.NamespaceStack(fs.k, ns)
}
