// Package boot is the Sentry process ("runsc boot"): it builds the kernel,
// its filesystems and the first process from a Spec, runs the sandbox and
// exits with the first process's exit code.
package boot

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Spec is everything the Sentry needs to start a sandbox. runsc sends it
// as JSON over a pipe.
type Spec struct {
	// Seccomp is the container's seccomp profile (linux.seccomp), which
	// the Sentry enforces on the application's system calls; nil for
	// none. See seccompFilters.
	Seccomp *specs.LinuxSeccomp `json:",omitempty"`

	Args         []string
	Env          []string
	Cwd          string
	RootReadOnly bool
	Mounts       []Mount
	Hostname     string
	UID, GID     uint32
	Strace       bool
	Debug        bool
}

// Mount is a filesystem mounted into the sandbox besides the root.
type Mount struct {
	Destination string
	Type        string // "tmpfs"
}
