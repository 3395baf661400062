// Package boot is the Sentry process ("runsc boot"): it builds the kernel,
// its filesystems and the container's first process from a Spec, reports
// that it is ready, serves the control socket, runs the container when
// told to and exits with the first process's exit code.
package boot

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/sentry/fs/sys"
	"golang.org/x/sys/unix"
)

// Spec is everything the Sentry needs to start a sandbox. runsc sends it
// as JSON over a pipe.
type Spec struct {
	// OCI is the container's configuration (config.json), already
	// checked by runsc; root.path is not used (files come from the
	// gofer).
	OCI *specs.Spec
	// BindMounts lists the destinations of the directory bind mounts of
	// OCI.Mounts that have their own gofer connection, in connection
	// order (connection 0 is the root filesystem).
	BindMounts []string
	// PreserveFDs is the number of descriptors after stdio that the
	// first process inherits (runsc create --preserve-fds).
	PreserveFDs int
	// Terminal says the first process's stdin is a terminal that becomes
	// its controlling terminal (process.terminal, or runsc do on a
	// terminal).
	Terminal bool
	// RelayTerminal lists the first process's descriptors (among 0-2)
	// that are the terminal on the Sentry's stdin, which the Sentry
	// replaces by a pseudo-terminal of its own whose master it relays
	// to that terminal (runsc do on a terminal, which runsc has put in
	// raw mode). RelayTermios are the terminal's settings before that,
	// which the pseudo-terminal starts with.
	RelayTerminal []int         `json:",omitempty"`
	RelayTermios  *unix.Termios `json:",omitempty"`
	// HostSignalsActOnInit makes signals from outside act on a first
	// process without handlers (runsc do); otherwise, as for init in a
	// Linux pid namespace, only SIGKILL and SIGSTOP do.
	HostSignalsActOnInit bool
	// Overlay puts an in-memory overlay over the root filesystem.
	Overlay bool
	// Network is the network mode: NetworkSandbox, NetworkHost or
	// NetworkNone (see network.go).
	Network string
	// Interfaces are the interfaces of the container's network
	// namespace the Sentry's stack serves (NetworkSandbox), each with
	// its packet socket in Files.Net.
	Interfaces []NetInterface `json:",omitempty"`
	// NetRaw lets applications with CAP_NET_RAW make SOCK_RAW sockets
	// (runsc --net-raw), as Linux does; without it they get EPERM.
	NetRaw bool
	// Limits are the resource limits of the sandbox's host cgroup
	// (those of its ancestors included), which /sys/fs/cgroup and
	// /proc/meminfo show.
	Limits sys.Limits
	// PodVolumes are the sources of OCI.Mounts binds that are instead
	// one tmpfs shared by every container of the pod (an emptyDir; see
	// PodVolumeSources), in Sentry memory rather than served by a gofer.
	PodVolumes []string `json:",omitempty"`
	// Pod says the sandbox runs a pod: other containers may come, whose
	// gofers change the host directories this one's binds show too.
	Pod bool `json:",omitempty"`
	// SharePID (a further container of a pod) puts the container's
	// processes in the pod's pid namespace instead of one of its own.
	SharePID bool `json:",omitempty"`
	Strace   bool
	Debug    bool
}
