package kernel

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The tables below follow capabilities(7) ("Effect of user ID changes on
// capabilities", "Transformation of capabilities during execve()",
// "Capabilities and execution of programs by root") and credentials(7);
// tests/testdata/c/caps.c checks the same rules against Linux.

const (
	capKill   = unix.CAP_KILL
	capChown  = unix.CAP_CHOWN
	capNetRaw = unix.CAP_NET_RAW
)

func root() *Credentials { return NewCredentials(0, 0, nil) }

func user(uid uint32) *Credentials { return NewCredentials(uid, uid, nil) }

// with returns a copy of c changed by f.
func with(c *Credentials, f func(c *Credentials)) *Credentials {
	n := c.copy()
	f(n)
	return n
}

type ids struct{ r, e, s, fs uint32 }

func uids(c *Credentials) ids { return ids{c.UID, c.EUID, c.SUID, c.FSUID} }
func gids(c *Credentials) ids { return ids{c.GID, c.EGID, c.SGID, c.FSGID} }

func TestNewCredentials(t *testing.T) {
	r := root()
	if r.Effective != AllCaps || r.Permitted != AllCaps || r.Bounding != AllCaps || r.Inheritable != 0 || r.Ambient != 0 {
		t.Errorf("root: %+v, want E=P=B=all", r.CapabilitySets)
	}
	u := NewCredentials(1000, 100, []uint32{30, 10, 20})
	if u.Effective != 0 || u.Permitted != 0 || u.Bounding != AllCaps {
		t.Errorf("user: %+v, want no capabilities and the full bounding set", u.CapabilitySets)
	}
	if uids(u) != (ids{1000, 1000, 1000, 1000}) || gids(u) != (ids{100, 100, 100, 100}) {
		t.Errorf("user ids %v %v", uids(u), gids(u))
	}
	if g := u.Groups; len(g) != 3 || g[0] != 10 || g[2] != 30 {
		t.Errorf("groups %v, want sorted", g)
	}
	if AllCaps != 1<<41-1 {
		t.Errorf("AllCaps = %#x: x/sys/unix's CAP_LAST_CAP changed; check /proc status tests", AllCaps)
	}
}

func TestUIDChanges(t *testing.T) {
	keep := with(root(), func(c *Credentials) { c.SecureBits = SecbitKeepCaps })
	amb := with(root(), func(c *Credentials) { c.Inheritable = CapSetOf(capKill); c.Ambient = CapSetOf(capKill) })
	euid1000 := with(root(), func(c *Credentials) { c.EUID, c.FSUID, c.Effective = 1000, 1000, 0 })
	noSETUID := with(root(), func(c *Credentials) { c.Effective &^= CapSetOf(unix.CAP_SETUID) })
	for _, tc := range []struct {
		name    string
		c       *Credentials
		op      func(c *Credentials) (*Credentials, error)
		err     error
		ids     ids
		e, p, a CapSet
	}{
		// All of real, effective, saved leave 0: permitted, effective
		// and ambient are cleared...
		{"root setuid(1000)", root(), func(c *Credentials) (*Credentials, error) { return c.SetUID(1000) }, nil,
			ids{1000, 1000, 1000, 1000}, 0, 0, 0},
		{"root with ambient setuid(1000)", amb, func(c *Credentials) (*Credentials, error) { return c.SetUID(1000) }, nil,
			ids{1000, 1000, 1000, 1000}, 0, 0, 0},
		// ...unless SECBIT_KEEP_CAPS, which keeps permitted (not
		// effective: the euid left 0; not ambient).
		{"keepcaps setresuid(1000,1000,1000)", keep, func(c *Credentials) (*Credentials, error) { return c.SetRESUID(1000, 1000, 1000) }, nil,
			ids{1000, 1000, 1000, 1000}, 0, AllCaps, 0},
		{"keepcaps with ambient setuid(1000)", with(amb, func(c *Credentials) { c.SecureBits = SecbitKeepCaps }),
			func(c *Credentials) (*Credentials, error) { return c.SetUID(1000) }, nil,
			ids{1000, 1000, 1000, 1000}, 0, AllCaps, 0},
		// The euid leaves 0 (saved stays 0): effective cleared only.
		{"seteuid(1000)", root(), func(c *Credentials) (*Credentials, error) { return c.SetRESUID(noID, 1000, noID) }, nil,
			ids{0, 1000, 0, 1000}, 0, AllCaps, 0},
		{"setresuid(1000,1000,0)", root(), func(c *Credentials) (*Credentials, error) { return c.SetRESUID(1000, 1000, 0) }, nil,
			ids{1000, 1000, 0, 1000}, 0, AllCaps, 0},
		// The euid returns to 0: effective = permitted.
		{"seteuid(0) back", euid1000, func(c *Credentials) (*Credentials, error) { return c.SetRESUID(noID, 0, noID) }, nil,
			ids{0, 0, 0, 0}, AllCaps, AllCaps, 0},
		{"setreuid(-1,0) back", euid1000, func(c *Credentials) (*Credentials, error) { return c.SetREUID(noID, 0) }, nil,
			ids{0, 0, 0, 0}, AllCaps, AllCaps, 0},
		// SECBIT_NO_SETUID_FIXUP: capabilities stay.
		{"no_setuid_fixup setuid(1000)", with(root(), func(c *Credentials) { c.SecureBits = SecbitNoSetuidFixup }),
			func(c *Credentials) (*Credentials, error) { return c.SetUID(1000) }, nil,
			ids{1000, 1000, 1000, 1000}, AllCaps, AllCaps, 0},
		// Without CAP_SETUID, setuid only sets the euid, to the real or
		// saved uid.
		{"root without SETUID setuid(1000)", noSETUID, func(c *Credentials) (*Credentials, error) { return c.SetUID(1000) }, unix.EPERM,
			ids{}, 0, 0, 0},
		{"user setuid(0)", user(1000), func(c *Credentials) (*Credentials, error) { return c.SetUID(0) }, unix.EPERM,
			ids{}, 0, 0, 0},
		{"euid 1000 setuid(0) (the real uid)", with(euid1000, func(c *Credentials) { c.Permitted = 0 }),
			func(c *Credentials) (*Credentials, error) { return c.SetUID(0) }, nil,
			ids{0, 0, 0, 0}, 0, 0, 0},
		{"setuid(-1)", root(), func(c *Credentials) (*Credentials, error) { return c.SetUID(noID) }, unix.EINVAL,
			ids{}, 0, 0, 0},
		// setreuid: the real uid may become the effective one, not the
		// saved one; the saved uid follows the new euid when the real
		// uid is set.
		{"setreuid(saved,-1)", with(user(1000), func(c *Credentials) { c.EUID, c.SUID = 1001, 1002 }),
			func(c *Credentials) (*Credentials, error) { return c.SetREUID(1002, noID) }, unix.EPERM, ids{}, 0, 0, 0},
		{"setreuid(euid,-1)", with(user(1000), func(c *Credentials) { c.EUID, c.SUID = 1001, 1002 }),
			func(c *Credentials) (*Credentials, error) { return c.SetREUID(1001, noID) }, nil,
			ids{1001, 1001, 1001, 1001}, 0, 0, 0},
		{"setreuid(-1,saved)", with(user(1000), func(c *Credentials) { c.EUID, c.SUID = 1001, 1002 }),
			func(c *Credentials) (*Credentials, error) { return c.SetREUID(noID, 1002) }, nil,
			ids{1000, 1002, 1002, 1002}, 0, 0, 0},
		{"setreuid(-1,real) keeps saved", with(user(1000), func(c *Credentials) { c.EUID, c.SUID = 1001, 1002 }),
			func(c *Credentials) (*Credentials, error) { return c.SetREUID(noID, 1000) }, nil,
			ids{1000, 1000, 1002, 1000}, 0, 0, 0},
		{"user setresuid to a foreign id", user(1000), func(c *Credentials) (*Credentials, error) { return c.SetRESUID(noID, noID, 7) }, unix.EPERM,
			ids{}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			beforeIDs, beforeSets := uids(tc.c), tc.c.CapabilitySets
			n, err := tc.op(tc.c)
			if uids(tc.c) != beforeIDs || tc.c.CapabilitySets != beforeSets {
				t.Fatal("the old credentials were modified")
			}
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if uids(n) != tc.ids {
				t.Errorf("uids %v, want %v", uids(n), tc.ids)
			}
			if n.Effective != tc.e || n.Permitted != tc.p || n.Ambient != tc.a {
				t.Errorf("E=%#x P=%#x A=%#x, want E=%#x P=%#x A=%#x", n.Effective, n.Permitted, n.Ambient, tc.e, tc.p, tc.a)
			}
		})
	}
}

