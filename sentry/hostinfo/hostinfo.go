// Package hostinfo describes the processors a sandbox has, as the host
// shows them, for the Sentry's /proc/cpuinfo and /sys/devices/system/cpu.
//
// Programs pick code paths from these files (SIMD variants from the flags,
// thread pools from the CPU count, buffer sizes from the caches), so they
// must describe the real processor the application runs on. The Sentry
// reads them once, at start-up and before it confines itself, from the
// host's /proc/cpuinfo and /sys/devices/system/cpu.
//
// The sandbox's CPUs are the host CPUs its Sentry may run on (its
// affinity, e.g. a cpuset), numbered from 0 as sched_getaffinity(2)
// reports them inside: host CPUs 2 and 5 become the sandbox's CPUs 0 and
// 1, with the host's description of 2 and 5.
package hostinfo

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"
)

// Field is one "key : value" line of a /proc/cpuinfo processor block. Key
// keeps the host's padding ("cpu MHz\t\t").
type Field struct {
	Key, Value string
}

// Name is the key without its padding.
func (f Field) Name() string { return strings.TrimRight(f.Key, " \t") }

// Cache is one cache a CPU uses (/sys/devices/system/cpu/cpuN/cache/indexK).
type Cache struct {
	// ID is the cache's id among those of its level and type.
	ID                   int
	Level                int
	Type                 string // Data, Instruction, Unified
	Size                 string // e.g. "32K", as sysfs shows it
	CoherencyLineSize    int
	WaysOfAssociativity  int
	NumberOfSets         int
	PhysicalLinePartiton int
	// Shared are the sandbox CPUs that share this cache.
	Shared []int
}

// CPU is one processor of the sandbox.
type CPU struct {
	// Host is the host's number for this CPU.
	Host int
	// Info is the host's /proc/cpuinfo block for it, without the
	// processor line.
	Info []Field
	// Topology, from the host's sysfs (or cpuinfo's physical and core
	// ids).
	PackageID, DieID, ClusterID, CoreID int
	Caches                              []Cache
}

// Value returns the value of the cpuinfo field name, or "".
func (c *CPU) Value(name string) string {
	for _, f := range c.Info {
		if f.Name() == name {
			return f.Value
		}
	}
	return ""
}

// HasFlag says whether every CPU lists flag among its cpuinfo flags.
func (i *Info) HasFlag(flag string) bool {
	if len(i.CPUs) == 0 {
		return false
	}
	for c := range i.CPUs {
		if !slices.Contains(strings.Fields(i.CPUs[c].Value("flags")), flag) {
			return false
		}
	}
	return true
}

// Info is what the sandbox knows of its processors.
type Info struct {
	CPUs []CPU
	// Vulnerabilities are the host's
	// /sys/devices/system/cpu/vulnerabilities files (name to content
	// without the newline), which lscpu shows.
	Vulnerabilities map[string]string
}

// Read gathers the Info of the CPUs this process may run on from the
// host's /proc/cpuinfo and /sys/devices/system/cpu. What it cannot read
// it makes up from what Go detects (CPUID), so it always returns an Info
// with runtime.NumCPU() CPUs.
func Read() *Info {
	affinity := Affinity()
	text, _ := os.ReadFile("/proc/cpuinfo")
	return Parse(string(text), newSysFS(sysCPUDir), affinity)
}

// sysFS reads sysfs attributes with open, one read and close. The
// hundred or so small files of Read cost ~1 ms through os.File, whose
// every open also tries the network poller (fcntl, epoll_ctl) and reads
// twice: most of the Sentry's start-up before it confines itself.
type sysFS struct {
	fs.FS
	root string
}

// sysCPUDir is the host directory Read describes the CPUs from.
const sysCPUDir = "/sys/devices/system/cpu"

func newSysFS(root string) sysFS { return sysFS{os.DirFS(root), root} }

// ReadFile implements fs.ReadFileFS for attributes of up to a page
// (sysfs's limit), and falls back to the FS for anything longer.
func (f sysFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fs.ErrInvalid}
	}
	fd, err := unix.Open(f.root+"/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4097)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if n == len(buf) {
		return fs.ReadFile(f.FS, name)
	}
	return buf[:n], nil
}

// Affinity returns the host CPUs this process may run on, in order. Go's
// runtime.NumCPU is their number (read once at start-up).
func Affinity() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		var out []int
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				out = append(out, i)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	out := make([]int, runtime.NumCPU())
	for i := range out {
		out[i] = i
	}
	return out
}

// Parse builds the Info of the host CPUs affinity from the host's
// /proc/cpuinfo text and its /sys/devices/system/cpu directory (sysCPU,
// which may be nil or lack files).
func Parse(cpuinfo string, sysCPU fs.FS, affinity []int) *Info {
	blocks := parseCPUInfo(cpuinfo)
	sandboxID := make(map[int]int, len(affinity))
	for i, h := range affinity {
		sandboxID[h] = i
	}
	info := &Info{}
	for _, h := range affinity {
		c := CPU{Host: h, Info: blocks[h]}
		if c.Info == nil {
			c.Info = syntheticBlock()
		}
		c.PackageID = atoiOr(c.Value("physical id"), 0)
		c.CoreID = atoiOr(c.Value("core id"), sandboxID[h])
		if sysCPU != nil {
			dir := fmt.Sprintf("cpu%d", h)
			c.PackageID = readInt(sysCPU, dir+"/topology/physical_package_id", c.PackageID)
			c.DieID = readInt(sysCPU, dir+"/topology/die_id", 0)
			c.ClusterID = readInt(sysCPU, dir+"/topology/cluster_id", c.CoreID)
			c.CoreID = readInt(sysCPU, dir+"/topology/core_id", c.CoreID)
			c.Caches = readCaches(sysCPU, dir+"/cache", sandboxID)
		}
		info.CPUs = append(info.CPUs, c)
	}
	if sysCPU != nil {
		info.Vulnerabilities = readDir(sysCPU, "vulnerabilities")
	}
	return info
}

