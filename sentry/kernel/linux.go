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

// Securebits (include/uapi/linux/securebits.h), for prctl(2)
// PR_SET_SECUREBITS; x/sys/unix lacks them. Each base flag has a
// "locked" companion one bit above it.
const (
	SecbitNoRoot                  = 1 << 0
	SecbitNoRootLocked            = 1 << 1
	SecbitNoSetuidFixup           = 1 << 2
	SecbitNoSetuidFixupLocked     = 1 << 3
	SecbitKeepCaps                = 1 << 4
	SecbitKeepCapsLocked          = 1 << 5
	SecbitNoCapAmbientRaise       = 1 << 6
	SecbitNoCapAmbientRaiseLocked = 1 << 7

	// secbitsBase and secbitsLocks are Linux 6.1's SECURE_ALL_BITS and
	// SECURE_ALL_LOCKS: the bits PR_SET_SECUREBITS accepts.
	secbitsBase  = SecbitNoRoot | SecbitNoSetuidFixup | SecbitKeepCaps | SecbitNoCapAmbientRaise
	secbitsLocks = secbitsBase << 1
)

func sleepBriefly() { time.Sleep(100 * time.Microsecond) }
