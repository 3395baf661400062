package kernel

import (
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// HasCapability reports whether t's effective set holds capability cp
// (Linux's capable()): the one question the rest of the Sentry asks
// instead of "is the euid 0". It implements vfs.Capable, so file checks
// use it too; those see the effect of the fsuid on the effective set
// (setfsuid(2) drops and restores the file capabilities).
func (t *Task) HasCapability(cp int) bool { return t.Credentials().HasCapability(cp) }

// InGroup implements vfs.GroupMember: the fsgid or a supplementary group.
func (t *Task) InGroup(gid uint32) bool { return t.Credentials().InGroup(gid) }

// setCredentials installs c as t's credentials. Only t's own goroutine
// calls it (syscalls, exec), so there is no lost update.
func (t *Task) setCredentials(c *Credentials) { t.creds.Store(c) }

// update replaces t's credentials by f's result unless f fails.
func (t *Task) update(f func(c *Credentials) (*Credentials, error)) error {
	o := t.Credentials()
	n, err := f(o)
	if err != nil {
		return err
	}
	t.setCredentials(n)
	t.identityChanged(o, n)
	return nil
}

// identityChanged applies what Linux's commit_creds does when the
// effective or filesystem ids change: the process is no longer dumpable
// (fs.suid_dumpable is 0, so another user's ptrace and its /proc files
// are denied) and the parent-death signal is cleared (prctl(2)).
func (t *Task) identityChanged(o, n *Credentials) {
	if o.EUID == n.EUID && o.EGID == n.EGID && o.FSUID == n.FSUID && o.FSGID == n.FSGID {
		return
	}
	t.k.mu.Lock()
	t.tg.notDumpable = true
	t.pdeathSig = 0
	t.k.mu.Unlock()
}

// SetUID implements setuid(2) for t; see Credentials.SetUID.
func (t *Task) SetUID(uid uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetUID(uid) })
}

// SetREUID implements setreuid(2).
func (t *Task) SetREUID(r, e uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetREUID(r, e) })
}

// SetRESUID implements setresuid(2).
func (t *Task) SetRESUID(r, e, s uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetRESUID(r, e, s) })
}

// SetFSUID implements setfsuid(2) and returns the old fsuid.
func (t *Task) SetFSUID(uid uint32) uint32 {
	o := t.Credentials()
	n, old := o.SetFSUID(uid)
	t.setCredentials(n)
	t.identityChanged(o, n)
	return old
}

// SetGID implements setgid(2).
func (t *Task) SetGID(gid uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetGID(gid) })
}

// SetREGID implements setregid(2).
func (t *Task) SetREGID(r, e uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetREGID(r, e) })
}

// SetRESGID implements setresgid(2).
func (t *Task) SetRESGID(r, e, s uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetRESGID(r, e, s) })
}

// SetFSGID implements setfsgid(2) and returns the old fsgid.
func (t *Task) SetFSGID(gid uint32) uint32 {
	o := t.Credentials()
	n, old := o.SetFSGID(gid)
	t.setCredentials(n)
	t.identityChanged(o, n)
	return old
}

// SetGroups implements setgroups(2).
func (t *Task) SetGroups(groups []uint32) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetGroups(groups) })
}

// Capset implements capset(2) on t itself.
func (t *Task) Capset(effective, permitted, inheritable CapSet) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.Capset(effective, permitted, inheritable) })
}

// DropBoundingCapability implements prctl(PR_CAPBSET_DROP).
func (t *Task) DropBoundingCapability(cp uint64) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.DropBounding(cp) })
}

// Ambient operations of prctl(PR_CAP_AMBIENT).
const (
	AmbientIsSet    = unix.PR_CAP_AMBIENT_IS_SET
	AmbientRaise    = unix.PR_CAP_AMBIENT_RAISE
	AmbientLower    = unix.PR_CAP_AMBIENT_LOWER
	AmbientClearAll = unix.PR_CAP_AMBIENT_CLEAR_ALL
)

// AmbientCapability implements prctl(PR_CAP_AMBIENT, op, cp, arg4, arg5)
// (prctl(2)): it returns 1 or 0 for IS_SET and 0 for the others. Unused
// arguments must be zero (EINVAL), as must cp for CLEAR_ALL.
func (t *Task) AmbientCapability(op, cp, arg4, arg5 uint64) (uintptr, error) {
	if op == AmbientClearAll {
		if cp|arg4|arg5 != 0 {
			return 0, unix.EINVAL
		}
		t.setCredentials(t.Credentials().ClearAmbient())
		return 0, nil
	}
	if !validCap(cp) || arg4|arg5 != 0 {
		return 0, unix.EINVAL
	}
	switch op {
	case AmbientIsSet:
		if t.Credentials().Ambient.Has(int(cp)) {
			return 1, nil
		}
		return 0, nil
	case AmbientRaise:
		return 0, t.update(func(c *Credentials) (*Credentials, error) { return c.RaiseAmbient(cp) })
	case AmbientLower:
		return 0, t.update(func(c *Credentials) (*Credentials, error) { return c.LowerAmbient(cp) })
	}
	return 0, unix.EINVAL
}

