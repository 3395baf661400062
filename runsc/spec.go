package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(&command{name: "spec", summary: "write a default config.json for a bundle", run: cmdSpec, unprivileged: true})
}

// defaultSpec is the configuration `runsc spec` writes: like runc's, a
// shell in a terminal with a read-only rootfs, few capabilities and the
// usual pseudo filesystems.
func defaultSpec() *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "runsc",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

func cmdSpec(g *globalFlags, args []string) int {
	fs := flagSet("spec")
	bundle := fs.String("bundle", ".", "directory to write config.json in")
	fs.StringVar(bundle, "b", ".", "short for --bundle")
	if ok, code := g.parseFlags(fs, args, "[--bundle DIR]"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 0, 0, "no arguments"); !ok {
		return code
	}
	path := filepath.Join(*bundle, "config.json")
	if _, err := os.Stat(path); err == nil {
		return g.fail("spec: %s already exists; remove it first", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return g.fail("spec: %v", err)
	}
	b, err := json.MarshalIndent(defaultSpec(), "", "\t")
	if err != nil {
		return g.fail("spec: %v", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o666); err != nil {
		return g.fail("spec: %v", err)
	}
	return 0
}

func printVersion() {
	fmt.Printf("runsc version %s\nspec: %s\n", version, specs.Version)
}
