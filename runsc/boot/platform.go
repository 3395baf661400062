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

// NewPlatform begins making the platform the Sentry runs the application
// on. It must be called before the Sentry installs its seccomp filter:
// systrap's stub processes are forks of one exec'd here, so that they do
// not inherit the Sentry's filter (under which every application system
// call would kill them). The rest of systrap's start-up (probing its first
// stub) goes on while the Sentry sets up; build waits for it
// (PlatformStart.Wait). The ptrace platform needs nothing of the kind and
// is left for build to create, with its stubs under the Sentry's filter
// as a second line of defence.
//
// auto picks systrap, which is several times faster per system call, and
// falls back to ptrace when systrap does not work on this host (no
// seccomp SECCOMP_RET_TRAP, no signal frame with xsave state, ...).
func NewPlatform(name string) (*PlatformStart, error) {
	switch name {
	case PlatformSystrap, PlatformAuto:
		p, err := systrap.Start()
		switch {
		case err == nil:
			return &PlatformStart{systrap: p, auto: name == PlatformAuto}, nil
		case name == PlatformAuto:
			return &PlatformStart{note: fallbackNote(err)}, nil
		}
		return nil, err
	case PlatformPtrace:
		return &PlatformStart{note: "platform: ptrace"}, nil
	}
	return nil, CheckPlatform(name)
}

// A PlatformStart is a platform NewPlatform began to make.
type PlatformStart struct {
	systrap *systrap.Platform // nil: ptrace
	auto    bool              // ptrace if systrap's start-up fails
	note    string            // what was chosen and why, for the debug log
}

// Wait returns the platform once it works and a note saying which it is
// and why, for the debug log: systrap, or ptrace if that was asked for or
// auto found systrap not working. A nil PlatformStart is ptrace.
func (s *PlatformStart) Wait() (platform.Platform, string, error) {
	if s == nil {
		s = &PlatformStart{note: "platform: ptrace"}
	}
	if s.systrap == nil {
		p, err := newPtrace()
		return p, s.note, err
	}
	err := s.systrap.Ready()
	switch {
	case err == nil && s.auto:
		return s.systrap, "platform: systrap (auto)", nil
	case err == nil:
		return s.systrap, "platform: systrap", nil
	case s.auto:
		p, perr := newPtrace()
		return p, fallbackNote(err), perr
	}
	return nil, "", err
}

// fallbackNote is the debug log's note for auto falling back to ptrace
// because systrap failed with err.
func fallbackNote(err error) string {
	return fmt.Sprintf("platform: ptrace (auto: systrap does not work here: %v)", err)
}

// newPtrace is the platform Wait makes when NewPlatform left it to it.
func newPtrace() (platform.Platform, error) {
	p, err := ptrace.New()
	if err != nil {
		return nil, fmt.Errorf("ptrace platform: %w", err)
	}
	return p, nil
}