// parseCPUInfo splits /proc/cpuinfo into blocks by processor number.
func parseCPUInfo(text string) map[int][]Field {
	out := make(map[int][]Field)
	for _, block := range strings.Split(text, "\n\n") {
		proc := -1
		var fields []Field
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := Field{Key: k, Value: strings.TrimPrefix(v, " ")}
			if f.Name() == "processor" {
				proc = atoiOr(f.Value, -1)
				continue
			}
			fields = append(fields, f)
		}
		if proc >= 0 {
			out[proc] = fields
		}
	}
	return out
}

// readCaches reads a CPU's cache/indexK directories.
func readCaches(sysCPU fs.FS, dir string, sandboxID map[int]int) []Cache {
	ents, err := fs.ReadDir(sysCPU, dir)
	if err != nil {
		return nil
	}
	var out []Cache
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "index") {
			continue
		}
		d := path.Join(dir, e.Name())
		c := Cache{
			ID:                   readInt(sysCPU, d+"/id", 0),
			Level:                readInt(sysCPU, d+"/level", 0),
			Type:                 readString(sysCPU, d+"/type"),
			Size:                 readString(sysCPU, d+"/size"),
			CoherencyLineSize:    readInt(sysCPU, d+"/coherency_line_size", 64),
			WaysOfAssociativity:  readInt(sysCPU, d+"/ways_of_associativity", 0),
			NumberOfSets:         readInt(sysCPU, d+"/number_of_sets", 0),
			PhysicalLinePartiton: readInt(sysCPU, d+"/physical_line_partition", 1),
		}
		if c.Level == 0 || c.Type == "" {
			continue
		}
		for _, h := range ParseList(readString(sysCPU, d+"/shared_cpu_list")) {
			if id, ok := sandboxID[h]; ok {
				c.Shared = append(c.Shared, id)
			}
		}
		sort.Ints(c.Shared)
		out = append(out, c)
	}
	return out
}

func readDir(fsys fs.FS, dir string) map[string]string {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil
	}
	out := make(map[string]string)
	for _, e := range ents {
		if e.Type().IsRegular() {
			out[e.Name()] = readString(fsys, path.Join(dir, e.Name()))
		}
	}
	return out
}

func readString(fsys fs.FS, name string) string {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(fsys fs.FS, name string, def int) int {
	return atoiOr(readString(fsys, name), def)
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// ParseList reads a CPU list ("0-3,8,10-11"); malformed parts are
// skipped.
func ParseList(s string) []int {
	var out []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

// FormatList writes ids (sorted) as a CPU list, "0-3,8".
func FormatList(ids []int) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if i == j {
			fmt.Fprint(&b, ids[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", ids[i], ids[j])
		}
		i = j + 1
	}
	return b.String()
}

// FormatMask writes ids as a CPU mask of n CPUs, as sysfs's cpumap files
// do: hexadecimal, in groups of 32 bits separated by commas, the highest
// first, the first group only as wide as needed.
func FormatMask(ids []int, n int) string {
	words := make([]uint32, (max(n, 1)+31)/32)
	for _, id := range ids {
		if id >= 0 && id/32 < len(words) {
			words[id/32] |= 1 << (id % 32)
		}
	}
	var b strings.Builder
	for i := len(words) - 1; i >= 0; i-- {
		if i == len(words)-1 {
			digits := (min(n-32*i, 32) + 3) / 4
			fmt.Fprintf(&b, "%0*x", max(digits, 1), words[i])
		} else {
			fmt.Fprintf(&b, ",%08x", words[i])
		}
	}
	return b.String()
}

// syntheticBlock is a cpuinfo block for a CPU the host did not describe,
// from what CPUID says through Go's detection.
func syntheticBlock() []Field {
	return []Field{
		{"vendor_id\t", "unknown"},
		{"cpu family\t", "6"},
		{"model\t\t", "0"},
		{"model name\t", "unknown"},
		{"stepping\t", "0"},
		{"cpu MHz\t\t", "1000.000"},
		{"cache size\t", "0 KB"},
		{"fpu\t\t", "yes"},
		{"fpu_exception\t", "yes"},
		{"cpuid level\t", "13"},
		{"wp\t\t", "yes"},
		{"flags\t\t", strings.Join(cpuFlags(), " ")},
		{"bogomips\t", "2000.00"},
		{"clflush size\t", "64"},
		{"cache_alignment\t", "64"},
		{"address sizes\t", "46 bits physical, 48 bits virtual"},
		{"power management", ""},
	}
}

// cpuFlags returns the /proc/cpuinfo flags of the CPU features Go
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
		{x.HasPOPCNT, "popcnt"}, {x.HasAES, "aes"}, {x.HasXSAVE, "xsave"},
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

// Synthetic returns an Info of n CPUs described from CPUID alone (tests,
// and a Sentry that could not read the host's files).
func Synthetic(n int) *Info {
	aff := make([]int, n)
	for i := range aff {
		aff[i] = i
	}
	return Parse("", nil, aff)
}
