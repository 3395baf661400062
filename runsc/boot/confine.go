package boot

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// clocksourceDir is the one host directory the Sentry reads besides
// /proc: the vDSO checks the host's clocksource before trusting the TSC.
const clocksourceDir = "/sys/devices/system/clocksource/clocksource0"

// ConfineSentry prepares the Sentry's own namespaces (runsc starts it with
// new pid, mount, network, IPC and UTS namespaces): it pivots into an
// empty tmpfs root that holds only a /proc of the Sentry's pid namespace
// (the ptrace platform finds its stub processes there) and a read-only
// view of the host's clocksource. The Sentry never opens host files by
// path again; files reach it from the gofer.
func ConfineSentry() error {
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// Any existing directory can hold the new root's tmpfs: the mount is
	// private to this namespace and detached below.
	const newRoot = "/tmp"
	if err := unix.Mount("veil-sentry-root", newRoot, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k,mode=0755"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	if err := os.MkdirAll(newRoot+"/proc", 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", newRoot+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if _, err := os.Stat(clocksourceDir); err == nil {
		dst := newRoot + clocksourceDir
		if err := os.MkdirAll(dst, 0o555); err != nil {
			return err
		}
		if err := unix.Mount(clocksourceDir, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", clocksourceDir, err)
		}
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", clocksourceDir, err)
		}
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("read-only root: %w", err)
	}
	return os.Chdir("/")
}
