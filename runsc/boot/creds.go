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

// Credentials returns the credentials the first process execs its
// program with (kernel.CreateProcessArgs.Creds): spec's uid, gid and
// additional gids; its capabilities, or without them the default (root
// has every capability, anyone else none); and no_new_privs if asked.
// As in runc, these are the sets before the execve, which then
// transforms them (a non-root user keeps only its ambient capabilities).
func Credentials(spec Spec) (*kernel.Credentials, error) {
	c := kernel.NewCredentials(spec.UID, spec.GID, spec.AdditionalGids)
	if spec.Capabilities != nil {
		sets, err := CapabilitySets(spec.Capabilities)
		if err != nil {
			return nil, err
		}
		if c, err = c.WithCapabilities(sets); err != nil {
			return nil, fmt.Errorf("process.%w", err)
		}
	}
	if spec.NoNewPrivileges {
		c = c.WithNoNewPrivs()
	}
	return c, nil
}
