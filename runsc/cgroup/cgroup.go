// Package cgroup puts a sandbox's host processes (the Sentry, the gofer and
// the Sentry's children) into the host cgroup that the OCI config names and
// applies linux.resources to it, using github.com/opencontainers/cgroups: its
// fs manager on cgroup v1 (and hybrid) hosts, its fs2 manager when
// /sys/fs/cgroup is the unified v2 hierarchy.
//
//	c, err := cgroup.New(spec.Linux.CgroupsPath, id, spec.Linux.Resources, systemd)
//	err = c.Add(sentryPid)       // and the gofer; children inherit it
//	state.Cgroup = c.Path()      // opaque; cgroup.Load(state.Cgroup) reopens it
//	err = c.Update(newResources) // runsc update
//	st, err := c.Stats()         // runsc events --stats
//	err = c.Destroy()            // runsc delete: kill what is left, remove it
//
// Paths (linux.cgroupsPath):
//   - empty: "/veil/<id>";
//   - absolute: relative to the root of each hierarchy;
//   - relative: relative to the caller's own cgroup, as runc does with
//     cgroupfs. On v1 that is the caller's cgroup in each hierarchy; on v2 the
//     library resolves it against the parent of the caller's cgroup, because a
//     v2 cgroup that holds processes cannot delegate controllers to children.
//   - ".." anywhere, "/" and "." are refused: the sandbox needs a cgroup of its
//     own, since Destroy kills every process in it (also when New joined a
//     cgroup that existed).
//   - systemd ("slice:prefix:name", runc's --systemd-cgroup) is not supported
//     yet and says so; without systemd running it says that instead.
//
// Resources (linux.resources). Each setting is applied on its own so that an
// error names the spec field; anything that cannot be applied on this host is
// an error, except:
//   - devices: accepted and ignored. The Sentry never opens host devices for
//     the application (its /dev is its own, sentry/fs/dev, and the gofer
//     serves only files), so the host device cgroup has nothing to enforce;
//     the sandbox's processes keep the parent cgroup's device rules.
//   - memory.kernel, memory.kernelTCP: ignored with a warning (deprecated;
//     Linux 5.4+ and cgroup v2 have no such limits), as runc does.
//   - memory.useHierarchy: true is a no-op (modern kernels always account
//     hierarchically); false is an error.
//   - blockIO weights (weight, leafWeight, weightDevice): best effort. They
//     only exist with an I/O scheduler that has weights (BFQ, formerly CFQ);
//     when the kernel has no such knob they are skipped with a warning
//     (Warnf), like docker does.
//
// pids.limit is taken as runc takes it: > 0 is the limit, < 0 is no limit,
// and 0 becomes 1 (the library's choice, because systemd cannot express 0).
//
// Not supported on cgroup v2 (errors): cpu.realtime*, memory.swappiness,
// memory.disableOOMKiller, network.*. unified is cgroup v2 only.
//
// A hybrid host (v1 hierarchies plus a v2 one at /sys/fs/cgroup/unified) is
// treated as v1: the processes also join the same path in the v2 hierarchy,
// but no limits are set there, so a controller bound to v2 on such a host
// (hugetlb, on the development host) is not available.
//
// Update leaves fields that are not given as they are. On v2, memory.swap is
// converted to memory.swap.max = swap - limit, so it needs memory.limit in the
// same call.
package cgroup

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Warnf reports settings that were accepted but cannot take effect on this
// host. runsc may point it at its own log.
var Warnf = func(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "runsc: warning: "+format+"\n", args...)
}

// DefaultParent is where a container's cgroup goes when the config names none.
const DefaultParent = "/veil"

// destroyTimeout bounds how long Destroy waits for killed processes to go.
const destroyTimeout = 10 * time.Second

// systemdRunDir exists when systemd is PID 1 (sd_booted(3)); a variable so
// that tests can pretend either way.
var systemdRunDir = "/run/systemd/system"

// Cgroup is the cgroup of one sandbox, in every hierarchy.
type Cgroup struct {
	name  string            // as configured, cleaned; for messages
	paths map[string]string // hierarchy ("" on v2) -> directory
	mgr   cgroups.Manager
	v2    bool
}

// saved is what Path returns and Load takes.
type saved struct {
	Name  string            `json:"name"`
	Paths map[string]string `json:"paths"`
}

