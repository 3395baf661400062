package container

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/cgroup"
	"github.com/veil-sandbox/veil/sentry/fs/sys"
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

// sandboxLimits are the limits the sandbox's processes live under, for
// the application's view of them: those of the container's cgroup, or
// without one (runsc do) those of runsc's own, which the sandbox stays in.
func sandboxLimits(cg *cgroup.Cgroup) sys.Limits {
	var l cgroup.Limits
	if cg != nil {
		l = cg.Limits()
	} else {
		l = cgroup.OwnLimits()
	}
	return sys.Limits{
		MemoryMax: l.MemoryMax, MemoryHigh: l.MemoryHigh, MemoryLow: l.MemoryLow, MemoryMin: l.MemoryMin,
		SwapMax: l.SwapMax, CPUQuota: l.CPUQuota, CPUPeriod: l.CPUPeriod, CPUWeight: l.CPUWeight, PidsMax: l.PidsMax,
	}
}
