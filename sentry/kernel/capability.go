package kernel

import (
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/sys/unix"
)

// CapSet is a set of Linux capabilities: bit n is capability n (the
// CAP_* numbers of golang.org/x/sys/unix), as in the kernel's
// kernel_cap_t and the Cap* lines of /proc/PID/status.
type CapSet uint64

// LastCap is the highest capability the Sentry knows (PR_CAPBSET_READ of
// anything above gives EINVAL, as /proc/sys/kernel/cap_last_cap says).
const LastCap = unix.CAP_LAST_CAP

// AllCaps is every capability the Sentry knows.
const AllCaps CapSet = 1<<(LastCap+1) - 1

// fsCaps are the capabilities that follow the filesystem uid:
// capabilities(7) "Effect of user ID changes on capabilities" clears them
// from the effective set when the fsuid leaves 0 and restores them from
// the permitted set when it returns (Linux's CAP_FS_SET).
const fsCaps CapSet = 1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH |
	1<<unix.CAP_FOWNER | 1<<unix.CAP_FSETID | 1<<unix.CAP_LINUX_IMMUTABLE |
	1<<unix.CAP_MAC_OVERRIDE | 1<<unix.CAP_MKNOD

// CapSetOf returns the set holding caps.
func CapSetOf(caps ...int) CapSet {
	var s CapSet
	for _, c := range caps {
		s |= 1 << uint(c)
	}
	return s & AllCaps
}

// Has reports whether capability c is in s.
func (s CapSet) Has(c int) bool { return c >= 0 && c <= LastCap && s&(1<<uint(c)) != 0 }

// validCap is Linux's cap_valid for a prctl argument.
func validCap(c uint64) bool { return c <= LastCap }

// Names returns the names of the capabilities in s, in number order.
func (s CapSet) Names() []string {
	var out []string
	for v := uint64(s & AllCaps); v != 0; v &= v - 1 {
		out = append(out, capNames[bits.TrailingZeros64(v)])
	}
	return out
}

// capNames are the capability names, as OCI's process.capabilities and
// capabilities(7) spell them, indexed by number.
var capNames = [LastCap + 1]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

var capByName = func() map[string]int {
	m := make(map[string]int, len(capNames))
	for c, n := range capNames {
		m[n] = c
	}
	return m
}()

// CapabilityByName returns the number of the capability called name
// ("CAP_CHOWN"); an unknown name is an error that names it.
func CapabilityByName(name string) (int, error) {
	c, ok := capByName[name]
	if !ok {
		return 0, fmt.Errorf("unknown capability %q", name)
	}
	return c, nil
}

// CapSetFromNames returns the set of the named capabilities (an OCI
// capability list). An unknown name is an error naming it.
func CapSetFromNames(names []string) (CapSet, error) {
	var s CapSet
	for _, n := range names {
		c, err := CapabilityByName(n)
		if err != nil {
			return 0, err
		}
		s |= 1 << uint(c)
	}
	return s, nil
}

// CapabilitySets are a task's five capability sets (capabilities(7)
// "Thread capability sets").
type CapabilitySets struct {
	Effective, Permitted, Inheritable, Bounding, Ambient CapSet
}

// check enforces the invariants Linux keeps between the sets: effective
// and ambient within permitted, ambient within inheritable.
func (s CapabilitySets) check() error {
	if bad := s.Effective &^ s.Permitted; bad != 0 {
		return fmt.Errorf("effective capabilities %v are not permitted", bad.Names())
	}
	if bad := s.Ambient &^ (s.Permitted & s.Inheritable); bad != 0 {
		return fmt.Errorf("ambient capabilities %v are not both permitted and inheritable", bad.Names())
	}
	return nil
}

// sortedGroups returns a sorted copy of groups, as Linux keeps them
// (groups_sort), so getgroups(2) lists them in order.
func sortedGroups(groups []uint32) []uint32 {
	g := slices.Clone(groups)
	slices.Sort(g)
	return g
}

