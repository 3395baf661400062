package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/boot"
	"github.com/veil-sandbox/veil/runsc/ociseccomp"
	"github.com/veil-sandbox/veil/sentry/fs/proc"
)

// LoadBundle reads and checks DIR/config.json and returns it with the
// bundle's and the root filesystem's absolute paths.
func LoadBundle(dir string) (spec *specs.Spec, bundle, rootfs string, err error) {
	bundle, err = filepath.Abs(dir)
	if err != nil {
		return nil, "", "", err
	}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, "", "", fmt.Errorf("bundle %s: %w", dir, errors.Unwrap(err))
	}
	spec = &specs.Spec{}
	if err := json.Unmarshal(data, spec); err != nil {
		return nil, "", "", fmt.Errorf("bundle %s: config.json is not valid: %v", dir, err)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, "", "", fmt.Errorf("bundle %s: config.json has no root.path", dir)
	}
	rootfs = spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	st, err := os.Stat(rootfs)
	if err != nil {
		return nil, "", "", fmt.Errorf("bundle %s: root filesystem %s: %w", dir, rootfs, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, "", "", fmt.Errorf("bundle %s: root filesystem %s is not a directory", dir, rootfs)
	}
	return spec, bundle, rootfs, nil
}

// Check reports what of spec the runtime cannot honour, as an error naming
// the first such field, and what it accepts without applying, as
// warnings.
func Check(spec *specs.Spec) (warnings []string, err error) {
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, errors.New("config.json has no process.args")
	}
	if spec.Windows != nil || spec.Solaris != nil || spec.VM != nil {
		return nil, errors.New("config.json is for another platform (windows, solaris or vm section)")
	}
	w, err := CheckProcess(spec.Process)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, w...)
	if l := spec.Linux; l != nil {
		w, err := checkLinux(l)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, w...)
	}
	return warnings, nil
}

// CheckProcess checks a process description (config.json's, or an exec's).
func CheckProcess(p *specs.Process) (warnings []string, err error) {
	if p.Scheduler != nil {
		return nil, errors.New("process.scheduler is not supported")
	}
	if p.IOPriority != nil {
		return nil, errors.New("process.ioPriority is not supported")
	}
	if p.ExecCPUAffinity != nil {
		return nil, errors.New("process.execCPUAffinity is not supported")
	}
	// Capabilities the Sentry cannot give are the bundle's fault: say so
	// before starting anything.
	if _, err := boot.Credentials(p); err != nil {
		return nil, err
	}
	if a := boot.UnraisableAmbient(p.Capabilities); len(a) > 0 {
		warnings = append(warnings, fmt.Sprintf("process.capabilities.ambient: %s not raised: not both permitted and inheritable", strings.Join(a, ", ")))
	}
	for _, r := range p.Rlimits {
		if !knownRlimit(r.Type) {
			return nil, fmt.Errorf("process.rlimits: unknown resource %q", r.Type)
		}
		if r.Soft > r.Hard {
			return nil, fmt.Errorf("process.rlimits: %s soft limit %d exceeds hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	// Host LSM profiles would confine a process that makes host system
	// calls; the application makes none (the Sentry answers them), and the
	// Sentry has its own seccomp confinement.
	if p.ApparmorProfile != "" {
		warnings = append(warnings, fmt.Sprintf("process.apparmorProfile %q is not applied: the application never makes host system calls", p.ApparmorProfile))
	}
	if p.SelinuxLabel != "" {
		warnings = append(warnings, fmt.Sprintf("process.selinuxLabel %q is not applied: the application never makes host system calls", p.SelinuxLabel))
	}
	return warnings, nil
}

func knownRlimit(t string) bool {
	switch t {
	case "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
		"RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
		"RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME":
		return true
	}
	return false
}

// sentryDevices are the device nodes the Sentry's /dev provides.
var sentryDevices = map[string]bool{
	"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true,
	"/dev/urandom": true, "/dev/tty": true,
}

func checkLinux(l *specs.Linux) (warnings []string, err error) {
	if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		return nil, errors.New("linux.uidMappings/gidMappings: user namespaces are not supported")
	}
	for _, d := range l.Devices {
		if !sentryDevices[d.Path] {
			return nil, fmt.Errorf("linux.devices: host device %s is not supported (the sandbox has only its own /dev)", d.Path)
		}
	}
	var unsupported []string
	for k, v := range l.Sysctl {
		if _, ok := proc.Sysctls[k]; !ok {
			unsupported = append(unsupported, k)
			continue
		}
		if err := checkSysctl(k, v); err != nil {
			return nil, err
		}
	}
	if len(unsupported) > 0 {
		sort.Strings(unsupported)
		return nil, fmt.Errorf("linux.sysctl: %s is not supported", strings.Join(unsupported, ", "))
	}
	if l.IntelRdt != nil {
		return nil, errors.New("linux.intelRdt is not supported")
	}
	if l.TimeOffsets != nil {
		return nil, errors.New("linux.timeOffsets (time namespaces) are not supported")
	}
	if len(l.NetDevices) > 0 {
		return nil, errors.New("linux.netDevices is not supported")
	}
	if l.MemoryPolicy != nil {
		return nil, errors.New("linux.memoryPolicy is not supported")
	}
	if p := l.Personality; p != nil && p.Domain != specs.PerLinux {
		return nil, fmt.Errorf("linux.personality %q is not supported", p.Domain)
	}
	if l.Seccomp != nil {
		// The Sentry enforces the profile on the application: compiling it
		// here fails early on what it cannot honour.
		if _, err := ociseccomp.Compile(l.Seccomp); err != nil {
			return nil, err
		}
	}
	if l.MountLabel != "" {
		warnings = append(warnings, fmt.Sprintf("linux.mountLabel %q is not applied: the sandbox's files are served by the gofer", l.MountLabel))
	}
	switch l.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave":
	default:
		// Nothing mounted in the sandbox ever reaches the host.
		return nil, fmt.Errorf("linux.rootfsPropagation %q is not supported (mounts never propagate out of the sandbox)", l.RootfsPropagation)
	}
	return warnings, nil
}

// checkSysctl checks the value of a supported sysctl as Linux would when
// it is written.
func checkSysctl(k, v string) error {
	f := strings.Fields(v)
	ints := func(n int, max int64) error {
		if len(f) != n {
			return fmt.Errorf("linux.sysctl: %s=%q: want %d integer(s)", k, v, n)
		}
		for _, s := range f {
			x, err := strconv.ParseInt(s, 10, 64)
			if err != nil || x < 0 || x > max {
				return fmt.Errorf("linux.sysctl: %s=%q: not in 0..%d", k, v, max)
			}
		}
		return nil
	}
	switch k {
	case "net.ipv4.ip_unprivileged_port_start":
		return ints(1, 65535)
	case "net.ipv4.ping_group_range":
		return ints(2, 1<<31-1)
	}
	return nil
}
