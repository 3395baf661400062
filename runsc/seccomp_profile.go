package main

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/ociseccomp"
)

// containerSeccomp returns the bundle's linux.seccomp profile for the
// Sentry to enforce (boot.Spec.Seccomp), compiled once here so that a
// profile the Sentry cannot honour fails before anything starts.
func containerSeccomp(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil
	}
	if _, err := ociseccomp.Compile(spec.Linux.Seccomp); err != nil {
		return nil, err
	}
	return spec.Linux.Seccomp, nil
}
