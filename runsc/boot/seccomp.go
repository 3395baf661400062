package boot

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/ociseccomp"
	"github.com/veil-sandbox/veil/sentry/seccomp"
)

// seccompFilters compiles a container's seccomp profile (linux.seccomp,
// nil for none) into the filters its first process starts with
// (kernel.CreateProcessArgs.Seccomp). The Sentry runs them on the
// application's system calls; the host kernel never sees the profile.
func seccompFilters(profile *specs.LinuxSeccomp) ([]*seccomp.Filter, error) {
	if profile == nil {
		return nil, nil
	}
	f, err := ociseccomp.Compile(profile)
	if err != nil {
		return nil, err
	}
	return []*seccomp.Filter{f}, nil
}
