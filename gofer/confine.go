package gofer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// confined holds the /proc/self/fd descriptor saved by Confine, which Serve
// needs after the pivot_root (the container rootfs has no procfs of ours).
var confined = struct {
	sync.Mutex
	procFD int
}{procFD: -1}

// Confine confines the calling process to root: it makes every mount in the
// process's mount namespace private (so nothing propagates back to the
// host), bind-mounts root onto itself (recursively, keeping submounts such
// as volumes), pivot_root's into it and lazily unmounts the old root. After
// Confine, "/" is the container rootfs and the caller should call Serve with
// root "/".
//
// Confine must be called in a process that was started in a fresh mount
// namespace: runsc starts the gofer with CLONE_NEWNS (it must not be an
// unshare done by one thread of a running Go program, since the mount
// namespace would then be per-thread). As a safety net, Confine refuses to
// run if its mount namespace is the same as its parent's.
//
// Before pivoting, Confine opens /proc/self/fd and keeps it: Serve uses it to
// reopen O_PATH descriptors, which procfs alone can do.
func Confine(root string) error {
	return ConfineWithMounts(root, false, nil)
}

// BindMount is a host file or directory the gofer mounts into its view of
// the container root before confining itself, so that it serves it too.
type BindMount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"` // inside the root
	ReadOnly    bool   `json:"readonly,omitempty"`
	Recursive   bool   `json:"recursive,omitempty"` // rbind: with submounts
}

// ConfineWithMounts is Confine that first bind-mounts each of mounts at
// its destination inside root, in order (as runc does in the container's
// mount namespace), creating missing mount points in root, and, with
// readOnly, makes the root itself read-only (its bind mounts keep their
// own flags). Destinations are resolved inside root: symlinks in root
// cannot point a mount outside it.
func ConfineWithMounts(root string, readOnly bool, mounts []BindMount) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("gofer: confine: %w", err)
	}
	if err := checkPrivateMountNS(); err != nil {
		return fmt.Errorf("gofer: confine: %w", err)
	}
	procFD, err := openProcFD()
	if err != nil {
		return fmt.Errorf("gofer: confine: %w", err)
	}
	if err := pivotInto(root, readOnly, mounts); err != nil {
		unix.Close(procFD)
		return fmt.Errorf("gofer: confine %q: %w", root, err)
	}
	confined.Lock()
	if confined.procFD >= 0 {
		unix.Close(confined.procFD)
	}
	confined.procFD = procFD
	confined.Unlock()
	return nil
}

func pivotInto(root string, readOnly bool, mounts []BindMount) error {
	// Stop propagation in both directions before changing anything: a copy
	// of a shared mount is still a peer of the host's.
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// pivot_root needs the new root to be a mount point.
	if root == "/" {
		// pivot_root needs a new root other than the current root mount,
		// and a bind of "/" onto itself cannot be reached by path. Stage
		// it under a private tmpfs over /proc: the Sentry mounts its own
		// /proc over that spot anyway, and procfs was opened above.
		if err := unix.Mount("veil-stage", "/proc", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=700"); err != nil {
			return fmt.Errorf("staging tmpfs: %w", err)
		}
		if err := os.Mkdir("/proc/root", 0o700); err != nil {
			return fmt.Errorf("staging dir: %w", err)
		}
		if err := unix.Mount("/", "/proc/root", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount /: %w", err)
		}
		root = "/proc/root"
	} else if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	if err := unix.Mount("", root, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make root private: %w", err)
	}
	for _, m := range mounts {
		if err := bindInto(root, m); err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Destination, err)
		}
	}
	if readOnly {
		if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// unmounting "." then detaches the old root, leaving the new one.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return os.Chdir("/")
}

// checkPrivateMountNS fails if this process shares its mount namespace with
// its parent (or, if the parent cannot be inspected, with pid 1), or if
// it can inspect neither: it must not pivot the host's root.
func checkPrivateMountNS() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("cannot determine mount namespace: %w", err)
	}
	var errs []error
	for _, pid := range []int{os.Getppid(), 1} {
		other, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other == self {
			return errors.New("not in a private mount namespace (start the gofer with CLONE_NEWNS)")
		}
		return nil
	}
	return fmt.Errorf("cannot tell whether the mount namespace is private: %w", errors.Join(errs...))
}

// bindInto mounts m.Source at m.Destination inside root.
func bindInto(root string, m BindMount) error {
	var st unix.Stat_t
	if err := unix.Stat(m.Source, &st); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootFD)
	target, err := mountPoint(rootFD, m.Destination, isDir)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer unix.Close(target)
	// Mounting on /proc/self/fd/N mounts on what N resolved to, not on
	// whatever the path names now.
	at := "/proc/self/fd/" + strconv.Itoa(target)
	flags := uintptr(unix.MS_BIND)
	if m.Recursive {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(m.Source, at, "", flags, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		// A bind mount takes its flags only from a remount; do it on the
		// new mount itself (reopened: the old target is covered).
		top, err := openInRoot(rootFD, m.Destination, unix.O_PATH|unix.O_CLOEXEC)
		if err != nil {
			return err
		}
		defer unix.Close(top)
		if err := unix.Mount("", "/proc/self/fd/"+strconv.Itoa(top), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only: %w", err)
		}
	}
	return nil
}

// openInRoot opens path as if root were "/" (symlinks and ".." stay
// inside it).
func openInRoot(rootFD int, path string, flags int) (int, error) {
	return unix.Openat2(rootFD, path, &unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// mountPoint opens (O_PATH) the mount point dst inside root, creating it
// and its missing parents: a directory, or an empty file if !dir.
func mountPoint(rootFD int, dst string, dir bool) (int, error) {
	if fd, err := openInRoot(rootFD, dst, unix.O_PATH|unix.O_CLOEXEC); err == nil {
		return fd, nil
	} else if err != unix.ENOENT {
		return -1, err
	}
	parent, name := filepath.Split(filepath.Clean("/" + dst))
	if name == "" {
		return -1, unix.EINVAL
	}
	if err := mkdirAllInRoot(rootFD, parent); err != nil {
		return -1, err
	}
	pfd, err := openInRoot(rootFD, parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if dir {
		if err := unix.Mkdirat(pfd, name, 0o755); err != nil && err != unix.EEXIST {
			return -1, err
		}
	} else {
		fd, err := unix.Openat(pfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil && err != unix.EEXIST {
			return -1, err
		}
		if err == nil {
			unix.Close(fd)
		}
	}
	return openInRoot(rootFD, dst, unix.O_PATH|unix.O_CLOEXEC)
}

// mkdirAllInRoot creates dir and its parents inside root.
func mkdirAllInRoot(rootFD int, dir string) error {
	cur := "/"
	for _, c := range strings.Split(filepath.Clean("/"+dir), "/") {
		if c == "" {
			continue
		}
		pfd, err := openInRoot(rootFD, cur, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(pfd, c, 0o755)
		unix.Close(pfd)
		if err != nil && err != unix.EEXIST {
			return err
		}
		cur = filepath.Join(cur, c)
	}
	return nil
}
