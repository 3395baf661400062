package proc

// Text generators: pure functions from gathered values to file contents,
// kept apart from the kernel so they can be tested alone. Formats follow
// Linux 6.1's fs/proc (array.c, task_mmu.c, meminfo.c, stat.c).

import (
	"fmt"
	"strings"
	"time"

	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of times in /proc/*/stat.
const clockTicks = 100

const pageSize = 4096

const filesystemsText = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup2\nnodev\tdevpts\nnodev\tmqueue\n" +
	"nodev\tpipefs\nnodev\tanon_inodefs\nnodev\tsockfs\nnodev\t9p\nnodev\toverlay\n"

// cpuinfoText renders /proc/cpuinfo: the host's description of each of
// the sandbox's CPUs, numbered from 0, with the package's sibling and
// core counts those of the sandbox (what lscpu divides by).
func cpuinfoText(info *hostinfo.Info) string {
	var b strings.Builder
	for i := range info.CPUs {
		c := &info.CPUs[i]
		siblings, cores := 0, map[int]bool{}
		for j := range info.CPUs {
			if o := &info.CPUs[j]; o.PackageID == c.PackageID {
				siblings++
				cores[o.CoreID] = true
			}
		}
		fmt.Fprintf(&b, "processor\t: %d\n", i)
		for _, f := range c.Info {
			v := f.Value
			switch f.Name() {
			case "siblings":
				v = fmt.Sprint(siblings)
			case "cpu cores":
				v = fmt.Sprint(len(cores))
			}
			// Linux prints an empty value without the space
			// ("power management:").
			if v == "" {
				fmt.Fprintf(&b, "%s:\n", f.Key)
			} else {
				fmt.Fprintf(&b, "%s: %s\n", f.Key, v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// memInfo are the figures /proc/meminfo shows, in bytes.
type memInfo struct {
	total, free, available uint64
	buffers, cached, shmem uint64
	anon                   uint64
	swapTotal, swapFree    uint64
}

// meminfoText renders /proc/meminfo.
func meminfoText(m memInfo) string {
	var b strings.Builder
	kb := func(name string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", v/1024) }
	num := func(name string, v uint64) { fmt.Fprintf(&b, "%-16s%8d\n", name+":", v) }
	kb("MemTotal", m.total)
	kb("MemFree", m.free)
	kb("MemAvailable", m.available)
	kb("Buffers", m.buffers)
	kb("Cached", m.cached)
	kb("SwapCached", 0)
	kb("Active", m.anon+m.cached)
	kb("Inactive", 0)
	kb("Active(anon)", m.anon)
	kb("Inactive(anon)", 0)
	kb("Active(file)", m.cached)
	kb("Inactive(file)", 0)
	kb("Unevictable", 0)
	kb("Mlocked", 0)
	kb("SwapTotal", m.swapTotal)
	kb("SwapFree", m.swapFree)
	kb("Zswap", 0)
	kb("Zswapped", 0)
	kb("Dirty", 0)
	kb("Writeback", 0)
	kb("AnonPages", m.anon)
	kb("Mapped", 0)
	kb("Shmem", m.shmem)
	kb("KReclaimable", 0)
	kb("Slab", 0)
	kb("SReclaimable", 0)
	kb("SUnreclaim", 0)
	kb("KernelStack", 0)
	kb("PageTables", 0)
	kb("SecPageTables", 0)
	kb("NFS_Unstable", 0)
	kb("Bounce", 0)
	kb("WritebackTmp", 0)
	kb("CommitLimit", m.total/2+m.swapTotal)
	kb("Committed_AS", m.anon)
	kb("VmallocTotal", 34359738367*1024)
	kb("VmallocUsed", 0)
	kb("VmallocChunk", 0)
	kb("Percpu", 0)
	kb("HardwareCorrupted", 0)
	kb("AnonHugePages", 0)
	kb("ShmemHugePages", 0)
	kb("ShmemPmdMapped", 0)
	kb("FileHugePages", 0)
	kb("FilePmdMapped", 0)
	num("HugePages_Total", 0)
	num("HugePages_Free", 0)
	num("HugePages_Rsvd", 0)
	num("HugePages_Surp", 0)
	kb("Hugepagesize", 2<<20)
	kb("Hugetlb", 0)
	kb("DirectMap4k", m.total)
	return b.String()
}

// statText renders the system-wide /proc/stat. CPU times are all idle
// until the kernel accounts the time its tasks run.
// TODO(time/limits): user and system time from the kernel's accounting.
func statText(ncpu int, uptime time.Duration, btime int64, forks, running int) string {
	idle := uint64(uptime.Seconds() * clockTicks)
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  0 0 0 %d 0 0 0 0 0 0\n", idle*uint64(ncpu))
	for i := 0; i < ncpu; i++ {
		fmt.Fprintf(&b, "cpu%d 0 0 0 %d 0 0 0 0 0 0\n", i, idle)
	}
	b.WriteString("intr 0\nctxt 0\n")
	fmt.Fprintf(&b, "btime %d\n", btime)
	fmt.Fprintf(&b, "processes %d\n", forks)
	fmt.Fprintf(&b, "procs_running %d\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n", max(running, 1))
	return b.String()
}

// vmstatText renders /proc/vmstat (the counters vmstat(8) needs; event
// counters the Sentry does not keep are zero).
func vmstatText(m memInfo) string {
	var b strings.Builder
	for _, kv := range []struct {
		k string
		v uint64
	}{
		{"nr_free_pages", m.free / pageSize}, {"nr_zone_inactive_anon", 0}, {"nr_zone_active_anon", m.anon / pageSize},
		{"nr_zone_inactive_file", 0}, {"nr_zone_active_file", m.cached / pageSize}, {"nr_zone_unevictable", 0},
		{"nr_zone_write_pending", 0}, {"nr_mlock", 0}, {"nr_bounce", 0}, {"nr_zspages", 0}, {"nr_free_cma", 0},
		{"nr_inactive_anon", 0}, {"nr_active_anon", m.anon / pageSize}, {"nr_inactive_file", 0},
		{"nr_active_file", m.cached / pageSize}, {"nr_unevictable", 0}, {"nr_slab_reclaimable", 0},
		{"nr_slab_unreclaimable", 0}, {"nr_isolated_anon", 0}, {"nr_isolated_file", 0},
		{"nr_anon_pages", m.anon / pageSize}, {"nr_mapped", 0}, {"nr_file_pages", (m.cached + m.buffers) / pageSize},
		{"nr_dirty", 0}, {"nr_writeback", 0}, {"nr_shmem", m.shmem / pageSize}, {"nr_kernel_stack", 0},
		{"nr_page_table_pages", 0}, {"pgpgin", 0}, {"pgpgout", 0}, {"pswpin", 0}, {"pswpout", 0},
		{"pgalloc_normal", 0}, {"pgfree", 0}, {"pgactivate", 0}, {"pgdeactivate", 0}, {"pgfault", 0},
		{"pgmajfault", 0}, {"pgsteal_kswapd", 0}, {"pgsteal_direct", 0}, {"pgscan_kswapd", 0},
		{"pgscan_direct", 0}, {"oom_kill", 0},
	} {
		fmt.Fprintf(&b, "%s %d\n", kv.k, kv.v)
	}
	return b.String()
}

// memStats is what status, statm and stat show of an address space, in
// bytes.
type memStats struct {
	size, peak         uint64 // VmSize, VmPeak
	rss, hwm           uint64 // VmRSS, VmHWM
	anon, file, shmem  uint64 // RssAnon, RssFile, RssShmem
	data, stack        uint64 // VmData, VmStk
	exe, lib           uint64 // VmExe, VmLib
	pte                uint64 // VmPTE
	startCode, endCode uintptr
	startData, endData uintptr
	startStack         uintptr
	startBrk           uintptr
	argStart, argEnd   uintptr
	envStart, envEnd   uintptr
	text               uint64 // statm's text: the program's code
}

// memStatsOf sums mappings as Linux's mm counters do (total_vm, data_vm,
// stack_vm, exec_vm and the resident counters).
func memStatsOf(maps []mm.Mapping, m *mm.MemoryManager) memStats {
	var s memStats
	var execVM uint64
	for i := range maps {
		mp := &maps[i]
		size := uint64(mp.End - mp.Start)
		s.size += size
		s.rss += mp.Rss
		s.anon += mp.Anonymous
		s.shmem += mp.Shmem
		write := mp.Prot&unix.PROT_WRITE != 0
		switch {
		case mp.Stack:
			s.stack += size
		case write && !mp.Shared:
			s.data += size
		case mp.Prot&unix.PROT_EXEC != 0 && !write:
			execVM += size
		}
	}
	s.file = s.rss - s.anon - s.shmem
	peak, hwm := m.Peaks(s.rss)
	s.peak, s.hwm = max(peak, s.size), max(hwm, s.rss)
	s.startCode, s.endCode = m.StartCode, m.EndCode
	s.startData, s.endData = m.StartData, m.EndData
	s.startStack, s.startBrk = m.StartStack, m.BrkStart()
	s.argStart, s.argEnd = m.ArgvStart, m.ArgvEnd
	s.envStart, s.envEnd = m.EnvStart, m.EnvEnd
	if s.endCode > s.startCode {
		s.text = uint64(roundUp(s.endCode) - s.startCode&^(pageSize-1))
	}
	s.exe = min(s.text, execVM)
	s.lib = execVM - s.exe
	// One page table page per 2 MiB of resident memory, and the upper
	// levels: the Sentry has no page tables of its own to count.
	s.pte = (s.rss/pageSize+511)/512*pageSize + 2*pageSize
	return s
}

func roundUp(a uintptr) uintptr { return (a + pageSize - 1) &^ (pageSize - 1) }

// taskInfo is what /proc/<pid>/{stat,status,statm} show about a task,
// gathered from the kernel.
type taskInfo struct {
	pid, tid, ppid, pgrp, sid int32
	ttyNr, tpgid              int32
	comm                      string
	state                     byte // R, S, T, Z
	threads                   int
	umask                     uint32
	uid, gid                  [4]uint32 // real, effective, saved, fs
	groups                    []uint32
	mem                       memStats
	startTicks                uint64
	sigPnd, shdPnd            uint64
	sigBlk, sigIgn, sigCgt    uint64
	sigQueueMax               uint64
	rssLimit                  uint64
	capInh, capPrm, capEff    uint64
	capBnd, capAmb            uint64
	noNewPrivs                bool
	fdSize                    int
	seccompMode               int // 0 disabled, 1 strict, 2 filter
	seccompFilters            int
	tracerPid                 int32 // the tracing task (ptrace), 0 for none
	// Scheduling attributes (task_prio, task_nice, rt_priority, policy).
	priority, nice, policy, rtPriority int
	ncpu                               int
	voluntarySwitches                  uint64
	// CPU time and faults of the thread, or of the whole process for
	// /proc/<pid>/stat; cutime and cstime are the waited-for children's.
	utime, stime, cutime, cstime time.Duration
	minflt, majflt               uint64
}

var stateNames = map[byte]string{
	'R': "R (running)",
	'S': "S (sleeping)",
	'T': "T (stopped)",
	't': "t (tracing stop)",
	'Z': "Z (zombie)",
}

// taskStatText renders /proc/<pid>/stat (fs/proc/array.c do_task_stat):
// 52 fields; of the times and faults only utime, stime, cutime, cstime,
// minflt and majflt are kept.
func taskStatText(ti *taskInfo) string {
	id := ti.pid
	if ti.tid != 0 {
		id = ti.tid
	}
	const sigMask = 0x7fffffff // the obsolete signal fields show 31 bits
	m := &ti.mem
	f := []any{
		id, "(" + ti.comm + ")", string(ti.state), ti.ppid, ti.pgrp, ti.sid,
		ti.ttyNr, ti.tpgid,
		uint32(0x400000),           // flags: PF_RANDOMIZE
		ti.minflt, 0, ti.majflt, 0, // minflt cminflt majflt cmajflt
		ticks(ti.utime), ticks(ti.stime), ticks(ti.cutime), ticks(ti.cstime),
		ti.priority, ti.nice,
		ti.threads,
		0, // itrealvalue
		ti.startTicks,
		m.size,
		m.rss / pageSize,
		ti.rssLimit,
		uint64(m.startCode), uint64(m.endCode), uint64(m.startStack),
		0, 0, // kstkesp kstkeip
		ti.sigPnd & sigMask, ti.sigBlk & sigMask, ti.sigIgn & sigMask, ti.sigCgt & sigMask,
		0, 0, 0, // wchan nswap cnswap
		17,                          // exit_signal
		0, ti.rtPriority, ti.policy, // processor rt_priority policy
		0, 0, 0, // delayacct_blkio_ticks guest_time cguest_time
		uint64(m.startData), uint64(m.endData), uint64(m.startBrk),
		uint64(m.argStart), uint64(m.argEnd), uint64(m.envStart), uint64(m.envEnd),
		0, // exit_code
	}
	var b strings.Builder
	for i, v := range f {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, v)
	}
	b.WriteByte('\n')
	return b.String()
}

// ticks converts a CPU time to clock ticks (USER_HZ).
func ticks(d time.Duration) int64 { return int64(d / (time.Second / clockTicks)) }

// taskStatmText renders /proc/<pid>/statm (pages): size resident shared
// text lib data dt.
func taskStatmText(ti *taskInfo) string {
	m := &ti.mem
	p := func(v uint64) uint64 { return v / pageSize }
	return fmt.Sprintf("%d %d %d %d 0 %d 0\n", p(m.size), p(m.rss), p(m.file+m.shmem), p(m.text), p(m.data+m.stack))
}

// taskStatusText renders /proc/<pid>/status.
func taskStatusText(ti *taskInfo) string {
	var b strings.Builder
	id := ti.pid
	if ti.tid != 0 {
		id = ti.tid
	}
	fmt.Fprintf(&b, "Name:\t%s\n", ti.comm)
	fmt.Fprintf(&b, "Umask:\t%04o\n", ti.umask)
	state := stateNames[ti.state]
	if state == "" {
		state = string(ti.state)
	}
	fmt.Fprintf(&b, "State:\t%s\n", state)
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t%d\n", ti.pid, id, ti.ppid, ti.tracerPid)
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\n", ti.uid[0], ti.uid[1], ti.uid[2], ti.uid[3])
	fmt.Fprintf(&b, "Gid:\t%d\t%d\t%d\t%d\n", ti.gid[0], ti.gid[1], ti.gid[2], ti.gid[3])
	fmt.Fprintf(&b, "FDSize:\t%d\n", ti.fdSize)
	b.WriteString("Groups:\t")
	for i, g := range ti.groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, g)
	}
	b.WriteString(" \n")
	fmt.Fprintf(&b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", ti.pid, id, ti.pgrp, ti.sid)
	m := &ti.mem
	kb := func(name string, v uint64) { fmt.Fprintf(&b, "%s:\t%8d kB\n", name, v/1024) }
	kb("VmPeak", m.peak)
	kb("VmSize", m.size)
	kb("VmLck", 0)
	kb("VmPin", 0)
	kb("VmHWM", m.hwm)
	kb("VmRSS", m.rss)
	kb("RssAnon", m.anon)
	kb("RssFile", m.file)
	kb("RssShmem", m.shmem)
	kb("VmData", m.data)
	kb("VmStk", m.stack)
	kb("VmExe", m.exe)
	kb("VmLib", m.lib)
	kb("VmPTE", m.pte)
	kb("VmSwap", 0)
	kb("HugetlbPages", 0)
	b.WriteString("CoreDumping:\t0\nTHP_enabled:\t1\n")
	fmt.Fprintf(&b, "Threads:\t%d\n", ti.threads)
	fmt.Fprintf(&b, "SigQ:\t%d/%d\n", popcount(ti.sigPnd|ti.shdPnd), ti.sigQueueMax)
	fmt.Fprintf(&b, "SigPnd:\t%016x\nShdPnd:\t%016x\n", ti.sigPnd, ti.shdPnd)
	fmt.Fprintf(&b, "SigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n", ti.sigBlk, ti.sigIgn, ti.sigCgt)
	fmt.Fprintf(&b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		ti.capInh, ti.capPrm, ti.capEff, ti.capBnd, ti.capAmb)
	nnp := 0
	if ti.noNewPrivs {
		nnp = 1
	}
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\n", nnp)
	fmt.Fprintf(&b, "Seccomp:\t%d\nSeccomp_filters:\t%d\n", ti.seccompMode, ti.seccompFilters)
	// The application cannot reach the host's speculation controls.
	b.WriteString("Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n")
	cpus := make([]int, max(ti.ncpu, 1))
	for i := range cpus {
		cpus[i] = i
	}
	fmt.Fprintf(&b, "Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\n", hostinfo.FormatMask(cpus, len(cpus)), hostinfo.FormatList(cpus))
	// Debian's kernels have MAX_NUMNODES = 1024: 32 words of node mask.
	fmt.Fprintf(&b, "Mems_allowed:\t%s\nMems_allowed_list:\t0\n", hostinfo.FormatMask([]int{0}, 1024))
	fmt.Fprintf(&b, "voluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t0\n", ti.voluntarySwitches)
	return b.String()
}

func popcount(v uint64) int {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}

// smapsFields writes the usage lines smaps and smaps_rollup share; rollup
// adds the Pss split.
func smapsFields(b *strings.Builder, u *mm.Usage, rollup bool) {
	kb := func(name string, v uint64) { fmt.Fprintf(b, "%-16s%8d kB\n", name+":", v/1024) }
	kb("Rss", u.Rss)
	kb("Pss", u.Pss)
	kb("Pss_Dirty", u.PssDirty)
	if rollup {
		kb("Pss_Anon", u.PssAnon)
		kb("Pss_File", u.PssFile)
		kb("Pss_Shmem", u.PssShmem)
	}
	kb("Shared_Clean", u.SharedClean)
	kb("Shared_Dirty", u.SharedDirty)
	kb("Private_Clean", u.PrivateClean)
	kb("Private_Dirty", u.PrivateDirty)
	kb("Referenced", u.Rss)
	kb("Anonymous", u.Anonymous)
	kb("LazyFree", 0)
	kb("AnonHugePages", 0)
	kb("ShmemPmdMapped", 0)
	kb("FilePmdMapped", 0)
	kb("Shared_Hugetlb", 0)
	kb("Private_Hugetlb", 0)
	kb("Swap", 0)
	kb("SwapPss", 0)
	kb("Locked", 0)
}

// vmFlags renders smaps's VmFlags for a mapping.
func vmFlags(mp *mm.Mapping) string {
	var fl []string
	add := func(cond bool, name string) {
		if cond {
			fl = append(fl, name)
		}
	}
	add(mp.Prot&unix.PROT_READ != 0, "rd")
	add(mp.Prot&unix.PROT_WRITE != 0, "wr")
	add(mp.Prot&unix.PROT_EXEC != 0, "ex")
	add(mp.Shared, "sh")
	add(mp.MaxProt&unix.PROT_READ != 0, "mr")
	add(mp.MaxProt&unix.PROT_WRITE != 0, "mw")
	add(mp.MaxProt&unix.PROT_EXEC != 0, "me")
	add(mp.Shared, "ms")
	add(mp.Stack, "gd")
	// Private writable memory is charged against overcommit (VM_ACCOUNT).
	add(!mp.Shared && mp.Prot&unix.PROT_WRITE != 0 && (!mp.File || mp.Name == ""), "ac")
	add(!mp.Stack, "sd")
	return strings.Join(fl, " ") + " "
}

// smapsText renders /proc/<pid>/smaps. pkeys says the CPUs have memory
// protection keys enabled (cpuinfo's ospke), for which Linux adds each
// mapping's key; the Sentry gives every mapping key 0, the default.
func smapsText(maps []mm.Mapping, pkeys bool) string {
	var b strings.Builder
	for i := range maps {
		mp := &maps[i]
		b.WriteString(mp.MapsLine())
		b.WriteByte('\n')
		fmt.Fprintf(&b, "%-16s%8d kB\n", "Size:", (mp.End-mp.Start)/1024)
		fmt.Fprintf(&b, "%-16s%8d kB\n%-16s%8d kB\n", "KernelPageSize:", 4, "MMUPageSize:", 4)
		smapsFields(&b, &mp.Usage, false)
		fmt.Fprintf(&b, "%-16s%8d\n", "THPeligible:", 0)
		if pkeys {
			fmt.Fprintf(&b, "%-16s%8d\n", "ProtectionKey:", 0)
		}
		fmt.Fprintf(&b, "VmFlags: %s\n", vmFlags(mp))
	}
	return b.String()
}

// smapsRollupText renders /proc/<pid>/smaps_rollup: the sums of smaps,
// under a header spanning the address space.
func smapsRollupText(maps []mm.Mapping) string {
	var b strings.Builder
	var u mm.Usage
	var start, end uintptr
	for i := range maps {
		u.Add(maps[i].Usage)
	}
	if len(maps) > 0 {
		start, end = maps[0].Start, maps[len(maps)-1].End
	}
	hdr := mm.Mapping{Start: start, End: end, Name: "[rollup]"}
	b.WriteString(hdr.MapsLine())
	b.WriteByte('\n')
	smapsFields(&b, &u, true)
	return b.String()
}

// limitNames are the rows of /proc/<pid>/limits, in RLIMIT_* order.
var limitNames = []struct{ name, unit string }{
	{"Max cpu time", "seconds"},
	{"Max file size", "bytes"},
	{"Max data size", "bytes"},
	{"Max stack size", "bytes"},
	{"Max core file size", "bytes"},
	{"Max resident set", "bytes"},
	{"Max processes", "processes"},
	{"Max open files", "files"},
	{"Max locked memory", "bytes"},
	{"Max address space", "bytes"},
	{"Max file locks", "locks"},
	{"Max pending signals", "signals"},
	{"Max msgqueue size", "bytes"},
	{"Max nice priority", ""},
	{"Max realtime priority", ""},
	{"Max realtime timeout", "us"},
}

// limitsText renders /proc/<pid>/limits; get returns (soft, hard) of
// RLIMIT_* i with ^uint64(0) meaning unlimited.
func limitsText(get func(i int) (uint64, uint64)) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	str := func(v uint64) string {
		if v == ^uint64(0) {
			return "unlimited"
		}
		return fmt.Sprint(v)
	}
	for i, l := range limitNames {
		soft, hard := get(i)
		fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", l.name, str(soft), str(hard), l.unit)
	}
	return b.String()
}

// mountEntry is one mount as /proc/<pid>/mounts shows it.
type mountEntry struct {
	id, parent     uint64
	dev            uint64 // st_dev of the mount's files
	path           string
	fstype, source string
	readOnly       bool
	noSuid, noDev  bool
	noExec         bool
}

func (m *mountEntry) opts() string {
	o := "rw"
	if m.readOnly {
		o = "ro"
	}
	if m.noSuid {
		o += ",nosuid"
	}
	if m.noDev {
		o += ",nodev"
	}
	if m.noExec {
		o += ",noexec"
	}
	return o + ",relatime"
}

func (m *mountEntry) fields() (fstype, source string) {
	fstype, source = m.fstype, m.source
	if fstype == "" {
		fstype = "none"
	}
	if source == "" {
		source = "none"
	}
	return fstype, source
}

// escapeMountPath escapes a path as the kernel's seq_path does for
// mounts (space, tab, newline and backslash in octal).
func escapeMountPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mountsText renders /proc/<pid>/mounts.
func mountsText(ms []mountEntry) string {
	var b strings.Builder
	for i := range ms {
		m := &ms[i]
		fstype, source := m.fields()
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", source, escapeMountPath(m.path), fstype, m.opts())
	}
	return b.String()
}

// mountinfoText renders /proc/<pid>/mountinfo. Every mount of the sandbox
// is private (no peer group, no master: mounts never propagate between
// the sandbox and the host, nor inside it), so no mount has optional
// fields, as for a container whose mounts runc made private.
func mountinfoText(ms []mountEntry) string {
	var b strings.Builder
	for i := range ms {
		m := &ms[i]
		fstype, source := m.fields()
		super := "rw"
		if m.readOnly {
			super = "ro"
		}
		fmt.Fprintf(&b, "%d %d %d:%d / %s %s - %s %s %s\n",
			m.id, m.parent, unix.Major(m.dev), unix.Minor(m.dev), escapeMountPath(m.path), m.opts(), fstype, source, super)
	}
	return b.String()
}

// mountstatsText renders /proc/<pid>/mountstats: one line per mount (no
// statistics: none of the sandbox's filesystems is NFS).
func mountstatsText(ms []mountEntry) string {
	var b strings.Builder
	for i := range ms {
		m := &ms[i]
		fstype, source := m.fields()
		fmt.Fprintf(&b, "device %s mounted on %s with fstype %s\n", source, escapeMountPath(m.path), fstype)
	}
	return b.String()
}

// oomScore computes /proc/<pid>/oom_score as Linux 6.1 shows it: the
// badness (resident pages, plus adj thousandths of all memory) scaled to
// 0..2000 and reported as two thirds of that.
func oomScore(rssPages, totalPages uint64, adj int) int {
	if totalPages == 0 {
		totalPages = 1
	}
	if adj == -1000 {
		return 0
	}
	badness := int64(rssPages) + int64(adj)*int64(totalPages)/1000
	points := 1000 + badness*1000/int64(totalPages)
	points = max(min(points, 2000), 0)
	return int(points * 2 / 3)
}