func TestSetFSUID(t *testing.T) {
	c, old := root().SetFSUID(1000)
	if old != 0 || c.FSUID != 1000 || uids(c) != (ids{0, 0, 0, 1000}) {
		t.Fatalf("setfsuid(1000): old %d, ids %v", old, uids(c))
	}
	// The file system capabilities leave the effective set...
	want := AllCaps &^ CapSetOf(unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER,
		unix.CAP_FSETID, unix.CAP_LINUX_IMMUTABLE, unix.CAP_MAC_OVERRIDE, unix.CAP_MKNOD)
	if c.Effective != want || c.Permitted != AllCaps {
		t.Errorf("after setfsuid(1000): E=%#x P=%#x, want E=%#x", c.Effective, c.Permitted, want)
	}
	// ... and come back from permitted (only those permitted).
	c = with(c, func(c *Credentials) { c.Permitted &^= CapSetOf(unix.CAP_FOWNER) })
	c, old = c.SetFSUID(0)
	if old != 1000 || c.FSUID != 0 || c.Effective != AllCaps&^CapSetOf(unix.CAP_FOWNER) {
		t.Errorf("setfsuid(0): old %d fsuid %d E=%#x", old, c.FSUID, c.Effective)
	}
	// -1 queries.
	if n, old := c.SetFSUID(noID); n != c || old != 0 {
		t.Errorf("setfsuid(-1) changed something or returned %d", old)
	}
	// Unprivileged: only to one of the ids; otherwise nothing changes
	// and the call still "succeeds".
	u := with(user(1000), func(c *Credentials) { c.SUID = 1002 })
	if n, old := u.SetFSUID(5); n != u || old != 1000 {
		t.Errorf("user setfsuid(5): changed (fsuid %d) or old %d", n.FSUID, old)
	}
	if n, _ := u.SetFSUID(1002); n.FSUID != 1002 {
		t.Errorf("user setfsuid(saved): fsuid %d", n.FSUID)
	}
	// Gids: no capability effects.
	g, old := root().SetFSGID(9)
	if old != 0 || g.FSGID != 9 || g.Effective != AllCaps {
		t.Errorf("setfsgid(9): old %d fsgid %d E=%#x", old, g.FSGID, g.Effective)
	}
}

