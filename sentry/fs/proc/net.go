package proc

import "github.com/veil-sandbox/veil/sentry/socket"

// newNetDir returns /proc/net: the files the socket families register
// with socket.RegisterProcNet (unix adds "unix"), generated from the
// sandbox's socket stack when read. (Linux makes /proc/net a link to
// self/net, per network namespace; the sandbox has one.)
func (fs *filesystem) newNetDir() *staticDir {
	var entries []dirEntry
	for _, f := range socket.ProcNetFiles() {
		gen := f.Generate
		entries = append(entries, dirEntry{f.Name, fs.Text(func() string { return gen(socket.StackFor(fs.k)) })})
	}
	return fs.newDir(nil, entries)
}
