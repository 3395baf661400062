package boot

import (
	"fmt"
	"os"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/platform/ptrace"
	"github.com/veil-sandbox/veil/platform/systrap"
)

// Platform names, as --platform takes them.
const (
	PlatformAuto    = "auto"
	PlatformSystrap = "systrap"
	PlatformPtrace  = "ptrace"
	PlatformKVM     = "kvm"
)

// kvmDevice is the device the kvm platform would run the sandbox with.
const kvmDevice = "/dev/kvm"

// CheckPlatform says whether runsc can run the sandbox on platform name.
func CheckPlatform(name string) error {
	switch name {
	case PlatformAuto, PlatformSystrap, PlatformPtrace:
		return nil
	case PlatformKVM:
		// Say first what the host lacks: a user moving to a host
		// with KVM should know it needs /dev/kvm there too.
		if _, err := os.Stat(kvmDevice); err != nil {
			return fmt.Errorf("platform kvm needs %s, which is missing here (a kernel with KVM, the kvm module loaded); it is not implemented yet either: use systrap or ptrace", kvmDevice)
		}
		return fmt.Errorf("platform %q is not implemented (use systrap or ptrace)", name)
	}
	return fmt.Errorf("unknown platform %q (want auto, systrap or ptrace)", name)
}

// NewPlatform creates the platform the Sentry runs the application on. It
// must be called before the Sentry installs its seccomp filter: systrap's
// stub processes are forks of one started here, so that they do not
// inherit the Sentry's filter (under which every application system call
// would kill them). The ptrace platform needs nothing of the kind and is
// left for build to create (nil), with its stubs under the Sentry's filter
// as a second line of defence.
//
// auto picks systrap, which is several times faster per system call, and
// falls back to ptrace when systrap does not work on this host (no
// seccomp SECCOMP_RET_TRAP, no signal frame with xsave state, ...); note
// says what was chosen and why, for the debug log.
func NewPlatform(name string) (p platform.Platform, note string, err error) {
	switch name {
	case PlatformSystrap:
		p, err := systrap.New()
		if err != nil {
			return nil, "", err
		}
		return p, "platform: systrap", nil
	case PlatformAuto:
		p, err := systrap.New()
		if err != nil {
			return nil, fmt.Sprintf("platform: ptrace (auto: systrap does not work here: %v)", err), nil
		}
		return p, "platform: systrap (auto)", nil
	case PlatformPtrace:
		return nil, "platform: ptrace", nil
	}
	return nil, "", CheckPlatform(name)
}

// newPtrace is the platform build creates when NewPlatform left it to it.
func newPtrace() (platform.Platform, error) {
	p, err := ptrace.New()
	if err != nil {
		return nil, fmt.Errorf("ptrace platform: %w", err)
	}
	return p, nil
}
