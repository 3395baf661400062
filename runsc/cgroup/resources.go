package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setting is one piece of linux.resources, applied by its own Manager.Set
// call: Set writes only the fields that are set, so one call per setting
// lets an error name the spec field. Fields the kernel must write in a
// particular order (memory limit and swap; cpu quota, period and burst) stay
// together so that the library can order them.
type setting struct {
	field      string            // spec field(s), e.g. "memory.limit, memory.swap"
	ctrl       string            // controller (v1 subsystem name) whose directory holds knobs
	knobs      []string          // files that must exist there; "a|b" means either
	bestEffort bool              // a missing knob is a warning, not an error
	res        cgroups.Resources // only this setting's fields
}

// convert turns r into settings for a v1 (fs) or v2 (fs2) manager. It fails
// for what the library cannot apply with the host's cgroup version; whether
// the host's kernel has each knob is checked later, on the cgroup itself.
func convert(r *specs.LinuxResources, v2 bool) ([]setting, error) {
	if r == nil {
		return nil, nil
	}
	var out []setting
	var errs []error
	// pick chooses the knob name by cgroup version.
	pick := func(v1name, v2name string) string {
		if v2 {
			return v2name
		}
		return v1name
	}
	v1only := func(field string) {
		if v2 {
			errs = append(errs, fmt.Errorf("%s: not supported on cgroup v2", field))
		}
	}
	// add keeps s if it sets anything: every field adds a knob.
	add := func(s setting) {
		if len(s.knobs) > 0 {
			out = append(out, s)
		}
	}

	// r.Devices is ignored: see the package comment.

	if m := r.Memory; m != nil {
		s := setting{ctrl: "memory"}
		var fields []string
		if m.Limit != nil {
			fields = append(fields, "memory.limit")
			s.res.Memory = *m.Limit
			s.knobs = append(s.knobs, pick("memory.limit_in_bytes", "memory.max"))
		}
		if m.Swap != nil {
			fields = append(fields, "memory.swap")
			s.res.MemorySwap = *m.Swap
			s.knobs = append(s.knobs, pick("memory.memsw.limit_in_bytes", "memory.swap.max"))
		}
		if m.CheckBeforeUpdate != nil {
			s.res.MemoryCheckBeforeUpdate = *m.CheckBeforeUpdate
		}
		s.field = strings.Join(fields, ", ")
		add(s)
		if m.Reservation != nil {
			add(setting{field: "memory.reservation", ctrl: "memory",
				knobs: []string{pick("memory.soft_limit_in_bytes", "memory.low")},
				res:   cgroups.Resources{MemoryReservation: *m.Reservation}})
		}
		if m.Swappiness != nil {
			v1only("memory.swappiness")
			add(setting{field: "memory.swappiness", ctrl: "memory",
				knobs: []string{"memory.swappiness"},
				res:   cgroups.Resources{MemorySwappiness: m.Swappiness}})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			v1only("memory.disableOOMKiller")
			add(setting{field: "memory.disableOOMKiller", ctrl: "memory",
				knobs: []string{"memory.oom_control"},
				res:   cgroups.Resources{OomKillDisable: true}})
		}
		if m.UseHierarchy != nil && !*m.UseHierarchy {
			errs = append(errs, errors.New("memory.useHierarchy: false is not supported (accounting is always hierarchical)"))
		}
		if m.Kernel != nil {
			Warnf("linux.resources.memory.kernel ignored: kernel memory limits are obsolete")
		}
		if m.KernelTCP != nil {
			Warnf("linux.resources.memory.kernelTCP ignored: kernel memory limits are obsolete")
		}
	}

	if c := r.CPU; c != nil {
		if c.Shares != nil {
			s := setting{field: "cpu.shares", ctrl: "cpu", knobs: []string{pick("cpu.shares", "cpu.weight")}}
			if v2 {
				s.res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*c.Shares)
			} else {
				s.res.CpuShares = *c.Shares
			}
			add(s)
		}
		s := setting{ctrl: "cpu"}
		var fields []string
		if c.Quota != nil {
			fields = append(fields, "cpu.quota")
			s.res.CpuQuota = *c.Quota
			s.knobs = append(s.knobs, pick("cpu.cfs_quota_us", "cpu.max"))
		}
		if c.Period != nil {
			fields = append(fields, "cpu.period")
			s.res.CpuPeriod = *c.Period
			s.knobs = append(s.knobs, pick("cpu.cfs_period_us", "cpu.max"))
		}
		if c.Burst != nil {
			fields = append(fields, "cpu.burst")
			s.res.CpuBurst = c.Burst
			s.knobs = append(s.knobs, pick("cpu.cfs_burst_us", "cpu.max.burst"))
		}
		s.field = strings.Join(fields, ", ")
		add(s)
		if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
			s := setting{ctrl: "cpu"}
			fields = nil
			if c.RealtimeRuntime != nil {
				fields = append(fields, "cpu.realtimeRuntime")
				s.res.CpuRtRuntime = *c.RealtimeRuntime
				s.knobs = append(s.knobs, "cpu.rt_runtime_us")
			}
			if c.RealtimePeriod != nil {
				fields = append(fields, "cpu.realtimePeriod")
				s.res.CpuRtPeriod = *c.RealtimePeriod
				s.knobs = append(s.knobs, "cpu.rt_period_us")
			}
			s.field = strings.Join(fields, ", ")
			v1only(s.field)
			add(s)
		}
		if c.Cpus != "" {
			add(setting{field: "cpu.cpus", ctrl: "cpuset", knobs: []string{"cpuset.cpus"},
				res: cgroups.Resources{CpusetCpus: c.Cpus}})
		}
		if c.Mems != "" {
			add(setting{field: "cpu.mems", ctrl: "cpuset", knobs: []string{"cpuset.mems"},
				res: cgroups.Resources{CpusetMems: c.Mems}})
		}
		if c.Idle != nil {
			add(setting{field: "cpu.idle", ctrl: "cpu", knobs: []string{"cpu.idle"},
				res: cgroups.Resources{CPUIdle: c.Idle}})
		}
	}

	if p := r.Pids; p != nil && p.Limit != nil {
		add(setting{field: "pids.limit", ctrl: "pids", knobs: []string{"pids.max"},
			res: cgroups.Resources{PidsLimit: p.Limit}})
	}

	if b := r.BlockIO; b != nil {
		if b.Weight != nil {
			add(setting{field: "blockIO.weight", ctrl: "blkio", bestEffort: true,
				knobs: []string{pick("blkio.weight|blkio.bfq.weight", "io.bfq.weight|io.weight")},
				res:   cgroups.Resources{BlkioWeight: *b.Weight}})
		}
		if b.LeafWeight != nil {
			// CFQ only, which Linux 5.0 removed; cgroup v2 never had it.
			if v2 {
				Warnf("linux.resources.blockIO.leafWeight ignored: cgroup v2 has no leaf weight")
			} else {
				add(setting{field: "blockIO.leafWeight", ctrl: "blkio", bestEffort: true,
					knobs: []string{"blkio.leaf_weight"},
					res:   cgroups.Resources{BlkioLeafWeight: *b.LeafWeight}})
			}
		}
		if len(b.WeightDevice) > 0 {
			s := setting{field: "blockIO.weightDevice", ctrl: "blkio", bestEffort: true,
				knobs: []string{pick("blkio.weight_device|blkio.bfq.weight_device", "io.bfq.weight")}}
			for _, wd := range b.WeightDevice {
				var w, lw uint16
				if wd.Weight != nil {
					w = *wd.Weight
				}
				if wd.LeafWeight != nil {
					lw = *wd.LeafWeight
				}
				s.res.BlkioWeightDevice = append(s.res.BlkioWeightDevice, cgroups.NewWeightDevice(wd.Major, wd.Minor, w, lw))
			}
			add(s)
		}
		throttle := func(field string, devs []specs.LinuxThrottleDevice, v1knob string, dst func(*cgroups.Resources) *[]*cgroups.ThrottleDevice) {
			if len(devs) == 0 {
				return
			}
			s := setting{field: field, ctrl: "blkio", knobs: []string{pick(v1knob, "io.max")}}
			for _, d := range devs {
				*dst(&s.res) = append(*dst(&s.res), cgroups.NewThrottleDevice(d.Major, d.Minor, d.Rate))
			}
			add(s)
		}
		throttle("blockIO.throttleReadBpsDevice", b.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device",
			func(r *cgroups.Resources) *[]*cgroups.ThrottleDevice { return &r.BlkioThrottleReadBpsDevice })
		throttle("blockIO.throttleWriteBpsDevice", b.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device",
			func(r *cgroups.Resources) *[]*cgroups.ThrottleDevice { return &r.BlkioThrottleWriteBpsDevice })
		throttle("blockIO.throttleReadIOPSDevice", b.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device",
			func(r *cgroups.Resources) *[]*cgroups.ThrottleDevice { return &r.BlkioThrottleReadIOPSDevice })
		throttle("blockIO.throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device",
			func(r *cgroups.Resources) *[]*cgroups.ThrottleDevice { return &r.BlkioThrottleWriteIOPSDevice })
	}

	for _, h := range r.HugepageLimits {
		// The knob's existence also checks that the page size is one the
		// kernel has ("2MB", "1GB", ...).
		add(setting{field: "hugepageLimits[" + h.Pagesize + "]", ctrl: "hugetlb",
			knobs: []string{"hugetlb." + h.Pagesize + pick(".limit_in_bytes", ".max")},
			res:   cgroups.Resources{HugetlbLimit: []*cgroups.HugepageLimit{{Pagesize: h.Pagesize, Limit: h.Limit}}}})
	}

	if n := r.Network; n != nil {
		if n.ClassID != nil {
			v1only("network.classID")
			add(setting{field: "network.classID", ctrl: "net_cls", knobs: []string{"net_cls.classid"},
				res: cgroups.Resources{NetClsClassid: *n.ClassID}})
		}
		if len(n.Priorities) > 0 {
			v1only("network.priorities")
			s := setting{field: "network.priorities", ctrl: "net_prio", knobs: []string{"net_prio.ifpriomap"}}
			for _, p := range n.Priorities {
				s.res.NetPrioIfpriomap = append(s.res.NetPrioIfpriomap, &cgroups.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
			}
			add(s)
		}
	}

	for _, dev := range slices.Sorted(maps.Keys(r.Rdma)) {
		l := r.Rdma[dev]
		add(setting{field: "rdma[" + dev + "]", ctrl: "rdma", knobs: []string{"rdma.max"},
			res: cgroups.Resources{Rdma: map[string]cgroups.LinuxRdma{dev: {HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}}}})
	}

	if len(r.Unified) > 0 && !v2 {
		errs = append(errs, errors.New("unified: only supported on cgroup v2, and this host uses cgroup v1"))
	}
	if v2 {
		for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
			// The library checks the key and explains a missing controller.
			out = append(out, setting{field: "unified[" + k + "]",
				res: cgroups.Resources{Unified: map[string]string{k: r.Unified[k]}}})
		}
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