// New creates (or joins, if it exists) the cgroup for container id and applies
// r to it. path is linux.cgroupsPath (see the package comment); systemd is
// runc's --systemd-cgroup. If New fails it leaves no cgroup behind that it
// created.
func New(path, id string, r *specs.LinuxResources, systemd bool) (*Cgroup, error) {
	if systemd {
		return nil, systemdError(path)
	}
	name, err := cleanPath(path, id)
	if err != nil {
		return nil, err
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	// Check what can be checked before anything is created.
	settings, err := convert(r, v2)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	cfg := &cgroups.Cgroup{Path: name, Resources: &cgroups.Resources{}}
	mgr, err := newManager(cfg, nil, v2)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	existed := mgr.Exists()
	c := &Cgroup{name: name, paths: maps.Clone(mgr.GetPaths()), mgr: mgr, v2: v2}
	// Apply with -1 creates the directories (and, on v1, copies the parent's
	// cpuset so that processes can join) without moving any process.
	if err := mgr.Apply(-1); err != nil {
		err = fmt.Errorf("cgroup %s: create: %w", name, err)
		if !existed {
			err = errors.Join(err, c.Destroy())
		}
		return nil, err
	}
	if err := c.apply(settings); err != nil {
		if !existed {
			err = errors.Join(err, c.Destroy())
		}
		return nil, err
	}
	return c, nil
}

// Load reopens a cgroup from what Path returned. It does not check that the
// cgroup still exists: Destroy of a cgroup that is gone succeeds.
func Load(s string) (*Cgroup, error) {
	var sv saved
	if err := json.Unmarshal([]byte(s), &sv); err != nil {
		return nil, fmt.Errorf("cgroup: bad saved state %q: %w", s, err)
	}
	if len(sv.Paths) == 0 {
		return nil, fmt.Errorf("cgroup %s: saved state has no paths", sv.Name)
	}
	for k, p := range sv.Paths {
		if err := checkSavedDir(p); err != nil {
			return nil, fmt.Errorf("cgroup %s: saved path %s=%q: %w", sv.Name, k, p, err)
		}
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	_, unified := sv.Paths[""]
	savedV2 := unified && len(sv.Paths) == 1
	if v2 != savedV2 {
		return nil, fmt.Errorf("cgroup %s: saved state does not match this host's cgroup version (host v2: %t)", sv.Name, v2)
	}
	cfg := &cgroups.Cgroup{Path: sv.Name, Resources: &cgroups.Resources{}}
	mgr, err := newManager(cfg, maps.Clone(sv.Paths), v2)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", sv.Name, err)
	}
	return &Cgroup{name: sv.Name, paths: sv.Paths, mgr: mgr, v2: v2}, nil
}

func newManager(cfg *cgroups.Cgroup, paths map[string]string, v2 bool) (cgroups.Manager, error) {
	if v2 {
		return fs2.NewManager(cfg, paths[""])
	}
	return fs.NewManager(cfg, paths)
}

// Path returns the string to save in the container's state for Load. It is
// opaque to callers (today a JSON object: the configured path, and the
// directory in each hierarchy, resolved when the cgroup was created).
func (c *Cgroup) Path() string {
	b, err := json.Marshal(saved{Name: c.name, Paths: c.paths})
	if err != nil {
		panic(err) // a string and a map of strings always marshal
	}
	return string(b)
}

// Add moves process pid into the cgroup in every hierarchy. Threads and
// children it creates afterwards are in it too.
func (c *Cgroup) Add(pid int) error {
	if err := c.mgr.AddPid("", pid); err != nil {
		return fmt.Errorf("cgroup %s: add process %d: %w", c.name, pid, err)
	}
	return nil
}

// Pids returns the host PIDs of the processes in the cgroup (and in any
// cgroups below it), in any hierarchy.
func (c *Cgroup) Pids() ([]int, error) {
	pids, err := c.allPids()
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: list processes: %w", c.name, err)
	}
	return pids, nil
}

