package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestUserNamespaceMaps(t *testing.T) {
	parent := NewCredentials(1000, 1000, nil)
	child, err := parent.NewUserNamespace()
	if err != nil {
		t.Fatal(err)
	}
	ns := child.UserNamespace()
	if ns.IsRoot() || ns.Parent() != RootUserNamespace {
		t.Fatal("the new namespace should be a child of the initial one")
	}
	if got := ns.ViewUID(1000); got != overflowID {
		t.Fatalf("before the map, uid 1000 reads %d, want the overflow uid", got)
	}
	// Full capabilities inside, none outside.
	if !child.HasCapabilityIn(unix.CAP_SYS_ADMIN, ns) || child.HasCapabilityIn(unix.CAP_SYS_ADMIN, nil) {
		t.Fatal("a new user namespace gives every capability there and none in its parent")
	}
	// The unprivileged creator may map its own uid, once, as one id.
	if err := ns.WriteMap(child, false, "0 1000 2\n"); err != unix.EPERM {
		t.Fatalf("mapping two ids without CAP_SETUID in the parent: %v", err)
	}
	if err := ns.WriteMap(child, false, "0 1001 1\n"); err != unix.EPERM {
		t.Fatalf("mapping another uid: %v", err)
	}
	if err := ns.WriteMap(child, false, "0 1000 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := ns.WriteMap(child, false, "0 1000 1\n"); err != unix.EPERM {
		t.Fatalf("second write: %v", err)
	}
	if k, ok := ns.MapUID(0); !ok || k != 1000 {
		t.Fatalf("uid 0 inside = kernel %d, %v", k, ok)
	}
	if ns.ViewUID(1000) != 0 || ns.ViewUID(0) != overflowID {
		t.Fatal("views through the map are wrong")
	}
	// gid_map needs setgroups denied first; then setgroups is gone.
	if err := ns.WriteMap(child, true, "0 1000 1"); err != unix.EPERM {
		t.Fatalf("gid_map with setgroups allowed: %v", err)
	}
	if err := ns.WriteSetgroups("deny"); err != nil {
		t.Fatal(err)
	}
	if err := ns.WriteMap(child, true, "0 1000 1"); err != nil {
		t.Fatal(err)
	}
	if ns.MaySetgroups() || ns.WriteSetgroups("allow") != unix.EPERM {
		t.Fatal("setgroups must stay denied once gid_map is written")
	}
	if got := ns.MapText(false, RootUserNamespace); got != "         0       1000          1\n" {
		t.Fatalf("uid_map from outside: %q", got)
	}
	// Root inside (uid 0 maps to kernel 1000): execve keeps capabilities.
	n, _ := child.ExecCredentials()
	if n.Effective != AllCaps {
		t.Fatalf("exec by the namespace's root: effective %#x", n.Effective)
	}
	// The creator (euid 1000 in the parent) has every capability in it.
	if !parent.HasCapabilityIn(unix.CAP_SYS_ADMIN, ns) {
		t.Fatal("the owner of a namespace has its capabilities")
	}
	other := NewCredentials(1001, 1001, nil)
	if other.HasCapabilityIn(unix.CAP_SYS_ADMIN, ns) {
		t.Fatal("a stranger has no capability in someone else's namespace")
	}
	for _, bad := range []string{"", "0 0", "0 0 0", "0 0 1\n0 0 1", "a b c"} {
		if _, err := parseIDMap(bad); err != unix.EINVAL {
			t.Errorf("parseIDMap(%q) = %v, want EINVAL", bad, err)
		}
	}
}

func TestInitOnlyCapabilities(t *testing.T) {
	c, _ := NewCredentials(0, 0, nil).NewUserNamespace()
	if c.HasCapability(unix.CAP_SYS_TIME) || c.HasCapability(unix.CAP_MKNOD) {
		t.Fatal("capabilities Linux checks only in the initial namespace must not count in a child")
	}
	if !c.HasCapability(unix.CAP_SETUID) || !c.HasCapability(unix.CAP_DAC_OVERRIDE) {
		t.Fatal("a user namespace's root has the namespaced capabilities")
	}
}
