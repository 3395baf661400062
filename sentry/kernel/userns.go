package kernel

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// UserNamespace is a user namespace (user_namespaces(7)): a mapping of
// user and group ids to those of its parent, and the scope of the
// capabilities of the processes in it.
//
// Credentials hold kernel ids, the ids of the sandbox's initial user
// namespace, as Linux's kuid_t does; the system call layer maps the ids
// a process passes and sees through its user namespace (MapUID...), and
// stores each map's lower ids already as kernel ids.
type UserNamespace struct {
	parent *UserNamespace
	level  int
	// owner and group are the effective ids of the creator (kernel ids).
	owner, group uint32
	ino          uint64

	mu               sync.Mutex
	uidMap, gidMap   []IDMapEntry
	setgroupsAllowed bool
	setgroupsFixed   bool // gid_map written: setgroups cannot change
}

// IDMapEntry is one line of uid_map or gid_map: Count ids from First in
// the namespace are Lower... in the parent (Lower as a kernel id).
type IDMapEntry struct {
	First, Lower, Count uint32
}

// RootUserNamespace is the sandbox's initial user namespace: every id
// maps to itself. It is immutable, so every kernel shares it.
var RootUserNamespace = &UserNamespace{ino: userInitIno, setgroupsAllowed: true,
	uidMap: []IDMapEntry{{0, 0, ^uint32(0)}}, gidMap: []IDMapEntry{{0, 0, ^uint32(0)}}}

// overflowID is what unmapped ids read as (/proc/sys/kernel/overflowuid).
const overflowID = 65534

// maxUserNSLevel is Linux's nesting limit (32 levels below the initial).
const maxUserNSLevel = 32

// Type implements Namespace.
func (u *UserNamespace) Type() int { return unix.CLONE_NEWUSER }

// Inode implements Namespace.
func (u *UserNamespace) Inode() uint64 { return u.ino }

// Owner implements Namespace: a user namespace's owner is its parent.
func (u *UserNamespace) Owner() *UserNamespace { return u.parent }

// Parent returns the parent namespace (nil for the initial one).
func (u *UserNamespace) Parent() *UserNamespace { return u.parent }

// IsRoot reports whether u is the initial user namespace.
func (u *UserNamespace) IsRoot() bool { return u.parent == nil }

func mapDown(m []IDMapEntry, id uint32) (uint32, bool) {
	for _, e := range m {
		if id >= e.First && id-e.First < e.Count {
			return e.Lower + (id - e.First), true
		}
	}
	return 0, false
}

func mapUp(m []IDMapEntry, kid uint32) (uint32, bool) {
	for _, e := range m {
		if kid >= e.Lower && kid-e.Lower < e.Count {
			return e.First + (kid - e.Lower), true
		}
	}
	return 0, false
}