// Capset implements capset(2) on c (capabilities(7) "Programmatically
// adjusting capability sets"): the new permitted set must be within the
// old one, effective within the new permitted, and inheritable within
// the old inheritable plus the bounding set and, without CAP_SETPCAP,
// the old permitted set. Ambient capabilities no longer both permitted
// and inheritable are dropped. Capabilities above LastCap are ignored.
func (c *Credentials) Capset(effective, permitted, inheritable CapSet) (*Credentials, error) {
	effective, permitted, inheritable = effective&AllCaps, permitted&AllCaps, inheritable&AllCaps
	if !c.HasCapability(unix.CAP_SETPCAP) && inheritable&^(c.Inheritable|c.Permitted) != 0 {
		return nil, unix.EPERM
	}
	if inheritable&^(c.Inheritable|c.Bounding) != 0 {
		return nil, unix.EPERM
	}
	if permitted&^c.Permitted != 0 || effective&^permitted != 0 {
		return nil, unix.EPERM
	}
	n := c.copy()
	n.Effective, n.Permitted, n.Inheritable = effective, permitted, inheritable
	n.Ambient &= permitted & inheritable
	return n, nil
}

// DropBounding implements prctl(PR_CAPBSET_DROP): removing cp from the
// bounding set needs CAP_SETPCAP (EPERM, checked first as Linux does);
// an unknown capability is EINVAL.
func (c *Credentials) DropBounding(cp uint64) (*Credentials, error) {
	if !c.HasCapability(unix.CAP_SETPCAP) {
		return nil, unix.EPERM
	}
	if !validCap(cp) {
		return nil, unix.EINVAL
	}
	n := c.copy()
	n.Bounding &^= 1 << cp
	return n, nil
}

// RaiseAmbient implements PR_CAP_AMBIENT_RAISE: cp must be permitted and
// inheritable, and SECBIT_NO_CAP_AMBIENT_RAISE unset (EPERM).
func (c *Credentials) RaiseAmbient(cp uint64) (*Credentials, error) {
	if !validCap(cp) {
		return nil, unix.EINVAL
	}
	if !c.Permitted.Has(int(cp)) || !c.Inheritable.Has(int(cp)) || c.SecureBits&SecbitNoCapAmbientRaise != 0 {
		return nil, unix.EPERM
	}
	n := c.copy()
	n.Ambient |= 1 << cp
	return n, nil
}

// LowerAmbient implements PR_CAP_AMBIENT_LOWER.
func (c *Credentials) LowerAmbient(cp uint64) (*Credentials, error) {
	if !validCap(cp) {
		return nil, unix.EINVAL
	}
	n := c.copy()
	n.Ambient &^= 1 << cp
	return n, nil
}

// ClearAmbient implements PR_CAP_AMBIENT_CLEAR_ALL.
func (c *Credentials) ClearAmbient() *Credentials {
	n := c.copy()
	n.Ambient = 0
	return n
}

// SetKeepCaps implements PR_SET_KEEPCAPS: it sets or clears
// SECBIT_KEEP_CAPS (EINVAL for a value other than 0 or 1, EPERM when
// SECBIT_KEEP_CAPS_LOCKED is set).
func (c *Credentials) SetKeepCaps(v uint64) (*Credentials, error) {
	if v > 1 {
		return nil, unix.EINVAL
	}
	if c.SecureBits&SecbitKeepCapsLocked != 0 {
		return nil, unix.EPERM
	}
	n := c.copy()
	if v == 1 {
		n.SecureBits |= SecbitKeepCaps
	} else {
		n.SecureBits &^= SecbitKeepCaps
	}
	return n, nil
}

// SetSecureBits implements PR_SET_SECUREBITS. As in Linux, every failure
// is EPERM: changing a locked bit, clearing a lock, setting a bit Linux
// 6.1 does not define, or lacking CAP_SETPCAP.
func (c *Credentials) SetSecureBits(v uint64) (*Credentials, error) {
	old := uint64(c.SecureBits)
	locked := (old & secbitsLocks) >> 1
	switch {
	case locked&(old^v) != 0, old&secbitsLocks&^v != 0, v&^(secbitsBase|secbitsLocks) != 0,
		!c.HasCapability(unix.CAP_SETPCAP):
		return nil, unix.EPERM
	}
	n := c.copy()
	n.SecureBits = uint32(v)
	return n, nil
}
