package boot

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/sentry/kernel"
)

// CapabilitySets converts an OCI process.capabilities to the kernel's
// capability sets. Names are those of capabilities(7) ("CAP_CHOWN"); an
// unknown one is an error that names it and the list it is in.
func CapabilitySets(c *specs.LinuxCapabilities) (kernel.CapabilitySets, error) {
	var s kernel.CapabilitySets
	for _, l := range []struct {
		name  string
		names []string
		dst   *kernel.CapSet
	}{
		{"effective", c.Effective, &s.Effective},
		{"permitted", c.Permitted, &s.Permitted},
		{"inheritable", c.Inheritable, &s.Inheritable},
		{"bounding", c.Bounding, &s.Bounding},
		{"ambient", c.Ambient, &s.Ambient},
	} {
		set, err := kernel.CapSetFromNames(l.names)
		if err != nil {
			return kernel.CapabilitySets{}, fmt.Errorf("process.capabilities.%s: %w", l.name, err)
		}
		*l.dst = set
	}
	return s, nil
}

// Credentials returns the credentials a process execs its program with
// (kernel.CreateProcessArgs.Creds): p's uid, gid and additional gids; its
// capabilities, or without them the default (root has every capability,
// anyone else none); and no_new_privs if asked. As in runc, these are the
// sets before the execve, which then transforms them (a non-root user
// keeps only its ambient capabilities).
func Credentials(p *specs.Process) (*kernel.Credentials, error) {
	c := kernel.NewCredentials(p.User.UID, p.User.GID, p.User.AdditionalGids)
	if p.Capabilities != nil {
		sets, err := CapabilitySets(p.Capabilities)
		if err != nil {
			return nil, err
		}
		// Like runc, whose PR_CAP_AMBIENT_RAISE fails for them, leave out
		// ambient capabilities that are not both permitted and
		// inheritable (runsc warns: UnraisableAmbient).
		sets.Ambient &= sets.Permitted & sets.Inheritable
		if c, err = c.WithCapabilities(sets); err != nil {
			return nil, fmt.Errorf("process.%w", err)
		}
	}
	if p.NoNewPrivileges {
		c = c.WithNoNewPrivs()
	}
	return c, nil
}

// UnraisableAmbient lists the ambient capabilities of c that a process
// cannot have because they are not both permitted and inheritable (runc's
// default spec asks for such ones); Credentials leaves them out.
func UnraisableAmbient(c *specs.LinuxCapabilities) []string {
	if c == nil {
		return nil
	}
	in := func(l []string, n string) bool {
		for _, x := range l {
			if x == n {
				return true
			}
		}
		return false
	}
	var out []string
	for _, n := range c.Ambient {
		if !in(c.Permitted, n) || !in(c.Inheritable, n) {
			out = append(out, n)
		}
	}
	return out
}
