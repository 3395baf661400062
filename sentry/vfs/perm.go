package vfs

import (
	"golang.org/x/sys/unix"
)

// GroupMember is an optional Context extension: contexts whose caller has
// supplementary groups implement it so group permission checks see them.
type GroupMember interface {
	InGroup(gid uint32) bool
}

func inGroup(ctx Context, gid uint32) bool {
	if ctx.FSGID() == gid {
		return true
	}
	if gm, ok := ctx.(GroupMember); ok {
		return gm.InGroup(gid)
	}
	return false
}

// Capable is an optional Context extension: contexts that carry Linux
// capabilities (the kernel's Task) implement it, so permission checks
// consult CAP_DAC_OVERRIDE, CAP_FOWNER, ... (capabilities(7)). A context
// without it is privileged exactly when its FSUID is 0, as the Sentry's
// own contexts are.
type Capable interface {
	HasCapability(cp int) bool
}

// hasCap reports whether ctx has capability cp.
func hasCap(ctx Context, cp int) bool {
	if c, ok := ctx.(Capable); ok {
		return c.HasCapability(cp)
	}
	return ctx.FSUID() == 0
}

// InodeCapable is an optional Context extension for callers whose
// capabilities count over a file only if their user namespace maps the
// file's owner and group (Linux's capable_wrt_inode_uidgid): the kernel's
// Task in a user namespace other than the initial one, for which
// Namespaced is true.
type InodeCapable interface {
	Namespaced() bool
	Maps(uid, gid uint32) bool
}

func namespaced(ctx Context) bool {
	ic, ok := ctx.(InodeCapable)
	return ok && ic.Namespaced()
}

// hasCapOver reports whether ctx has capability cp over a file with
// attributes st (nil: unknown, which a namespaced caller never has).
func hasCapOver(ctx Context, cp int, st *Stat) bool {
	if !hasCap(ctx, cp) {
		return false
	}
	if ic, ok := ctx.(InodeCapable); ok && ic.Namespaced() {
		return st != nil && ic.Maps(st.UID, st.GID)
	}
	return true
}

// CheckPermission implements the Unix permission check of want
// (MayRead|MayWrite|MayExec bits) against the attributes st, for the
// caller's FSUID/FSGID, and then the capabilities that override it
// (Linux's generic_permission): CAP_DAC_READ_SEARCH for reading files and
// reading or searching directories, CAP_DAC_OVERRIDE for everything but
// executing a file without any x bit.
func CheckPermission(ctx Context, st *Stat, want uint32) error {
	uid := ctx.FSUID()
	var perm uint32
	switch {
	case st.UID == uid:
		perm = (st.Mode >> 6) & 7
	case inGroup(ctx, st.GID):
		perm = (st.Mode >> 3) & 7
	default:
		perm = st.Mode & 7
	}
	if want&^perm&7 == 0 {
		return nil
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if capsOverride(ctx, isDir, want, st) || (!isDir && st.Mode&0o111 != 0 && hasCapOver(ctx, unix.CAP_DAC_OVERRIDE, st)) {
		return nil
	}
	return unix.EACCES
}

// capsOverride reports whether ctx's capabilities grant want on any
// directory (isDir) or any non-directory, whatever its mode: only
// executing a non-directory depends on the mode (it needs an x bit).
func capsOverride(ctx Context, isDir bool, want uint32, st *Stat) bool {
	want &= MayRead | MayWrite | MayExec
	if isDir {
		return (want&MayWrite == 0 && hasCapOver(ctx, unix.CAP_DAC_READ_SEARCH, st)) || hasCapOver(ctx, unix.CAP_DAC_OVERRIDE, st)
	}
	if want&MayExec != 0 {
		return false
	}
	return (want == MayRead && hasCapOver(ctx, unix.CAP_DAC_READ_SEARCH, st)) || hasCapOver(ctx, unix.CAP_DAC_OVERRIDE, st)
}

// mayAccess checks want on inode.
func mayAccess(ctx Context, inode Inode, want uint32) error {
	st, err := inode.Stat(ctx)
	if err != nil {
		return err
	}
	return CheckPermission(ctx, &st, want)
}

// mayAccessDentry checks want on d, skipping the Stat when capabilities
// decide (root searching a directory).
func mayAccessDentry(ctx Context, d *Dentry, want uint32) error {
	if !namespaced(ctx) && capsOverride(ctx, d.IsDir(), want, nil) {
		return nil
	}
	return mayAccess(ctx, d.inode, want)
}

// isOwnerOrCapable reports whether the caller may change st's mode and
// times: its owner or CAP_FOWNER (Linux's inode_owner_or_capable).
func isOwnerOrCapable(ctx Context, st *Stat) bool {
	return ctx.FSUID() == st.UID || hasCapOver(ctx, unix.CAP_FOWNER, st)
}

// mayDelete checks that the caller may remove or rename away child from
// dir: write and search permission on dir, and the sticky bit rule (the
// owner of the file or of the directory, or CAP_FOWNER).
func mayDelete(ctx Context, dir, child *Dentry) error {
	if err := mayAccessDentry(ctx, dir, MayWrite|MayExec); err != nil {
		return err
	}
	if !namespaced(ctx) && hasCap(ctx, unix.CAP_FOWNER) {
		return nil
	}
	uid := ctx.FSUID()
	dst, err := dir.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if dst.Mode&unix.S_ISVTX == 0 {
		return nil
	}
	cst, err := child.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if cst.UID != uid && dst.UID != uid && !hasCapOver(ctx, unix.CAP_FOWNER, &cst) {
		return unix.EPERM
	}
	return nil
}

// CheckAccess checks want (MayRead|MayWrite|MayExec) on the file at vd for
// ctx's FSUID/FSGID (e.g. fchdir's search permission).
func CheckAccess(ctx Context, vd VirtualDentry, want uint32) error {
	return mayAccessDentry(ctx, vd.Dentry, want)
}