// MapUID returns the kernel id of uid as u sees it (make_kuid); false
// when unmapped.
func (u *UserNamespace) MapUID(uid uint32) (uint32, bool) {
	if uid == noID {
		return noID, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return mapDown(u.uidMap, uid)
}

// MapGID is MapUID for groups.
func (u *UserNamespace) MapGID(gid uint32) (uint32, bool) {
	if gid == noID {
		return noID, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return mapDown(u.gidMap, gid)
}

// UIDOf returns how u sees kernel uid kuid (from_kuid); false when it is
// not mapped.
func (u *UserNamespace) UIDOf(kuid uint32) (uint32, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return mapUp(u.uidMap, kuid)
}

// GIDOf is UIDOf for groups.
func (u *UserNamespace) GIDOf(kgid uint32) (uint32, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return mapUp(u.gidMap, kgid)
}

// ViewUID is from_kuid_munged: unmapped ids read as the overflow uid.
func (u *UserNamespace) ViewUID(kuid uint32) uint32 {
	if id, ok := u.UIDOf(kuid); ok {
		return id
	}
	return overflowID
}

// ViewGID is from_kgid_munged.
func (u *UserNamespace) ViewGID(kgid uint32) uint32 {
	if id, ok := u.GIDOf(kgid); ok {
		return id
	}
	return overflowID
}

// IsAncestorOf reports whether u is o or one of o's ancestors.
func (u *UserNamespace) IsAncestorOf(o *UserNamespace) bool {
	for ; o != nil; o = o.parent {
		if o == u {
			return true
		}
	}
	return false
}

// UserNamespace returns the user namespace c belongs to.
func (c *Credentials) UserNamespace() *UserNamespace {
	if c.UserNS == nil {
		return RootUserNamespace
	}
	return c.UserNS
}

// HasCapabilityIn reports whether c has capability cp in user namespace
// ns (Linux's cap_capable): its effective set counts in its own namespace
// and the namespaces below it; a process is also all-powerful in the
// namespaces that it, by its effective uid, owns below its own.
// ns == nil means the initial user namespace.
func (c *Credentials) HasCapabilityIn(cp int, ns *UserNamespace) bool {
	if ns == nil {
		ns = RootUserNamespace
	}
	own := c.UserNamespace()
	for {
		if ns == own {
			return c.Effective.Has(cp)
		}
		if ns.level <= own.level {
			return false
		}
		if ns.parent == own && ns.owner == c.EUID {
			return true
		}
		ns = ns.parent
	}
}

// NewUserNamespace makes a child user namespace of c's, owned by c's
// effective ids (unshare(CLONE_NEWUSER)), and returns c moved into it
// with every capability there (Linux's set_cred_user_ns). Nesting stops
// at 32 levels (EUSERS); a process in a chroot may not make one (EPERM,
// checked by the caller).
func (c *Credentials) NewUserNamespace() (*Credentials, error) {
	parent := c.UserNamespace()
	if parent.level >= maxUserNSLevel {
		return nil, unix.EUSERS
	}
	// The owner's ids must be mapped in the parent (they always are for
	// a process of the parent).
	ns := &UserNamespace{parent: parent, level: parent.level + 1, owner: c.EUID, group: c.EGID,
		ino: newNSIno(), setgroupsAllowed: parent.SetgroupsAllowed()}
	n := c.copy()
	n.UserNS = ns
	n.SecureBits = 0
	n.Inheritable, n.Ambient = 0, 0
	n.Permitted, n.Effective, n.Bounding = AllCaps, AllCaps, AllCaps
	return n, nil
}

// EnterUserNamespace returns c moved into ns (setns(2) of a user
// namespace): full capabilities there, as for a new one.
func (c *Credentials) EnterUserNamespace(ns *UserNamespace) *Credentials {
	n := c.copy()
	n.UserNS = ns
	n.SecureBits = 0
	n.Inheritable, n.Ambient = 0, 0
	n.Permitted, n.Effective, n.Bounding = AllCaps, AllCaps, AllCaps
	return n
}

// SetgroupsAllowed reports whether setgroups(2) may be used in u (and so
// /proc/PID/setgroups reads "allow").
func (u *UserNamespace) SetgroupsAllowed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.setgroupsAllowed
}

// gidMapped reports whether u's gid_map was written.
func (u *UserNamespace) gidMapped() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gidMap != nil
}

// MapText renders uid_map (gid false) or gid_map as a reader in user
// namespace reader sees it: lower ids in the reader's terms, or the
// parent's when the reader is in u itself (uid_m_show).
func (u *UserNamespace) MapText(gid bool, reader *UserNamespace) string {
	u.mu.Lock()
	m := u.uidMap
	if gid {
		m = u.gidMap
	}
	m = append([]IDMapEntry(nil), m...)
	u.mu.Unlock()
	lowerNS := reader
	if lowerNS == u && u.parent != nil {
		lowerNS = u.parent
	}
	var b strings.Builder
	for _, e := range m {
		lower, ok := e.Lower, true
		if gid {
			lower, ok = lowerNS.GIDOf(e.Lower)
		} else {
			lower, ok = lowerNS.UIDOf(e.Lower)
		}
		if !ok {
			lower = noID
		}
		fmt.Fprintf(&b, "%10d %10d %10d\n", e.First, lower, e.Count)
	}
	return b.String()
}

// SetgroupsText is /proc/PID/setgroups.
func (u *UserNamespace) SetgroupsText() string {
	if u.SetgroupsAllowed() {
		return "allow\n"
	}
	return "deny\n"
}

// WriteSetgroups implements a write of "allow" or "deny" to
// /proc/PID/setgroups (user_namespaces(7)): only before gid_map is
// written (EPERM), and "allow" only if the parent allows (EPERM).
func (u *UserNamespace) WriteSetgroups(data string) error {
	v := strings.TrimSpace(data)
	if v != "allow" && v != "deny" {
		return unix.EINVAL
	}
	if u.parent == nil {
		return unix.EPERM
	}
	parentAllows := u.parent.SetgroupsAllowed()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gidMap != nil || u.setgroupsFixed {
		return unix.EPERM
	}
	if v == "allow" {
		if !parentAllows {
			return unix.EPERM
		}
		u.setgroupsAllowed = true
	} else {
		u.setgroupsAllowed = false
	}
	return nil
}

