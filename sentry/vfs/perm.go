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

// CheckPermission implements the classic Unix permission check of want
// (MayRead|MayWrite|MayExec bits) against the attributes st, for the
// caller's FSUID/FSGID. uid 0 bypasses read and write checks and execute
// checks on directories; executing a non-directory needs at least one x bit.
func CheckPermission(ctx Context, st *Stat, want uint32) error {
	uid := ctx.FSUID()
	if uid == 0 {
		if want&MayExec == 0 || st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&0o111 != 0 {
			return nil
		}
		return unix.EACCES
	}
	var perm uint32
	switch {
	case st.UID == uid:
		perm = (st.Mode >> 6) & 7
	case inGroup(ctx, st.GID):
		perm = (st.Mode >> 3) & 7
	default:
		perm = st.Mode & 7
	}
	if want&^perm&7 != 0 {
		return unix.EACCES
	}
	return nil
}

// mayAccess checks want on inode.
func mayAccess(ctx Context, inode Inode, want uint32) error {
	st, err := inode.Stat(ctx)
	if err != nil {
		return err
	}
	return CheckPermission(ctx, &st, want)
}

// mayAccessDentry checks want on d, skipping the Stat when the answer is
// known (root searching a directory).
func mayAccessDentry(ctx Context, d *Dentry, want uint32) error {
	if ctx.FSUID() == 0 && (want&MayExec == 0 || d.IsDir()) {
		return nil
	}
	return mayAccess(ctx, d.inode, want)
}

// isOwnerOrRoot reports whether the caller may change st's mode and times
// (CAP_FOWNER is modelled as uid 0).
func isOwnerOrRoot(ctx Context, st *Stat) bool {
	return ctx.FSUID() == 0 || ctx.FSUID() == st.UID
}

// mayDelete checks that the caller may remove or rename away child from
// dir: write and search permission on dir, and the sticky bit rule.
func mayDelete(ctx Context, dir, child *Dentry) error {
	if err := mayAccessDentry(ctx, dir, MayWrite|MayExec); err != nil {
		return err
	}
	uid := ctx.FSUID()
	if uid == 0 {
		return nil
	}
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

type credsContext struct {
	Context
	uid, gid uint32
}

func (c credsContext) FSUID() uint32 { return c.uid }
func (c credsContext) FSGID() uint32 { return c.gid }

// WithCredentials returns ctx with FSUID and FSGID replaced, for access(2)
// which checks with the real ids.
func WithCredentials(ctx Context, uid, gid uint32) Context {
	return credsContext{ctx, uid, gid}
}

// CheckAccess checks want (MayRead|MayWrite|MayExec) on the file at vd for
// ctx's FSUID/FSGID (e.g. fchdir's search permission).
func CheckAccess(ctx Context, vd VirtualDentry, want uint32) error {
	return mayAccessDentry(ctx, vd.Dentry, want)
}
