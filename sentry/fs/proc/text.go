package proc

// Text generators: pure functions from gathered values to file contents,
// kept apart from the kernel so they can be tested alone.

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/cpu"
)

// clockTicks is USER_HZ, the unit of times in /proc/*/stat.
const clockTicks = 100

const pageSize = 4096

const filesystemsText = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\tpipefs\nnodev\tanon_inodefs\nnodev\tsockfs\nnodev\t9p\n"

// cpuFlags returns the /proc/cpuinfo flags of the host CPU features Go
// detects (plus the amd64 baseline).
func cpuFlags() []string {
	flags := strings.Fields("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm")
	x := cpu.X86
	for _, f := range []struct {
		has  bool
		name string
	}{
		{x.HasSSE3, "pni"}, {x.HasPCLMULQDQ, "pclmulqdq"}, {x.HasSSSE3, "ssse3"}, {x.HasFMA, "fma"},
		{x.HasCX16, "cx16"}, {x.HasSSE41, "sse4_1"}, {x.HasSSE42, "sse4_2"}, {x.HasMOVBE, "movbe"},
		{x.HasPOPCNT, "popcnt"}, {x.HasAES, "aes"}, {x.HasXSAVE, "xsave"}, {x.HasOSXSAVE, "osxsave"},
		{x.HasAVX, "avx"}, {x.HasF16C, "f16c"}, {x.HasRDRAND, "rdrand"}, {x.HasLAHF, "lahf_lm"},
		{x.HasLZCNT, "abm"}, {x.HasBMI1, "bmi1"}, {x.HasAVX2, "avx2"}, {x.HasBMI2, "bmi2"},
		{x.HasERMS, "erms"}, {x.HasAVX512F, "avx512f"}, {x.HasAVX512DQ, "avx512dq"}, {x.HasRDSEED, "rdseed"},
		{x.HasADX, "adx"}, {x.HasAVX512IFMA, "avx512ifma"}, {x.HasAVX512CD, "avx512cd"},
		{x.HasAVX512BW, "avx512bw"}, {x.HasAVX512VL, "avx512vl"}, {x.HasAVX512VBMI, "avx512vbmi"},
		{x.HasAVX512VBMI2, "avx512_vbmi2"}, {x.HasAVX512GFNI, "gfni"}, {x.HasAVX512VAES, "vaes"},
		{x.HasAVX512VPCLMULQDQ, "vpclmulqdq"}, {x.HasAVX512VNNI, "avx512_vnni"},
		{x.HasAVX512BITALG, "avx512_bitalg"}, {x.HasAVX512VPOPCNTDQ, "avx512_vpopcntdq"},
		{x.HasAVXVNNI, "avx_vnni"}, {x.HasAVX512BF16, "avx512_bf16"},
	} {
		if f.has {
			flags = append(flags, f.name)
		}
	}
	return flags
}

// cpuinfoText renders /proc/cpuinfo for n identical processors.
func cpuinfoText(n int, flags []string) string {
	var b strings.Builder
	fl := strings.Join(flags, " ")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "processor\t: %d\n", i)
		b.WriteString("vendor_id\t: unknown\n")
		b.WriteString("cpu family\t: 6\n")
		b.WriteString("model\t\t: 0\n")
		b.WriteString("model name\t: Veil virtual CPU\n")
		b.WriteString("stepping\t: 0\n")
		b.WriteString("cpu MHz\t\t: 1000.000\n")
		b.WriteString("cache size\t: 0 KB\n")
		b.WriteString("physical id\t: 0\n")
		fmt.Fprintf(&b, "siblings\t: %d\n", n)
		fmt.Fprintf(&b, "core id\t\t: %d\n", i)
		fmt.Fprintf(&b, "cpu cores\t: %d\n", n)
		fmt.Fprintf(&b, "apicid\t\t: %d\n", i)
		b.WriteString("fpu\t\t: yes\n")
		b.WriteString("fpu_exception\t: yes\n")
		b.WriteString("cpuid level\t: 13\n")
		b.WriteString("wp\t\t: yes\n")
		fmt.Fprintf(&b, "flags\t\t: %s\n", fl)
		b.WriteString("bogomips\t: 2000.00\n")
		b.WriteString("clflush size\t: 64\n")
		b.WriteString("cache_alignment\t: 64\n")
		b.WriteString("address sizes\t: 46 bits physical, 48 bits virtual\n")
		b.WriteString("power management:\n\n")
	}
	return b.String()
}

