package kernel

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Credentials are a task's identity and privilege, as credentials(7) and
// capabilities(7) describe them: user and group ids, supplementary
// groups, the five capability sets, securebits and no_new_privs (which
// Linux keeps in the task rather than its cred; it is here because it,
// too, only ever passes from parent to child and through execve).
//
// A Credentials value is immutable once a task uses it: every change
// makes a new one (as Linux's prepare_creds/commit_creds do), so other
// tasks (kill(2), capget(2), /proc) can read a task's credentials without
// locking.
type Credentials struct {
	UID, EUID, SUID, FSUID uint32
	GID, EGID, SGID, FSGID uint32
	Groups                 []uint32

	CapabilitySets
	SecureBits uint32
	NoNewPrivs bool

	// UserNS is the user namespace the ids are mapped through and the
	// capabilities count in; nil is the initial one (see userns.go).
	// The ids above are kernel ids, whatever the namespace.
	UserNS *UserNamespace
}

// NewCredentials returns the credentials of a process running as uid and
// gid with the given supplementary groups and the default capabilities
// of a Linux process that no one confined: root holds every capability
// in its permitted, effective and bounding sets; anyone else holds none,
// but keeps the full bounding set.
func NewCredentials(uid, gid uint32, groups []uint32) *Credentials {
	c := &Credentials{
		UID: uid, EUID: uid, SUID: uid, FSUID: uid,
		GID: gid, EGID: gid, SGID: gid, FSGID: gid,
		Groups: sortedGroups(groups),
	}
	c.Bounding = AllCaps
	if uid == 0 {
		c.Permitted, c.Effective = AllCaps, AllCaps
	}
	return c
}

// WithCapabilities returns a copy of c holding exactly the capability
// sets s (a container's process.capabilities). Like capset(2), it refuses
// effective or ambient capabilities outside permitted (and ambient ones
// outside inheritable).
func (c *Credentials) WithCapabilities(s CapabilitySets) (*Credentials, error) {
	s.Effective &= AllCaps
	s.Permitted &= AllCaps
	s.Inheritable &= AllCaps
	s.Bounding &= AllCaps
	s.Ambient &= AllCaps
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	n := c.copy()
	n.CapabilitySets = s
	return n, nil
}

// WithNoNewPrivs returns a copy of c with no_new_privs set.
func (c *Credentials) WithNoNewPrivs() *Credentials {
	n := c.copy()
	n.NoNewPrivs = true
	return n
}

func (c *Credentials) copy() *Credentials {
	n := *c
	return &n
}

// HasCapability reports whether c's effective set holds capability cp in
// c's own user namespace (Linux's ns_capable(current_user_ns(), cp), which
// is capable(cp) in the initial namespace). Checks on objects that belong
// to a namespace (host names, IPC, mounts) ask HasCapabilityIn with the
// namespace's owner instead. The capabilities Linux only ever checks in
// the initial namespace (capable(): loading modules, the clock, device
// nodes, locking memory, resource limits, ...) never count in a child
// user namespace. File permission checks count a child namespace's
// capabilities whatever the file's owner (Linux also wants the owner
// mapped in the namespace: capable_wrt_inode_uidgid).
func (c *Credentials) HasCapability(cp int) bool {
	if c.UserNS != nil && initOnlyCaps.Has(cp) {
		return false
	}
	return c.Effective.Has(cp)
}