func (c *Cgroup) allPids() ([]int, error) {
	var pids []int
	for _, dir := range c.dirs() {
		p, err := cgroups.GetAllPids(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		pids = append(pids, p...)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// dirs returns the distinct directories of the cgroup (co-mounted v1
// controllers share one).
func (c *Cgroup) dirs() []string {
	d := slices.Sorted(maps.Values(c.paths))
	return slices.Compact(d)
}

// Destroy kills (SIGKILL) every process still in the cgroup, waits until they
// are gone (at most 10s), and removes the cgroup's directories in every
// hierarchy. A cgroup that is already gone is not an error.
func (c *Cgroup) Destroy() error {
	// Freezing first (best effort; as runc does) keeps processes from forking
	// new ones between listing and killing. Killed processes only die once
	// thawed, so thaw right after the first round of kills.
	frozen := c.mgr.Freeze(cgroups.Frozen) == nil
	thaw := func() {
		if frozen {
			_ = c.mgr.Freeze(cgroups.Thawed)
			frozen = false
		}
	}
	defer thaw()
	deadline := time.Now().Add(destroyTimeout)
	for {
		pids, err := c.allPids()
		if err != nil {
			return fmt.Errorf("cgroup %s: destroy: list processes: %w", c.name, err)
		}
		if len(pids) == 0 {
			break
		}
		if slices.Contains(pids, os.Getpid()) {
			return fmt.Errorf("cgroup %s: destroy: the calling process (%d) is in it", c.name, os.Getpid())
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
				return fmt.Errorf("cgroup %s: destroy: kill %d: %w", c.name, pid, err)
			}
		}
		thaw()
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: destroy: processes %v still there %v after SIGKILL", c.name, pids, destroyTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	thaw()
	// RemovePaths forgets the paths it removed; keep ours for Path and retries.
	if err := cgroups.RemovePaths(maps.Clone(c.paths)); err != nil {
		return fmt.Errorf("cgroup %s: destroy: %w", c.name, err)
	}
	return nil
}

// Update applies r to the cgroup; settings r does not name are left as they
// are. A nil r does nothing.
func (c *Cgroup) Update(r *specs.LinuxResources) error {
	settings, err := convert(r, c.v2)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", c.name, err)
	}
	return c.apply(settings)
}

func (c *Cgroup) apply(settings []setting) error {
	for _, s := range settings {
		if why := c.unavailable(s); why != "" {
			if s.bestEffort {
				Warnf("cgroup %s: %s ignored: not available on this host: %s", c.name, s.field, why)
				continue
			}
			return fmt.Errorf("cgroup %s: %s: not available on this host: %s", c.name, s.field, why)
		}
		res := s.res
		if err := c.mgr.Set(&res); err != nil {
			return fmt.Errorf("cgroup %s: %s: %w", c.name, s.field, err)
		}
	}
	return nil
}

// unavailable says why the cgroup lacks a file s needs, or returns "" if it
// has them all. Checking first gives a clearer error than the library's
// failed write, and lets best-effort settings be skipped.
func (c *Cgroup) unavailable(s setting) string {
	dir := c.paths[""]
	if !c.v2 {
		dir = c.paths[s.ctrl]
		if dir == "" {
			return fmt.Sprintf("no %s hierarchy is mounted", s.ctrl)
		}
	}
	for _, knob := range s.knobs {
		alts := strings.Split(knob, "|")
		if !slices.ContainsFunc(alts, func(f string) bool { return cgroups.PathExists(filepath.Join(dir, f)) }) {
			return fmt.Sprintf("no %s in %s", strings.Join(alts, " or "), dir)
		}
	}
	return ""
}

// cleanPath validates linux.cgroupsPath and returns it cleaned, or the default
// for id if it is empty.
func cleanPath(path, id string) (string, error) {
	if path == "" {
		if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
			return "", fmt.Errorf("cgroup: bad container id %q for the default cgroup path", id)
		}
		return DefaultParent + "/" + id, nil
	}
	if slices.Contains(strings.Split(path, "/"), "..") {
		return "", fmt.Errorf("cgroup: path %q must not contain \"..\"", path)
	}
	p := filepath.Clean(path)
	if p == "/" || p == "." {
		return "", fmt.Errorf("cgroup: path %q names an existing cgroup (a hierarchy's root or the caller's own); the sandbox needs one of its own", path)
	}
	return p, nil
}

// systemdError explains why a systemd cgroup path cannot be used.
func systemdError(path string) error {
	if fi, err := os.Stat(systemdRunDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("cgroup %q: the systemd cgroup driver needs systemd, which is not running on this host (no %s); use a cgroupfs path without --systemd-cgroup", path, systemdRunDir)
	}
	return fmt.Errorf("cgroup %q: the systemd cgroup driver is not supported yet; use a cgroupfs path without --systemd-cgroup", path)
}

// checkSavedDir refuses a saved directory that Destroy must not empty and
// remove: anything but a cgroup below a hierarchy's root. A directory that
// is gone is fine: there is nothing left to kill or remove.
func checkSavedDir(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return errors.New("not a clean absolute path")
	}
	var fst unix.Statfs_t
	if err := unix.Statfs(p, &fst); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	if fst.Type != unix.CGROUP_SUPER_MAGIC && fst.Type != unix.CGROUP2_SUPER_MAGIC {
		return errors.New("not in a cgroup file system")
	}
	var st, parent unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if err := unix.Stat(filepath.Dir(p), &parent); err != nil {
		return err
	}
	if st.Dev != parent.Dev {
		return errors.New("the root of a hierarchy")
	}
	return nil
}

// MemoryDir is the cgroup's directory in the memory hierarchy (on v2 its
// only one) and whether that is cgroup v2, for watching OOM kills.
func (c *Cgroup) MemoryDir() (dir string, v2 bool) {
	if c.v2 {
		return c.paths[""], true
	}
	return c.paths["memory"], false
}