func TestGIDChanges(t *testing.T) {
	c, err := root().SetGID(5)
	if err != nil || gids(c) != (ids{5, 5, 5, 5}) || c.Effective != AllCaps {
		t.Fatalf("root setgid(5): %v %v E=%#x", err, gids(c), c.Effective)
	}
	noSETGID := with(root(), func(c *Credentials) { c.Effective &^= CapSetOf(unix.CAP_SETGID) })
	if _, err := noSETGID.SetGID(5); err != unix.EPERM {
		t.Errorf("setgid without CAP_SETGID: %v, want EPERM", err)
	}
	if _, err := noSETGID.SetGroups([]uint32{1}); err != unix.EPERM {
		t.Errorf("setgroups without CAP_SETGID: %v, want EPERM", err)
	}
	if c, err := root().SetGroups([]uint32{7, 3}); err != nil || len(c.Groups) != 2 || c.Groups[0] != 3 {
		t.Errorf("setgroups: %v %v", err, c)
	}
	u := with(user(1000), func(c *Credentials) { c.EGID, c.SGID = 1001, 1002 })
	if c, err := u.SetREGID(1001, noID); err != nil || gids(c) != (ids{1001, 1001, 1001, 1001}) {
		t.Errorf("setregid(egid,-1): %v %v", err, gids(c))
	}
	if _, err := u.SetREGID(1002, noID); err != unix.EPERM {
		t.Errorf("setregid(sgid,-1): %v, want EPERM", err)
	}
	if c, err := u.SetRESGID(1002, 1000, 1001); err != nil || gids(c) != (ids{1002, 1000, 1001, 1000}) {
		t.Errorf("setresgid: %v %v", err, gids(c))
	}
	if _, err := u.SetGID(noID); err != unix.EINVAL {
		t.Errorf("setgid(-1): %v, want EINVAL", err)
	}
}

