package syscalls

// seccomp(2) and prctl(2)'s PR_SET_SECCOMP and PR_GET_SECCOMP: the
// application's own filters, which the Sentry runs on each of its system
// calls (sentry/kernel/seccomp.go). Not supported: user notification
// (SECCOMP_FILTER_FLAG_NEW_LISTENER fails with EINVAL, as on kernels
// without it) and audit logging: SECCOMP_FILTER_FLAG_LOG is accepted,
// and what filters log (SECCOMP_RET_LOG, every action but ALLOW) goes to
// --strace only. SECCOMP_FILTER_FLAG_SPEC_ALLOW is accepted: speculation
// mitigations are the host's business.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SECCOMP, "seccomp", sysSeccomp, Int, Hex, Hex).partial("SECCOMP_FILTER_FLAG_NEW_LISTENER (user notification): EINVAL")
}

// seccompFilterFlags are the SECCOMP_FILTER_FLAG_* Linux defines.
const seccompFilterFlags = unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_LOG |
	unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER |
	unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV

// Sizes SECCOMP_GET_NOTIF_SIZES reports: struct seccomp_notif,
// seccomp_notif_resp and seccomp_data.
const (
	sizeofSeccompNotif     = 80
	sizeofSeccompNotifResp = 24
	sizeofSockFprog        = 16 // unsigned short len, pad, filter pointer
)

// seccomp(2): op and flags are unsigned int.
func sysSeccomp(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	op, flags, uargs := uint32(a[0]), uint32(a[1]), uintptr(a[2])
	switch op {
	case unix.SECCOMP_SET_MODE_STRICT:
		if flags != 0 || uargs != 0 {
			return 0, unix.EINVAL
		}
		return 0, t.SetSeccompStrict()
	case unix.SECCOMP_SET_MODE_FILTER:
		return seccompSetFilter(t, flags, uargs)
	case unix.SECCOMP_GET_ACTION_AVAIL:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		return 0, seccompActionAvail(t, uargs)
	case unix.SECCOMP_GET_NOTIF_SIZES:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		var b [6]byte
		binary.LittleEndian.PutUint16(b[0:], sizeofSeccompNotif)
		binary.LittleEndian.PutUint16(b[2:], sizeofSeccompNotifResp)
		binary.LittleEndian.PutUint16(b[4:], seccomp.SizeofData)
		return 0, t.CopyOut(uargs, b[:])
	}
	return 0, unix.EINVAL
}

// seccompSetFilter is SECCOMP_SET_MODE_FILTER, with its checks in Linux's
// order (seccomp_set_mode_filter): flags, the struct sock_fprog, the
// privilege, the program, the mode, the total length, TSYNC.
func seccompSetFilter(t *kernel.Task, flags uint32, addr uintptr) (uintptr, error) {
	switch {
	case flags&^seccompFilterFlags != 0:
		return 0, unix.EINVAL
	case flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 &&
		flags&unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH == 0:
		return 0, unix.EINVAL
	case flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 && flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0:
		return 0, unix.EINVAL
	case flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0:
		// No seccomp_unotify: refuse the flag as a kernel without it
		// does, which is how libseccomp and runc probe for it.
		return 0, unsupported(t, "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)", unix.EINVAL)
	}
	var fprog [sizeofSockFprog]byte
	if err := t.CopyIn(addr, fprog[:]); err != nil {
		return 0, err
	}
	n := int(binary.LittleEndian.Uint16(fprog[0:]))
	if n == 0 || n > seccomp.MaxInstructions {
		return 0, unix.EINVAL
	}
	if !mayInstallSeccompFilter(t) {
		return 0, unix.EACCES
	}
	b := make([]byte, n*seccomp.SizeofInstruction)
	if err := t.CopyIn(uintptr(binary.LittleEndian.Uint64(fprog[8:])), b); err != nil {
		return 0, err
	}
	f, err := seccomp.NewFilter(seccomp.DecodeProgram(b))
	if err != nil {
		return 0, unix.EINVAL // a malformed program, whatever is wrong with it
	}
	failed, err := t.AddSeccompFilter(f, flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0)
	switch {
	case err != nil:
		return 0, err
	case failed != 0 && flags&unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH != 0:
		return 0, unix.ESRCH
	case failed != 0:
		// The thread that could not be synchronised, as a positive
		// return value (seccomp(2), RETURN VALUE).
		return uintptr(failed), nil
	}
	return 0, nil
}

// mayInstallSeccompFilter reports whether t may install a filter: it
// needs CAP_SYS_ADMIN or no_new_privs (seccomp(2), EACCES), so that a
// filter cannot make a set-user-ID program it executes misbehave.
func mayInstallSeccompFilter(t *kernel.Task) bool {
	return t.Credentials().NoNewPrivs || t.HasCapability(unix.CAP_SYS_ADMIN)
}

// seccompActionAvail is SECCOMP_GET_ACTION_AVAIL. USER_NOTIF is reported
// unavailable (EOPNOTSUPP): filters may return it, but without a listener
// it only makes the call fail with ENOSYS.
func seccompActionAvail(t *kernel.Task, addr uintptr) error {
	var b [4]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return err
	}
	switch binary.LittleEndian.Uint32(b[:]) {
	case seccomp.ActionKillProcess, seccomp.ActionKillThread, seccomp.ActionTrap, seccomp.ActionErrno,
		seccomp.ActionTrace, seccomp.ActionLog, seccomp.ActionAllow:
		return nil
	}
	return unix.EOPNOTSUPP
}

// prctlSeccomp implements PR_SET_SECCOMP and PR_GET_SECCOMP (prctl(2)).
func prctlSeccomp(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[0] == unix.PR_GET_SECCOMP {
		// Strict mode kills a caller before it gets here: 0 or 2.
		return uintptr(t.SeccompMode()), nil
	}
	switch a[1] {
	case unix.SECCOMP_MODE_STRICT:
		// The filter argument is ignored (prctl_set_seccomp).
		return sysSeccomp(t, arch.SyscallArgs{unix.SECCOMP_SET_MODE_STRICT})
	case unix.SECCOMP_MODE_FILTER:
		return sysSeccomp(t, arch.SyscallArgs{unix.SECCOMP_SET_MODE_FILTER, 0, a[2]})
	}
	return 0, unix.EINVAL
}
