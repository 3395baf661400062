package container

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/cgroup"
)

// newCgroup creates the container's host cgroup if config.json asks for
// one (a cgroupsPath, or resource limits): the Sentry, the gofer and
// everything the Sentry starts live in it, so the limits bound the whole
// sandbox.
func newCgroup(id string, spec *specs.Spec, systemd bool) (*cgroup.Cgroup, error) {
	if spec.Linux == nil {
		return nil, nil
	}
	if spec.Linux.CgroupsPath == "" && !hasLimits(spec.Linux.Resources) {
		return nil, nil
	}
	return cgroup.New(spec.Linux.CgroupsPath, id, spec.Linux.Resources, systemd)
}

// hasLimits reports whether r limits anything (device rules alone do not:
// the application never opens host devices).
func hasLimits(r *specs.LinuxResources) bool {
	if r == nil {
		return false
	}
	return r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil ||
		len(r.HugepageLimits) > 0 || r.Network != nil || len(r.Rdma) > 0 || len(r.Unified) > 0
}
