package gofer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	if err := pivotInto(root); err != nil {
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

func pivotInto(root string) error {
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
// its parent (or, if the parent cannot be inspected, with pid 1).
func checkPrivateMountNS() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("cannot determine mount namespace: %w", err)
	}
	for _, pid := range []int{os.Getppid(), 1} {
		other, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
		if err != nil {
			continue
		}
		if other == self {
			return errors.New("not in a private mount namespace (start the gofer with CLONE_NEWNS)")
		}
		return nil
	}
	return nil
}