func TestExecCredentials(t *testing.T) {
	noKill := AllCaps &^ CapSetOf(capKill)
	for _, tc := range []struct {
		name       string
		c          *Credentials
		e, p, a    CapSet
		secure     bool
		wantSUID   uint32
		wantFSUID  uint32
		wantSecure uint32
	}{
		{"root", root(), AllCaps, AllCaps, 0, false, 0, 0, 0},
		// P'(permitted) = P(inheritable) | P(bounding) for root: what the
		// process dropped comes back...
		{"root regains from bounding", with(root(), func(c *Credentials) { c.Permitted, c.Effective = noKill, noKill }),
			AllCaps, AllCaps, 0, false, 0, 0, 0},
		// ... but not under no_new_privs.
		{"root no_new_privs", with(root(), func(c *Credentials) { c.Permitted, c.Effective, c.NoNewPrivs = noKill, noKill, true }),
			noKill, noKill, 0, false, 0, 0, 0},
		// The bounding set limits; inheritable is not limited by it.
		{"root bounding and inheritable", with(root(), func(c *Credentials) {
			c.Bounding = CapSetOf(capChown)
			c.Inheritable = CapSetOf(capNetRaw)
		}), CapSetOf(capChown, capNetRaw), CapSetOf(capChown, capNetRaw), 0, false, 0, 0, 0},
		// SECBIT_NOROOT: root is nobody special. KEEP_CAPS is cleared.
		{"root noroot", with(root(), func(c *Credentials) { c.SecureBits = SecbitNoRoot | SecbitKeepCaps }),
			0, 0, 0, false, 0, 0, SecbitNoRoot},
		// A non-root process keeps only its ambient capabilities.
		{"user with permitted", with(user(1000), func(c *Credentials) { c.Permitted, c.Effective = AllCaps, AllCaps }),
			0, 0, 0, false, 1000, 1000, 0},
		{"user with ambient", with(user(1000), func(c *Credentials) {
			c.Permitted, c.Effective = AllCaps, CapSetOf(capKill)
			c.Inheritable, c.Ambient = CapSetOf(capKill, capChown), CapSetOf(capKill)
		}), CapSetOf(capKill), CapSetOf(capKill), CapSetOf(capKill), false, 1000, 1000, 0},
		// Effective uid 0 with a real uid that is not: privileged, and
		// AT_SECURE.
		{"ruid 1000 euid 0", with(root(), func(c *Credentials) { c.UID = 1000 }), AllCaps, AllCaps, 0, true, 0, 0, 0},
		// Real uid 0, effective not: permitted but not effective.
		{"ruid 0 euid 1000", with(root(), func(c *Credentials) { c.EUID, c.FSUID, c.Effective = 1000, 1000, 0 }),
			0, AllCaps, 0, false, 1000, 1000, 0},
		// The saved and fs uids become the effective one.
		{"saved uid follows", with(user(1000), func(c *Credentials) { c.SUID, c.FSUID = 7, 8 }), 0, 0, 0, false, 1000, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, secure := tc.c.ExecCredentials()
			if n.Effective != tc.e || n.Permitted != tc.p || n.Ambient != tc.a {
				t.Errorf("E=%#x P=%#x A=%#x, want E=%#x P=%#x A=%#x", n.Effective, n.Permitted, n.Ambient, tc.e, tc.p, tc.a)
			}
			if n.Inheritable != tc.c.Inheritable || n.Bounding != tc.c.Bounding {
				t.Errorf("inheritable or bounding changed")
			}
			if secure != tc.secure {
				t.Errorf("AT_SECURE %v, want %v", secure, tc.secure)
			}
			if n.SUID != tc.wantSUID || n.FSUID != tc.wantFSUID {
				t.Errorf("suid %d fsuid %d, want %d %d", n.SUID, n.FSUID, tc.wantSUID, tc.wantFSUID)
			}
			if n.SecureBits != tc.wantSecure {
				t.Errorf("securebits %#x, want %#x", n.SecureBits, tc.wantSecure)
			}
			if n.NoNewPrivs != tc.c.NoNewPrivs {
				t.Errorf("no_new_privs changed")
			}
		})
	}
}

