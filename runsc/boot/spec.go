// Package boot is the Sentry process ("runsc boot"): it builds the kernel,
// its filesystems and the first process from a Spec, runs the sandbox and
// exits with the first process's exit code.
package boot

// Spec is everything the Sentry needs to start a sandbox. runsc sends it
// as JSON over a pipe.
type Spec struct {
	Args         []string
	Env          []string
	Cwd          string
	RootReadOnly bool
	Mounts       []Mount
	Hostname     string
	UID, GID     uint32
	Strace       bool
	Debug        bool

	// Overlay puts an in-memory overlay over the root (see mountRoot):
	// the root is writable and RootReadOnly applies to the gofer only.
	Overlay bool
}

// Mount is a filesystem mounted into the sandbox besides the root.
type Mount struct {
	Destination string
	Type        string // "tmpfs"
}