// WriteMap implements a write to /proc/PID/uid_map (gid false) or gid_map
// of u by a writer with credentials w, whose user namespace is writerNS
// (the opener's, which Linux checks too; here they are the same),
// following user_namespaces(7) "Defining user and group ID mappings":
//   - the map can be written once (EPERM after), in one write of at most
//     340 lines "ID-inside ID-outside length" (EINVAL when malformed,
//     empty, overlapping or overflowing);
//   - the writer must have CAP_SETUID (CAP_SETGID) in u, and be in u or
//     its parent (EPERM);
//   - a writer without that capability in the parent may map only its
//     own effective id, one id (for gid_map only after setgroups was
//     denied, unless it has CAP_SETGID in the parent);
//   - every outside id must be mapped in the parent (EPERM).
func (u *UserNamespace) WriteMap(w *Credentials, gid bool, data string) error {
	if u.parent == nil {
		return unix.EPERM // the initial maps are fixed
	}
	wns := w.UserNamespace()
	if wns != u && wns != u.parent {
		return unix.EPERM
	}
	cap := unix.CAP_SETUID
	if gid {
		cap = unix.CAP_SETGID
	}
	if !w.HasCapabilityIn(cap, u) {
		return unix.EPERM
	}
	entries, err := parseIDMap(data)
	if err != nil {
		return err
	}
	// Outside ids are in the terms of the opener's namespace: the parent,
	// or for a writer inside u its parent too (map_write uses the
	// parent's mapping either way).
	lowerNS := u.parent
	privileged := w.HasCapabilityIn(cap, u.parent) && wns == u.parent
	if !privileged {
		if len(entries) != 1 || entries[0].Count != 1 {
			return unix.EPERM
		}
		e := entries[0]
		if gid {
			kg, ok := lowerNS.MapGID(e.Lower)
			if !ok || kg != w.EGID || u.SetgroupsAllowed() {
				return unix.EPERM
			}
		} else {
			ku, ok := lowerNS.MapUID(e.Lower)
			if !ok || ku != w.EUID {
				return unix.EPERM
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		// The whole range must map to kernel ids contiguously: check each
		// end through the parent and that the parent maps it in one piece.
		var first, last uint32
		var ok1, ok2 bool
		if gid {
			first, ok1 = lowerNS.MapGID(e.Lower)
			last, ok2 = lowerNS.MapGID(e.Lower + e.Count - 1)
		} else {
			first, ok1 = lowerNS.MapUID(e.Lower)
			last, ok2 = lowerNS.MapUID(e.Lower + e.Count - 1)
		}
		if !ok1 || !ok2 || last-first != e.Count-1 {
			return unix.EPERM
		}
		e.Lower = first
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if gid {
		if u.gidMap != nil {
			return unix.EPERM
		}
		u.gidMap = entries
		u.setgroupsFixed = true
	} else {
		if u.uidMap != nil {
			return unix.EPERM
		}
		u.uidMap = entries
	}
	return nil
}

// parseIDMap parses a uid_map/gid_map write: lines of three numbers, at
// most 340 of them, ranges that neither wrap nor overlap inside or
// outside.
func parseIDMap(data string) ([]IDMapEntry, error) {
	if !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if len(lines) == 0 || len(lines) > 340 {
		return nil, unix.EINVAL
	}
	var out []IDMapEntry
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, unix.EINVAL
		}
		var v [3]uint32
		for i, s := range f {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, unix.EINVAL
			}
			v[i] = uint32(n)
		}
		e := IDMapEntry{First: v[0], Lower: v[1], Count: v[2]}
		if e.Count == 0 || uint64(e.First)+uint64(e.Count) > 1<<32-1 || uint64(e.Lower)+uint64(e.Count) > 1<<32-1 {
			return nil, unix.EINVAL
		}
		for _, o := range out {
			if e.First < o.First+o.Count && o.First < e.First+e.Count ||
				e.Lower < o.Lower+o.Count && o.Lower < e.Lower+e.Count {
				return nil, unix.EINVAL
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// MaySetgroups reports whether setgroups(2) may work in u: always in the
// initial namespace; in another once gid_map is written, unless
// setgroups was denied (userns_may_setgroups).
func (u *UserNamespace) MaySetgroups() bool {
	if u.parent == nil {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gidMap != nil && u.setgroupsAllowed
}

// Namespaced implements vfs.InodeCapable: t's capabilities count over a
// file only if its user namespace maps the file's owner and group.
func (t *Task) Namespaced() bool { return t.Credentials().UserNS != nil }

// Maps implements vfs.InodeCapable.
func (t *Task) Maps(uid, gid uint32) bool {
	ns := t.UserNamespace()
	_, u := ns.UIDOf(uid)
	_, g := ns.GIDOf(gid)
	return u && g
}
