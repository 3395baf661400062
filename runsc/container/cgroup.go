package container

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/cgroup"
)

// newCgroup creates the container's host cgroup (linux.cgroupsPath, or
// a default one, as runc always makes one): the Sentry, the gofer and
// everything the Sentry starts live in it, so linux.resources bound the
// whole sandbox. A spec without a linux section (runsc do) gets none.
func newCgroup(id string, spec *specs.Spec, systemd bool) (*cgroup.Cgroup, error) {
	if spec.Linux == nil {
		return nil, nil
	}
	return cgroup.New(spec.Linux.CgroupsPath, id, spec.Linux.Resources, systemd)
}
