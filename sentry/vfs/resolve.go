package vfs

import (
	"strings"

	"golang.org/x/sys/unix"
)

// PathOperation says where a path-based operation starts.
type PathOperation struct {
	// Root is the caller's root directory (chroot): absolute paths and
	// symlinks start there and ".." never climbs above it. Required.
	Root VirtualDentry
	// Start is where relative paths start: the working directory or the
	// directory of a dirfd. Required for relative paths.
	Start VirtualDentry
	// Path is the path as the application gave it. An empty path is
	// ENOENT (callers implement AT_EMPTY_PATH themselves by using the
	// FileDescription).
	Path string
	// FollowFinal says whether a symlink in the last component is
	// followed. A trailing slash always follows.
	FollowFinal bool
	// Umask is removed from the mode of files the operation creates
	// (FSContext.PathOp fills it in).
	Umask uint32
}

// resolver carries the state of one path resolution: the symlink count is
// shared by every nested resolution of the operation.
type resolver struct {
	v     *VirtualFilesystem
	ctx   Context
	root  VirtualDentry
	links int
	op    uint64 // this operation's number (Dentry.lookupOp)
}

func (v *VirtualFilesystem) newResolver(ctx Context, pop PathOperation) *resolver {
	root := pop.Root
	if !root.Ok() {
		root = v.Root()
	}
	return &resolver{v: v, ctx: ctx, root: root, op: v.opSeq.Add(1)}
}

