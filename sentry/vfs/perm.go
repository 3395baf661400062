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
	if capsOverride(ctx, isDir, want) || (!isDir && st.Mode&0o111 != 0 && hasCap(ctx, unix.CAP_DAC_OVERRIDE)) {
		return nil
	}
	return unix.EACCES
}

// capsOverride reports whether ctx's capabilities grant want on any
// directory (isDir) or any non-directory, whatever its mode: only
// executing a non-directory depends on the mode (it needs an x bit).
func capsOverride(ctx Context, isDir bool, want uint32) bool {
	want &= MayRead | MayWrite | MayExec
	if isDir {
		return (want&MayWrite == 0 && hasCap(ctx, unix.CAP_DAC_READ_SEARCH)) || hasCap(ctx, unix.CAP_DAC_OVERRIDE)
	}
	if want&MayExec != 0 {
		return false
	}
	return (want == MayRead && hasCap(ctx, unix.CAP_DAC_READ_SEARCH)) || hasCap(ctx, unix.CAP_DAC_OVERRIDE)
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
	if capsOverride(ctx, d.IsDir(), want) {
		return nil
	}
	return mayAccess(ctx, d.inode, want)
}

// isOwnerOrCapable reports whether the caller may change st's mode and
// times: its owner or CAP_FOWNER (Linux's inode_owner_or_capable).
func isOwnerOrCapable(ctx Context, st *Stat) bool {
	return ctx.FSUID() == st.UID || hasCap(ctx, unix.CAP_FOWNER)
}

// mayDelete checks that the caller may remove or rename away child from
// dir: write and search permission on dir, and the sticky bit rule (the
// owner of the file or of the directory, or CAP_FOWNER).
func mayDelete(ctx Context, dir, child *Dentry) error {
	if err := mayAccessDentry(ctx, dir, MayWrite|MayExec); err != nil {
		return err
	}
	if hasCap(ctx, unix.CAP_FOWNER) {
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
	if cst.UID != uid && dst.UID != uid {
		return unix.EPERM
	}
	return nil
}

// CheckAccess checks want (MayRead|MayWrite|MayExec) on the file at vd for
// ctx's FSUID/FSGID (e.g. fchdir's search permission).
func CheckAccess(ctx Context, vd VirtualDentry, want uint32) error {
	return mayAccessDentry(ctx, vd.Dentry, want)
}