func TestCapset(t *testing.T) {
	S := CapSetOf(capChown, capKill, unix.CAP_SETPCAP)
	base := with(root(), func(c *Credentials) { c.Permitted, c.Effective, c.Bounding = S, S, S })
	noPcap := with(base, func(c *Credentials) { c.Effective &^= CapSetOf(unix.CAP_SETPCAP); c.Permitted = CapSetOf(capChown) })
	for _, tc := range []struct {
		name    string
		c       *Credentials
		e, p, i CapSet
		err     error
	}{
		{"same", base, S, S, 0, nil},
		{"drop", base, 0, CapSetOf(capChown), 0, nil},
		{"permitted grows", base, S, S | CapSetOf(capNetRaw), 0, unix.EPERM},
		{"effective beyond permitted", base, S, CapSetOf(capChown), 0, unix.EPERM},
		{"inheritable outside bounding", base, S, S, CapSetOf(capNetRaw), unix.EPERM},
		{"inheritable within permitted", base, S, S, CapSetOf(capKill), nil},
		{"inheritable outside permitted with SETPCAP", with(base, func(c *Credentials) { c.Bounding |= CapSetOf(capNetRaw) }),
			S, S, CapSetOf(capNetRaw), nil},
		{"inheritable outside permitted without SETPCAP", with(noPcap, func(c *Credentials) { c.Effective = CapSetOf(capChown) }),
			CapSetOf(capChown), CapSetOf(capChown), CapSetOf(capKill), unix.EPERM},
		{"inheritable kept without SETPCAP", with(noPcap, func(c *Credentials) { c.Effective = CapSetOf(capChown); c.Inheritable = CapSetOf(capKill) }),
			CapSetOf(capChown), CapSetOf(capChown), CapSetOf(capKill), nil},
		{"bits above the last capability are ignored", base, S | 1<<63, S | 1<<63, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.c.Capset(tc.e, tc.p, tc.i)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (n.Effective != tc.e&AllCaps || n.Permitted != tc.p&AllCaps || n.Inheritable != tc.i) {
				t.Errorf("sets %+v", n.CapabilitySets)
			}
		})
	}
	// Ambient capabilities that stop being permitted and inheritable go.
	c := with(base, func(c *Credentials) {
		c.Inheritable = CapSetOf(capKill, capChown)
		c.Ambient = CapSetOf(capKill, capChown)
	})
	n, err := c.Capset(S&^CapSetOf(capChown), S&^CapSetOf(capChown), CapSetOf(capKill, capChown))
	if err != nil {
		t.Fatal(err)
	}
	if n.Ambient != CapSetOf(capKill) {
		t.Errorf("ambient after dropping CHOWN from permitted: %#x", n.Ambient)
	}
	if n, err = c.Capset(S, S, CapSetOf(capChown)); err != nil {
		t.Fatal(err)
	}
	if n.Ambient != CapSetOf(capChown) {
		t.Errorf("ambient after dropping KILL from inheritable: %#x", n.Ambient)
	}
}

func TestAmbientBoundingSecurebits(t *testing.T) {
	c := with(root(), func(c *Credentials) { c.Inheritable = CapSetOf(capKill) })
	if _, err := c.RaiseAmbient(capChown); err != unix.EPERM {
		t.Errorf("raise a capability not inheritable: %v, want EPERM", err)
	}
	if _, err := c.RaiseAmbient(LastCap + 1); err != unix.EINVAL {
		t.Errorf("raise an unknown capability: %v, want EINVAL", err)
	}
	n, err := c.RaiseAmbient(capKill)
	if err != nil || n.Ambient != CapSetOf(capKill) {
		t.Fatalf("raise KILL: %v %#x", err, n.Ambient)
	}
	if n, _ := n.LowerAmbient(capKill); n.Ambient != 0 {
		t.Errorf("lower KILL: %#x", n.Ambient)
	}
	if n := n.ClearAmbient(); n.Ambient != 0 {
		t.Errorf("clear: %#x", n.Ambient)
	}
	if _, err := with(c, func(c *Credentials) { c.SecureBits = SecbitNoCapAmbientRaise }).RaiseAmbient(capKill); err != unix.EPERM {
		t.Errorf("raise with SECBIT_NO_CAP_AMBIENT_RAISE: %v, want EPERM", err)
	}

	noPcap := with(root(), func(c *Credentials) { c.Effective &^= CapSetOf(unix.CAP_SETPCAP) })
	if _, err := noPcap.DropBounding(capKill); err != unix.EPERM {
		t.Errorf("drop bounding without SETPCAP: %v, want EPERM", err)
	}
	if _, err := noPcap.DropBounding(1000); err != unix.EPERM {
		t.Errorf("drop unknown bounding without SETPCAP: %v, want EPERM (checked first)", err)
	}
	if _, err := root().DropBounding(1000); err != unix.EINVAL {
		t.Errorf("drop unknown bounding: %v, want EINVAL", err)
	}
	if n, err := root().DropBounding(capKill); err != nil || n.Bounding != AllCaps&^CapSetOf(capKill) || n.Permitted != AllCaps {
		t.Errorf("drop KILL from bounding: %v %+v (permitted must stay)", err, n.CapabilitySets)
	}

	for _, tc := range []struct {
		name      string
		old       uint32
		set       uint64
		noSetpcap bool
		err       error
	}{
		{"set keep_caps", 0, SecbitKeepCaps, false, nil},
		{"set all and lock", 0, secbitsBase | secbitsLocks, false, nil},
		{"undefined bit", 0, 1 << 8, false, unix.EPERM},
		{"without SETPCAP", 0, 0, true, unix.EPERM},
		{"change a locked bit", SecbitKeepCapsLocked, SecbitKeepCapsLocked | SecbitKeepCaps, false, unix.EPERM},
		{"clear a lock", SecbitKeepCapsLocked, 0, false, unix.EPERM},
		{"change an unlocked bit while another is locked", SecbitKeepCapsLocked, SecbitKeepCapsLocked | SecbitNoRoot, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := with(root(), func(c *Credentials) { c.SecureBits = tc.old })
			if tc.noSetpcap {
				c.Effective &^= CapSetOf(unix.CAP_SETPCAP)
			}
			n, err := c.SetSecureBits(tc.set)
			if err != tc.err {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && uint64(n.SecureBits) != tc.set {
				t.Errorf("securebits %#x", n.SecureBits)
			}
		})
	}
	if _, err := root().SetKeepCaps(2); err != unix.EINVAL {
		t.Errorf("keepcaps 2: %v, want EINVAL", err)
	}
	if _, err := with(root(), func(c *Credentials) { c.SecureBits = SecbitKeepCapsLocked }).SetKeepCaps(1); err != unix.EPERM {
		t.Errorf("keepcaps when locked: %v, want EPERM", err)
	}
	if n, err := root().SetKeepCaps(1); err != nil || n.SecureBits != SecbitKeepCaps {
		t.Errorf("keepcaps 1: %v %#x", err, n.SecureBits)
	}
}

