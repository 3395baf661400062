package kernel

import (
	"time"

	"golang.org/x/sys/unix"
)

// Linux ABI values x/sys/unix lacks.
const (
	// si_code values for SIGCHLD.
	CLD_EXITED    = 1
	CLD_KILLED    = 2
	CLD_DUMPED    = 3
	CLD_TRAPPED   = 4
	CLD_STOPPED   = 5
	CLD_CONTINUED = 6

	sigRTMin    = unix.Signal(32)
	minSigStkSz = 2048
)

func sleepBriefly() { time.Sleep(100 * time.Microsecond) }