// meminfoText renders /proc/meminfo from byte counts.
func meminfoText(total, free, buffers, swapTotal, swapFree uint64) string {
	kb := func(v uint64) uint64 { return v / 1024 }
	var b strings.Builder
	line := func(name string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", v) }
	line("MemTotal", kb(total))
	line("MemFree", kb(free))
	line("MemAvailable", kb(free+buffers))
	line("Buffers", kb(buffers))
	line("Cached", 0)
	line("SwapCached", 0)
	line("Active", 0)
	line("Inactive", 0)
	line("SwapTotal", kb(swapTotal))
	line("SwapFree", kb(swapFree))
	line("Dirty", 0)
	line("Writeback", 0)
	line("AnonPages", 0)
	line("Mapped", 0)
	line("Shmem", 0)
	line("Slab", 0)
	line("CommitLimit", kb(total/2+swapTotal))
	line("Committed_AS", 0)
	line("VmallocTotal", 34359738367)
	line("VmallocUsed", 0)
	line("HugePages_Total", 0)
	b.WriteString("Hugepagesize:       2048 kB\n")
	return b.String()
}

// statText renders the system-wide /proc/stat.
func statText(ncpu int, uptime time.Duration, btime int64, procs int) string {
	idle := uint64(uptime.Seconds() * clockTicks)
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  0 0 0 %d 0 0 0 0 0 0\n", idle*uint64(ncpu))
	for i := 0; i < ncpu; i++ {
		fmt.Fprintf(&b, "cpu%d 0 0 0 %d 0 0 0 0 0 0\n", i, idle)
	}
	b.WriteString("intr 0\nctxt 0\n")
	fmt.Fprintf(&b, "btime %d\n", btime)
	fmt.Fprintf(&b, "processes %d\n", procs)
	fmt.Fprintf(&b, "procs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n")
	return b.String()
}

// taskInfo is what /proc/<pid>/{stat,status,statm} show about a task,
// gathered from the kernel.
type taskInfo struct {
	pid, tid, ppid, pgrp, sid int32
	comm                      string
	state                     byte // R, S, T, Z
	threads                   int
	umask                     uint32
	uid, gid                  [4]uint32 // real, effective, saved, fs
	groups                    []uint32
	vsize, rss                int64 // bytes
	startTicks                uint64
	sigPnd, shdPnd            uint64
	sigBlk, sigIgn, sigCgt    uint64
	capInh, capPrm, capEff    uint64
	capBnd, capAmb            uint64
	noNewPrivs                bool
	fdSize                    int
	argStart, argEnd          uintptr
	envStart, envEnd          uintptr
	seccompMode               int // 0 disabled, 1 strict, 2 filter
	seccompFilters            int
	tracerPid                 int32 // the tracing task (ptrace), 0 for none
}

var stateNames = map[byte]string{
	'R': "R (running)",
	'S': "S (sleeping)",
	'T': "T (stopped)",
	't': "t (tracing stop)",
	'Z': "Z (zombie)",
}

// taskStatText renders /proc/<pid>/stat (fs/proc/array.c do_task_stat):
// 52 fields, times and faults zero.
func taskStatText(ti *taskInfo) string {
	id := ti.pid
	if ti.tid != 0 {
		id = ti.tid
	}
	f := []any{
		id, "(" + ti.comm + ")", string(ti.state), ti.ppid, ti.pgrp, ti.sid,
		0,                // tty_nr
		-1,               // tpgid
		uint32(0x400000), // flags: PF_RANDOMIZE
		0, 0, 0, 0,       // minflt cminflt majflt cmajflt
		0, 0, 0, 0, // utime stime cutime cstime
		20, 0, // priority nice
		ti.threads,
		0, // itrealvalue
		ti.startTicks,
		ti.vsize,
		ti.rss / pageSize,
		uint64(1<<64 - 1), // rsslim
		0, 0, 0, 0, 0,     // startcode endcode startstack kstkesp kstkeip
		0, 0, 0, 0, // signal blocked sigignore sigcatch (obsolete; see status)
		0, 0, 0, // wchan nswap cnswap
		17,      // exit_signal
		0, 0, 0, // processor rt_priority policy
		0, 0, 0, // delayacct_blkio_ticks guest_time cguest_time
		0, 0, 0, // start_data end_data start_brk
		uint64(ti.argStart), uint64(ti.argEnd), uint64(ti.envStart), uint64(ti.envEnd),
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

// taskStatmText renders /proc/<pid>/statm (pages).
func taskStatmText(ti *taskInfo) string {
	return fmt.Sprintf("%d %d 0 0 0 0 0\n", ti.vsize/pageSize, ti.rss/pageSize)
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
	kb := func(v int64) int64 { return v / 1024 }
	fmt.Fprintf(&b, "VmPeak:\t%8d kB\n", kb(ti.vsize))
	fmt.Fprintf(&b, "VmSize:\t%8d kB\n", kb(ti.vsize))
	fmt.Fprintf(&b, "VmLck:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmHWM:\t%8d kB\n", kb(ti.rss))
	fmt.Fprintf(&b, "VmRSS:\t%8d kB\n", kb(ti.rss))
	fmt.Fprintf(&b, "RssAnon:\t%8d kB\n", kb(ti.rss))
	fmt.Fprintf(&b, "RssFile:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "RssShmem:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmData:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmStk:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmExe:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmLib:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmPTE:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "VmSwap:\t%8d kB\n", 0)
	fmt.Fprintf(&b, "Threads:\t%d\n", ti.threads)
	fmt.Fprintf(&b, "SigQ:\t0/%d\n", 1<<16)
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
	b.WriteString("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n")
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
	path           string
	fstype, source string
	readOnly       bool
	noExec         bool
}

func (m *mountEntry) opts() string {
	o := "rw"
	if m.readOnly {
		o = "ro"
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

// mountinfoText renders /proc/<pid>/mountinfo.
func mountinfoText(ms []mountEntry) string {
	var b strings.Builder
	for i := range ms {
		m := &ms[i]
		fstype, source := m.fields()
		super := "rw"
		if m.readOnly {
			super = "ro"
		}
		fmt.Fprintf(&b, "%d %d 0:%d / %s %s - %s %s %s\n",
			m.id, m.parent, m.id, escapeMountPath(m.path), m.opts(), fstype, source, super)
	}
	return b.String()
}
