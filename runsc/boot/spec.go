// Package boot is the Sentry process ("runsc boot"): it builds the kernel,
// its filesystems and the first process from a Spec, runs the sandbox and
// exits with the first process's exit code.
package boot

import specs "github.com/opencontainers/runtime-spec/specs-go"

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
	// AdditionalGids are the supplementary groups.
	AdditionalGids []uint32
	// Capabilities are the first process's capability sets (OCI
	// process.capabilities); nil gives the default, see Credentials.
	Capabilities *specs.LinuxCapabilities
	// NoNewPrivileges sets no_new_privs on the first process.
	NoNewPrivileges bool
	Strace          bool
	Debug           bool
}

// Mount is a filesystem mounted into the sandbox besides the root.
type Mount struct {
	Destination string
	Type        string // "tmpfs"
}
