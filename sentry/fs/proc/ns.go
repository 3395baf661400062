package proc

// /proc/PID/ns/* (namespaces(7)) and the user namespace files
// /proc/PID/uid_map, gid_map and setgroups (user_namespaces(7)).

import (
	"github.com/veil-sandbox/veil/sentry/fs/pseudo"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// nsEntries are the entries the namespaces add to a task directory.
func (d *taskDir) nsEntries() []dirEntry {
	fs := d.fs
	var links []dirEntry
	for _, name := range kernel.NamespaceFiles {
		name := name
		ns := func() (kernel.Namespace, error) {
			t, err := d.liveTask()
			if err != nil {
				return nil, err
			}
			n := t.TaskNamespace(name)
			if n == nil {
				return nil, unix.ENOENT
			}
			return n, nil
		}
		links = append(links, dirEntry{name, fs.NewMagicLink(0o777, d.owner,
			func(vfs.Context) (string, error) {
				n, err := ns()
				if err != nil {
					return "", err
				}
				return kernel.NamespaceLinkText(name, n), nil
			},
			func(vfs.Context) (vfs.VirtualDentry, error) {
				n, err := ns()
				if err != nil {
					return vfs.VirtualDentry{}, err
				}
				return fs.k.NamespaceDentry(name, n), nil
			})})
	}
	es := make([]pseudo.Entry, len(links))
	for i, l := range links {
		es[i] = pseudo.Entry{Name: l.name, Inode: l.inode}
	}
	nsDir := fs.NewDirMode(0o511, d.owner, es)
	return []dirEntry{
		{"gid_map", d.idMapFile(true)},
		{"ns", nsDir},
		{"setgroups", d.setgroupsFile()},
		{"uid_map", d.idMapFile(false)},
	}
}

// userNS returns the user namespace of the directory's task.
func (d *taskDir) userNS() (*kernel.UserNamespace, error) {
	t, err := d.liveTask()
	if err != nil {
		return nil, err
	}
	return t.UserNamespace(), nil
}

// readerUserNS returns the user namespace of the reader.
func readerUserNS(ctx vfs.Context) *kernel.UserNamespace {
	if t, ok := ctx.(*kernel.Task); ok {
		return t.UserNamespace()
	}
	return kernel.RootUserNamespace
}

// idMapFile is uid_map or gid_map: the mapping as the reader sees it;
// one write defines it (kernel.UserNamespace.WriteMap has the rules).
func (d *taskDir) idMapFile(gid bool) *file {
	f := d.fs.NewFile(0o644, d.owner, func(ctx vfs.Context) ([]byte, error) {
		ns, err := d.userNS()
		if err != nil {
			return nil, err
		}
		return []byte(ns.MapText(gid, readerUserNS(ctx))), nil
	})
	f.WriteFn = func(ctx vfs.Context, data []byte) error {
		ns, err := d.userNS()
		if err != nil {
			return err
		}
		t, ok := ctx.(*kernel.Task)
		if !ok {
			return unix.EPERM
		}
		return ns.WriteMap(t.Credentials(), gid, string(data))
	}
	return f
}

// setgroupsFile is /proc/PID/setgroups: "allow" or "deny"; writing "deny"
// before gid_map is written takes setgroups(2) away in the namespace.
func (d *taskDir) setgroupsFile() *file {
	f := d.fs.NewFile(0o644, d.owner, func(vfs.Context) ([]byte, error) {
		ns, err := d.userNS()
		if err != nil {
			return nil, err
		}
		return []byte(ns.SetgroupsText()), nil
	})
	f.WriteFn = func(ctx vfs.Context, data []byte) error {
		ns, err := d.userNS()
		if err != nil {
			return err
		}
		t, ok := ctx.(*kernel.Task)
		if !ok || !t.Credentials().HasCapabilityIn(unix.CAP_SYS_ADMIN, ns) {
			return unix.EPERM
		}
		return ns.WriteSetgroups(string(data))
	}
	return f
}