// initOnlyCaps are the capabilities Linux checks with capable(), in the
// initial user namespace only; and CAP_SYS_PTRACE and CAP_SYS_NICE, which
// Linux checks in the target process's namespace where a target is
// involved (ptrace access, another thread's nice value or affinity: those
// checks use HasCapabilityIn with the target's namespace) and with
// capable() elsewhere (real-time policies, raising one's own priority).
var initOnlyCaps = CapSetOf(unix.CAP_SYS_MODULE, unix.CAP_SYS_RAWIO, unix.CAP_SYS_PACCT,
	unix.CAP_SYS_BOOT, unix.CAP_SYS_TIME, unix.CAP_SYS_TTY_CONFIG, unix.CAP_MKNOD,
	unix.CAP_LINUX_IMMUTABLE, unix.CAP_AUDIT_CONTROL, unix.CAP_AUDIT_WRITE, unix.CAP_AUDIT_READ,
	unix.CAP_MAC_ADMIN, unix.CAP_MAC_OVERRIDE, unix.CAP_SYSLOG, unix.CAP_WAKE_ALARM,
	unix.CAP_BLOCK_SUSPEND, unix.CAP_SYS_RESOURCE, unix.CAP_IPC_LOCK, unix.CAP_BPF, unix.CAP_PERFMON,
	unix.CAP_SYS_PTRACE, unix.CAP_SYS_NICE)

// rootUID is the kernel id of uid 0 in c's user namespace, noID if
// unmapped (Linux's make_kuid(ns, 0)): capabilities(7)'s rules for "root"
// mean that id.
func (c *Credentials) rootUID() uint32 {
	if c.UserNS == nil {
		return 0
	}
	if k, ok := c.UserNS.MapUID(0); ok {
		return k
	}
	return noID
}