// splitPath returns path's components (without empty ones) and whether it
// ends with a slash.
func splitPath(path string) ([]string, bool) {
	trailing := strings.HasSuffix(path, "/")
	var comps []string
	for _, c := range strings.Split(path, "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	return comps, trailing
}

// walkParent resolves every component of path but the last, and returns
// the directory reached (with a reference the caller owns), the last
// component and whether path ends with '/'. The last component is "" when
// path has no components ("/", "//"). start is only borrowed.
func (r *resolver) walkParent(start VirtualDentry, path string) (VirtualDentry, string, bool, error) {
	if path == "" {
		return VirtualDentry{}, "", false, unix.ENOENT
	}
	cur := start
	if path[0] == '/' {
		cur = r.root
	}
	if !cur.Ok() {
		return VirtualDentry{}, "", false, unix.ENOENT
	}
	cur.IncRef()
	comps, trailing := splitPath(path)
	if len(comps) == 0 {
		return cur, "", true, nil
	}
	for _, c := range comps[:len(comps)-1] {
		next, err := r.walkDir(cur, c)
		cur.DecRef()
		if err != nil {
			return VirtualDentry{}, "", false, err
		}
		cur = next
	}
	last := comps[len(comps)-1]
	if len(last) > NameMax {
		cur.DecRef()
		return VirtualDentry{}, "", false, unix.ENAMETOOLONG
	}
	return cur, last, trailing, nil
}

// walkDir steps from directory cur through name, following a symlink, and
// requires the result to be a directory. The result's reference is the
// caller's.
func (r *resolver) walkDir(cur VirtualDentry, name string) (VirtualDentry, error) {
	next, err := r.lookup(cur, name)
	if err != nil {
		return VirtualDentry{}, err
	}
	if next.Dentry.IsSymlink() {
		link := next
		next, err = r.follow(cur, link)
		link.DecRef()
		if err != nil {
			return VirtualDentry{}, err
		}
	}
	if !next.Dentry.IsDir() {
		next.DecRef()
		return VirtualDentry{}, unix.ENOTDIR
	}
	return next, nil
}

// resolve resolves path from start completely; the result's reference is
// the caller's.
func (r *resolver) resolve(start VirtualDentry, path string, follow bool) (VirtualDentry, error) {
	parent, last, trailing, err := r.walkParent(start, path)
	if err != nil {
		return VirtualDentry{}, err
	}
	if last == "" {
		return parent, nil
	}
	vd, err := r.finish(parent, last, trailing, follow)
	parent.DecRef()
	return vd, err
}

// finish resolves the last component name in parent; the result's
// reference is the caller's.
func (r *resolver) finish(parent VirtualDentry, last string, trailing, follow bool) (VirtualDentry, error) {
	cur, err := r.lookup(parent, last)
	if err != nil {
		return VirtualDentry{}, err
	}
	if cur.Dentry.IsSymlink() && (follow || trailing) {
		link := cur
		cur, err = r.follow(parent, link)
		link.DecRef()
		if err != nil {
			return VirtualDentry{}, err
		}
	}
	if trailing && !cur.Dentry.IsDir() {
		cur.DecRef()
		return VirtualDentry{}, unix.ENOTDIR
	}
	return cur, nil
}

// follow resolves the symlink link, found in directory dir; the result's
// reference is the caller's.
func (r *resolver) follow(dir, link VirtualDentry) (VirtualDentry, error) {
	r.links++
	if r.links > MaxSymlinks {
		return VirtualDentry{}, unix.ELOOP
	}
	if ml, ok := link.Dentry.inode.(MagicLinker); ok {
		return ml.FollowMagicLink(r.ctx)
	}
	target, err := link.Dentry.inode.Readlink(r.ctx)
	if err != nil {
		return VirtualDentry{}, err
	}
	if target == "" {
		return VirtualDentry{}, unix.ENOENT
	}
	return r.resolve(dir, target, true)
}

// lookup steps from directory cur through one component, handling "." and
// ".." and crossing mounts. It checks search permission on cur. The
// result's reference is the caller's.
func (r *resolver) lookup(cur VirtualDentry, name string) (VirtualDentry, error) {
	if !cur.Dentry.IsDir() {
		return VirtualDentry{}, unix.ENOTDIR
	}
	if err := mayAccessDentry(r.ctx, cur.Dentry, MayExec); err != nil {
		return VirtualDentry{}, err
	}
	switch name {
	case ".":
		cur.IncRef()
		return cur, nil
	case "..":
		return r.dotdot(cur), nil
	}
	if len(name) > NameMax {
		return VirtualDentry{}, unix.ENAMETOOLONG
	}
	child, err := r.v.lookupChild(r.ctx, cur.Dentry, name, r.op)
	if err != nil {
		return VirtualDentry{}, err
	}
	return r.v.crossMountsRef(VirtualDentry{cur.Mount, child}), nil
}

// dotdot returns the parent of cur, staying at the caller's root and
// climbing out of mounts, with a reference the caller owns.
func (r *resolver) dotdot(cur VirtualDentry) VirtualDentry {
	for {
		if cur == r.root {
			cur.IncRef()
			return cur
		}
		if cur.Dentry != cur.Mount.root {
			break
		}
		r.v.mountMu.RLock()
		pm, pt := cur.Mount.parent, cur.Mount.point
		r.v.mountMu.RUnlock()
		if pm == nil {
			cur.IncRef()
			return cur
		}
		// The mount holds a reference on its point.
		cur = VirtualDentry{pm, pt}
	}
	r.v.nameMu.RLock()
	p := cur.Dentry.parent
	if p != nil {
		// cur holds a reference on its parent.
		p.IncRef()
	}
	r.v.nameMu.RUnlock()
	if p == nil {
		cur.IncRef()
		return cur
	}
	return r.v.crossMountsRef(VirtualDentry{cur.Mount, p})
}

// GetDentry resolves pop to a location. The caller owns a reference on the
// result and must call its DecRef when done with it.
func (v *VirtualFilesystem) GetDentry(ctx Context, pop PathOperation) (VirtualDentry, error) {
	r := v.newResolver(ctx, pop)
	return r.resolve(pop.Start, pop.Path, pop.FollowFinal)
}

// StatMount implements stat(2), lstat(2), fstatat(2) and statx(2) on a
// path (pop.FollowFinal chooses): the attributes and the mount's id.
func (v *VirtualFilesystem) StatMount(ctx Context, pop PathOperation) (Stat, uint64, error) {
	r := v.newResolver(ctx, pop)
	vd, err := r.resolve(pop.Start, pop.Path, pop.FollowFinal)
	if err != nil {
		return Stat{}, 0, err
	}
	defer vd.DecRef()
	if vd.Dentry.lookupOp == r.op {
		if ls, ok := vd.Dentry.inode.(LookupStater); ok {
			if st, ok := ls.TakeLookupStat(); ok {
				return st, vd.Mount.ID(), nil
			}
		}
	}
	st, err := vd.Dentry.inode.Stat(ctx)
	return st, vd.Mount.ID(), err
}

// GetDirectory resolves pop and requires a directory (ENOTDIR), e.g. for
// chdir and chroot, which also need search permission (EACCES). As with
// GetDentry, the caller must DecRef the result.
func (v *VirtualFilesystem) GetDirectory(ctx Context, pop PathOperation) (VirtualDentry, error) {
	vd, err := v.GetDentry(ctx, pop)
	if err != nil {
		return VirtualDentry{}, err
	}
	if !vd.Dentry.IsDir() {
		vd.DecRef()
		return VirtualDentry{}, unix.ENOTDIR
	}
	if err := mayAccessDentry(ctx, vd.Dentry, MayExec); err != nil {
		vd.DecRef()
		return VirtualDentry{}, err
	}
	return vd, nil
}

// PathName returns the absolute path of vd as seen from the VFS root, with
// " (deleted)" appended if it was unlinked.
func (v *VirtualFilesystem) PathName(vd VirtualDentry) string {
	return v.PathNameFrom(v.Root(), vd)
}

// PathNameFrom returns the path of vd relative to root (a task's root), as
// /proc/<pid>/fd links show it. Locations outside root are shown from the
// VFS root.
func (v *VirtualFilesystem) PathNameFrom(root, vd VirtualDentry) string {
	if vd.Mount != nil && vd.Mount.anon {
		// A file without a path reopened through /proc/<pid>/fd/N:
		// "pipe:[42]", as the original shows.
		return vd.Dentry.name
	}
	p, ok := v.pathFrom(root, vd)
	if !ok {
		p, _ = v.pathFrom(v.Root(), vd)
	}
	if vd.Dentry.dead.Load() {
		p += " (deleted)"
	}
	return p
}

// pathFrom builds the path of vd from root; ok is false if root is not an
// ancestor of vd (then the path is from the top of the mount tree).
func (v *VirtualFilesystem) pathFrom(root, vd VirtualDentry) (string, bool) {
	var parts []string
	v.mountMu.RLock()
	v.nameMu.RLock()
	ok := false
	for i := 0; i < 4096; i++ {
		if vd == root {
			ok = true
			break
		}
		if vd.Dentry == vd.Mount.root {
			if vd.Mount.parent == nil {
				break
			}
			vd = VirtualDentry{vd.Mount.parent, vd.Mount.point}
			continue
		}
		if vd.Dentry.parent == nil {
			break
		}
		parts = append(parts, vd.Dentry.name)
		vd = VirtualDentry{vd.Mount, vd.Dentry.parent}
	}
	v.nameMu.RUnlock()
	v.mountMu.RUnlock()
	if len(parts) == 0 {
		return "/", ok
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String(), ok
}

// IsAncestor reports whether a is vd or one of its ancestors (through
// mounts).
func (v *VirtualFilesystem) IsAncestor(a, vd VirtualDentry) bool {
	_, ok := v.pathFrom(a, vd)
	return ok
}

// PathFrom returns the path of vd relative to root (getcwd) and whether
// root is an ancestor of vd; if not, the path is from the top of the mount
// tree. It does not add " (deleted)".
func (v *VirtualFilesystem) PathFrom(root, vd VirtualDentry) (string, bool) {
	return v.pathFrom(root, vd)
}
