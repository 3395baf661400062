package boot

import (
	"github.com/veil-sandbox/veil/runsc/ociseccomp"
	"github.com/veil-sandbox/veil/sentry/seccomp"
)

// seccompFilters compiles spec's seccomp profile into the filters the
// first process starts with (kernel.CreateProcessArgs.Seccomp). The
// Sentry runs them on the application's system calls; the host kernel
// never sees the profile.
func seccompFilters(spec Spec) ([]*seccomp.Filter, error) {
	if spec.Seccomp == nil {
		return nil, nil
	}
	f, err := ociseccomp.Compile(spec.Seccomp)
	if err != nil {
		return nil, err
	}
	return []*seccomp.Filter{f}, nil
}
