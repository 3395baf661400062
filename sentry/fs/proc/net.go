package proc

import (
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// newNetDir returns /proc/net: the files the socket families register
// with socket.RegisterProcNet (unix adds "unix"), generated when read from
// the socket stack of the reader's network namespace. (Linux makes
// /proc/net a link to self/net, which shows the same.)
func (fs *filesystem) newNetDir() *staticDir {
	var entries []dirEntry
	for _, f := range socket.ProcNetFiles() {
		gen := f.Generate
		entries = append(entries, dirEntry{f.Name, fs.NewFile(0o444, nil, func(ctx vfs.Context) ([]byte, error) {
			return []byte(gen(fs.readerStack(ctx))), nil
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
