package syscalls

// membarrier(2) (sentry/kernel/membarrier.go).

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_MEMBARRIER, "membarrier", sysMembarrier, Int, Hex, Int).partial("the rseq commands (no rseq(2)): EINVAL")
}

// membarrierFlagCPU is MEMBARRIER_CMD_FLAG_CPU, only valid with the rseq
// command.
const membarrierFlagCPU = 1

func sysMembarrier(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	cmd, flags := int(int32(a[0])), a[1]
	if flags != 0 {
		// Only MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ takes a flag.
		return 0, unix.EINVAL
	}
	switch cmd {
	case kernel.MembarrierPrivateExpeditedRseq, kernel.MembarrierRegisterPrivateExpeditedRseq:
		return 0, unsupported(t, "membarrier(rseq)", unix.EINVAL)
	}
	return t.Membarrier(cmd)
}