// SetKeepCaps implements prctl(PR_SET_KEEPCAPS).
func (t *Task) SetKeepCaps(v uint64) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetKeepCaps(v) })
}

// SetSecureBits implements prctl(PR_SET_SECUREBITS).
func (t *Task) SetSecureBits(v uint64) error {
	return t.update(func(c *Credentials) (*Credentials, error) { return c.SetSecureBits(v) })
}

// SetNoNewPrivs implements prctl(PR_SET_NO_NEW_PRIVS, 1): it cannot be
// unset, and execve keeps it.
func (t *Task) SetNoNewPrivs() {
	if !t.Credentials().NoNewPrivs {
		t.setCredentials(t.Credentials().WithNoNewPrivs())
	}
}

// TaskCapabilities returns the effective, permitted and inheritable sets
// of the thread capget(2) names by tid (0: t itself), ESRCH if there is
// none.
func (t *Task) TaskCapabilities(tid ThreadID) (CapabilitySets, error) {
	target := t
	if tid != 0 {
		var err error
		if target, err = t.LookupTask(tid); err != nil {
			return CapabilitySets{}, err
		}
	}
	return target.Credentials().CapabilitySets, nil
}

// IsSelf reports whether tid names t (0 or its own thread id), the only
// target capset(2) accepts.
func (t *Task) IsSelf(tid ThreadID) bool { return tid == 0 || tid == t.TID() }

// MaySignal implements kill(2)'s permission check (Linux's
// check_kill_permission) of a signal from t to target: within a process
// always; otherwise the sender's real or effective uid must equal the
// target's real or saved uid, or the sender have CAP_KILL in the target's
// user namespace; SIGCONT within a session is always allowed. The answer
// is EPERM or nil.
func (t *Task) MaySignal(target *Task, sig unix.Signal) error {
	if target.tg == t.tg {
		return nil
	}
	c, tc := t.Credentials(), target.Credentials()
	if c.EUID == tc.SUID || c.EUID == tc.UID || c.UID == tc.SUID || c.UID == tc.UID ||
		c.HasCapabilityIn(unix.CAP_KILL, tc.UserNS) {
		return nil
	}
	if sig == unix.SIGCONT && target.tg.Session() == t.tg.Session() {
		return nil
	}
	return unix.EPERM
}

// MaySignalProcess is MaySignal for a process-directed signal: the
// process's credentials are its leader's.
func (t *Task) MaySignalProcess(tg *ThreadGroup, sig unix.Signal) error {
	t.k.mu.Lock()
	leader := tg.leader
	t.k.mu.Unlock()
	return t.MaySignal(leader, sig)
}

// MayPrlimit implements prlimit(2)'s permission check for reading or
// changing tg's limits (Linux's check_prlimit_permission): t's own process, or one
// whose real, effective and saved uids and gids all equal t's real ones,
// or CAP_SYS_RESOURCE.
func (t *Task) MayPrlimit(tg *ThreadGroup) error {
	if tg == t.tg {
		return nil
	}
	t.k.mu.Lock()
	leader := tg.leader
	t.k.mu.Unlock()
	c, tc := t.Credentials(), leader.Credentials()
	if c.UID == tc.UID && c.UID == tc.EUID && c.UID == tc.SUID &&
		c.GID == tc.GID && c.GID == tc.EGID && c.GID == tc.SGID {
		return nil
	}
	if c.HasCapability(unix.CAP_SYS_RESOURCE) {
		return nil
	}
	return unix.EPERM
}

// accessContext is t seen with the credentials access(2) checks with.
type accessContext struct {
	*Task
	c *Credentials
}

func (a accessContext) FSUID() uint32             { return a.c.FSUID }
func (a accessContext) FSGID() uint32             { return a.c.FSGID }
func (a accessContext) InGroup(gid uint32) bool   { return a.c.InGroup(gid) }
func (a accessContext) HasCapability(cp int) bool { return a.c.HasCapability(cp) }

// AccessContext returns t as a vfs.Context with the credentials access(2)
// and faccessat(2) without AT_EACCESS check with: the real ids and the
// capabilities that go with them (Credentials.AccessCredentials).
func (t *Task) AccessContext() vfs.Context {
	return accessContext{t, t.Credentials().AccessCredentials()}
}