func TestAccessCredentials(t *testing.T) {
	// Real uid 0: the permitted set stands in for effective.
	c := with(root(), func(c *Credentials) { c.EUID, c.FSUID, c.Effective, c.GID = 1000, 1000, 0, 7 })
	a := c.AccessCredentials()
	if a.FSUID != 0 || a.FSGID != 7 || a.Effective != AllCaps {
		t.Errorf("ruid 0: fsuid %d fsgid %d E=%#x", a.FSUID, a.FSGID, a.Effective)
	}
	// Real uid not 0: no capabilities.
	c = with(root(), func(c *Credentials) { c.UID = 1000 })
	if a := c.AccessCredentials(); a.FSUID != 1000 || a.Effective != 0 {
		t.Errorf("ruid 1000: fsuid %d E=%#x", a.FSUID, a.Effective)
	}
	// SECBIT_NO_SETUID_FIXUP: capabilities as they are.
	c = with(c, func(c *Credentials) { c.SecureBits = SecbitNoSetuidFixup })
	if a := c.AccessCredentials(); a.Effective != AllCaps {
		t.Errorf("no_setuid_fixup: E=%#x", a.Effective)
	}
}

func TestCapabilityNames(t *testing.T) {
	for c := 0; c <= LastCap; c++ {
		n := CapSet(1 << c).Names()
		if len(n) != 1 || !strings.HasPrefix(n[0], "CAP_") {
			t.Fatalf("capability %d has no name", c)
		}
		if got, err := CapabilityByName(n[0]); err != nil || got != c {
			t.Errorf("CapabilityByName(%q) = %d, %v; want %d", n[0], got, err, c)
		}
	}
	docker := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL", "CAP_AUDIT_WRITE"}
	if s, err := CapSetFromNames(docker); err != nil || s != 0xa80425fb {
		t.Errorf("docker's defaults = %#x, %v; want 0xa80425fb", s, err)
	}
	_, err := CapSetFromNames([]string{"CAP_CHOWN", "CAP_NOPE"})
	if err == nil || !strings.Contains(err.Error(), `"CAP_NOPE"`) {
		t.Errorf("unknown name: %v, want an error naming it", err)
	}
	if _, err := CapabilityByName("chown"); err == nil {
		t.Error("lower-case names without CAP_ are not OCI names")
	}
	if _, err := root().WithCapabilities(CapabilitySets{Effective: CapSetOf(capKill)}); err == nil {
		t.Error("effective outside permitted accepted")
	}
	if _, err := root().WithCapabilities(CapabilitySets{Permitted: CapSetOf(capKill), Ambient: CapSetOf(capKill)}); err == nil {
		t.Error("ambient outside inheritable accepted")
	}
}
