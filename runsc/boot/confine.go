package boot

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ConfineSentry prepares the Sentry's own namespaces (runsc starts it with
// new pid, mount, network, IPC and UTS namespaces): mounts become private
// and /proc is remounted so it describes the Sentry's pid namespace, which
// the ptrace platform relies on to find its stub processes.
func ConfineSentry() error {
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}