// InGroup reports whether gid is c's filesystem gid or a supplementary
// group (Linux's in_group_p).
func (c *Credentials) InGroup(gid uint32) bool {
	if c.FSGID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// AccessCredentials returns the credentials access(2) checks with (the
// fsuid-relative variant of c): the real uid and gid stand in for the
// filesystem ones and, unless SECBIT_NO_SETUID_FIXUP, the effective
// capabilities become the permitted ones for a real uid of 0 and none
// otherwise (access(2) NOTES; Linux's access_override_creds).
func (c *Credentials) AccessCredentials() *Credentials {
	n := c.copy()
	n.FSUID, n.FSGID = c.UID, c.GID
	if c.SecureBits&SecbitNoSetuidFixup == 0 {
		if c.UID == c.rootUID() {
			n.Effective = c.Permitted
		} else {
			n.Effective = 0
		}
	}
	return n
}

// noID is (uid_t)-1: "leave unchanged" for setreuid(2) and setresuid(2),
// and invalid as an id of its own.
const noID = ^uint32(0)

// SetUID implements setuid(2): with CAP_SETUID all of the real, effective
// and saved ids change; without it only the effective one may become the
// real or saved uid.
func (c *Credentials) SetUID(uid uint32) (*Credentials, error) {
	if uid == noID {
		return nil, unix.EINVAL
	}
	n := c.copy()
	if c.HasCapability(unix.CAP_SETUID) {
		n.UID, n.SUID = uid, uid
	} else if uid != c.UID && uid != c.SUID {
		return nil, unix.EPERM
	}
	n.EUID, n.FSUID = uid, uid
	n.fixSetuid(c)
	return n, nil
}

// SetREUID implements setreuid(2): without CAP_SETUID the real uid may
// become the real or effective one and the effective uid any of the
// three. The saved uid follows the effective one when the real uid is set
// or the effective one set to something other than the old real uid.
func (c *Credentials) SetREUID(r, e uint32) (*Credentials, error) {
	priv := c.HasCapability(unix.CAP_SETUID)
	n := c.copy()
	if r != noID {
		if r != c.UID && r != c.EUID && !priv {
			return nil, unix.EPERM
		}
		n.UID = r
	}
	if e != noID {
		if e != c.UID && e != c.EUID && e != c.SUID && !priv {
			return nil, unix.EPERM
		}
		n.EUID = e
	}
	if r != noID || (e != noID && e != c.UID) {
		n.SUID = n.EUID
	}
	n.FSUID = n.EUID
	n.fixSetuid(c)
	return n, nil
}

// SetRESUID implements setresuid(2): without CAP_SETUID each new id must
// be one of the current real, effective or saved uids.
func (c *Credentials) SetRESUID(r, e, s uint32) (*Credentials, error) {
	priv := c.HasCapability(unix.CAP_SETUID)
	ok := func(id uint32) bool { return id == noID || priv || id == c.UID || id == c.EUID || id == c.SUID }
	if !ok(r) || !ok(e) || !ok(s) {
		return nil, unix.EPERM
	}
	n := c.copy()
	setIfGiven(&n.UID, r)
	setIfGiven(&n.EUID, e)
	setIfGiven(&n.SUID, s)
	n.FSUID = n.EUID
	n.fixSetuid(c)
	return n, nil
}

// SetFSUID implements setfsuid(2), which never fails: it returns the
// credentials to use (c itself when nothing changes) and the old fsuid.
// Without CAP_SETUID the fsuid may only become the real, effective, saved
// or current fsuid.
func (c *Credentials) SetFSUID(uid uint32) (*Credentials, uint32) {
	old := c.FSUID
	if uid == noID || uid == c.FSUID {
		return c, old
	}
	if uid != c.UID && uid != c.EUID && uid != c.SUID && !c.HasCapability(unix.CAP_SETUID) {
		return c, old
	}
	n := c.copy()
	n.FSUID = uid
	n.fixSetfsuid(c)
	return n, old
}

// SetGID implements setgid(2) (CAP_SETGID, else the effective gid may
// become the real or saved one). Group changes never touch capabilities.
func (c *Credentials) SetGID(gid uint32) (*Credentials, error) {
	if gid == noID {
		return nil, unix.EINVAL
	}
	n := c.copy()
	if c.HasCapability(unix.CAP_SETGID) {
		n.GID, n.SGID = gid, gid
	} else if gid != c.GID && gid != c.SGID {
		return nil, unix.EPERM
	}
	n.EGID, n.FSGID = gid, gid
	return n, nil
}

// SetREGID implements setregid(2), with setreuid's rules and CAP_SETGID.
func (c *Credentials) SetREGID(r, e uint32) (*Credentials, error) {
	priv := c.HasCapability(unix.CAP_SETGID)
	n := c.copy()
	if r != noID {
		if r != c.GID && r != c.EGID && !priv {
			return nil, unix.EPERM
		}
		n.GID = r
	}
	if e != noID {
		if e != c.GID && e != c.EGID && e != c.SGID && !priv {
			return nil, unix.EPERM
		}
		n.EGID = e
	}
	if r != noID || (e != noID && e != c.GID) {
		n.SGID = n.EGID
	}
	n.FSGID = n.EGID
	return n, nil
}

// SetRESGID implements setresgid(2), with setresuid's rules and
// CAP_SETGID.
func (c *Credentials) SetRESGID(r, e, s uint32) (*Credentials, error) {
	priv := c.HasCapability(unix.CAP_SETGID)
	ok := func(id uint32) bool { return id == noID || priv || id == c.GID || id == c.EGID || id == c.SGID }
	if !ok(r) || !ok(e) || !ok(s) {
		return nil, unix.EPERM
	}
	n := c.copy()
	setIfGiven(&n.GID, r)
	setIfGiven(&n.EGID, e)
	setIfGiven(&n.SGID, s)
	n.FSGID = n.EGID
	return n, nil
}

// SetFSGID implements setfsgid(2), with setfsuid's rules and CAP_SETGID.
func (c *Credentials) SetFSGID(gid uint32) (*Credentials, uint32) {
	old := c.FSGID
	if gid == noID || gid == c.FSGID {
		return c, old
	}
	if gid != c.GID && gid != c.EGID && gid != c.SGID && !c.HasCapability(unix.CAP_SETGID) {
		return c, old
	}
	n := c.copy()
	n.FSGID = gid
	return n, old
}

// SetGroups implements setgroups(2): it needs CAP_SETGID.
func (c *Credentials) SetGroups(groups []uint32) (*Credentials, error) {
	if !c.HasCapability(unix.CAP_SETGID) {
		return nil, unix.EPERM
	}
	n := c.copy()
	n.Groups = sortedGroups(groups)
	return n, nil
}

func setIfGiven(dst *uint32, id uint32) {
	if id != noID {
		*dst = id
	}
}

// fixSetuid adjusts n's capabilities after a change of the real,
// effective or saved uid from old, following capabilities(7) "Effect of
// user ID changes on capabilities" (Linux's cap_emulate_setxuid), unless
// SECBIT_NO_SETUID_FIXUP:
//   - when the ids held a 0 and now all are nonzero, permitted and
//     effective are cleared (unless SECBIT_KEEP_CAPS), and ambient always;
//   - when the effective uid leaves 0, effective is cleared;
//   - when the effective uid becomes 0, effective becomes permitted.
func (n *Credentials) fixSetuid(old *Credentials) {
	if old.SecureBits&SecbitNoSetuidFixup != 0 {
		return
	}
	r := old.rootUID()
	wasRoot := old.UID == r || old.EUID == r || old.SUID == r
	isRoot := n.UID == r || n.EUID == r || n.SUID == r
	if wasRoot && !isRoot {
		if old.SecureBits&SecbitKeepCaps == 0 {
			n.Permitted, n.Effective = 0, 0
		}
		n.Ambient = 0
	}
	if old.EUID == r && n.EUID != r {
		n.Effective = 0
	}
	if old.EUID != r && n.EUID == r {
		n.Effective = n.Permitted
	}
}

// fixSetfsuid adjusts the effective set after setfsuid(2): the file
// system capabilities leave it when the fsuid leaves 0 and come back from
// permitted when it returns to 0 (capabilities(7)).
func (n *Credentials) fixSetfsuid(old *Credentials) {
	if old.SecureBits&SecbitNoSetuidFixup != 0 {
		return
	}
	r := old.rootUID()
	if old.FSUID == r && n.FSUID != r {
		n.Effective &^= fsCaps
	}
	if old.FSUID != r && n.FSUID == r {
		n.Effective |= n.Permitted & fsCaps
	}
}

// ExecCredentials returns the credentials a task with c has after
// execve(2) of a file without capabilities (the Sentry honours neither
// file capabilities nor set-user-ID bits, as on a nosuid mount), and
// whether the exec is "secure" (AT_SECURE). capabilities(7),
// "Transformation of capabilities during execve()" and "Capabilities and
// execution of programs by root":
//
//	P'(ambient)     = P(ambient)
//	P'(permitted)   = (root ? P(inheritable) | P(bounding) : 0) | P'(ambient)
//	P'(effective)   = euid 0 ? P'(permitted) : P'(ambient)
//
// where root means a real or effective uid of 0 without SECBIT_NOROOT.
// With no_new_privs the exec may not add to the permitted set. The saved
// and filesystem ids become the effective ones and SECBIT_KEEP_CAPS is
// cleared.
func (c *Credentials) ExecCredentials() (*Credentials, bool) {
	n := c.copy()
	var permitted CapSet
	effective := false
	r := c.rootUID()
	if c.SecureBits&SecbitNoRoot == 0 {
		if c.UID == r || c.EUID == r {
			permitted = c.Bounding | c.Inheritable
		}
		effective = c.EUID == r
	}
	if c.NoNewPrivs && permitted&^c.Permitted != 0 {
		// Linux's "downgrade" for an exec that would gain capabilities
		// under no_new_privs (or an unsafe tracer, which the Sentry has
		// not).
		permitted &= c.Permitted
	}
	n.Permitted = permitted | c.Ambient
	if effective {
		n.Effective = n.Permitted
	} else {
		n.Effective = c.Ambient
	}
	n.SUID, n.FSUID = n.EUID, n.EUID
	n.SGID, n.FSGID = n.EGID, n.EGID
	n.SecureBits &^= SecbitKeepCaps
	secure := n.UID != r && (effective || n.Permitted&^n.Ambient != 0)
	return n, secure
}
