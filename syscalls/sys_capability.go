package syscalls

// Capabilities: capget(2), capset(2) and the capability and privilege
// options of prctl(2) (PR_CAPBSET_*, PR_CAP_AMBIENT, PR_*_KEEPCAPS,
// PR_*_SECUREBITS, PR_*_NO_NEW_PRIVS). The rules live in the kernel's
// Credentials; see capabilities(7).

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_CAPGET, "capget", sysCapget, Hex, Hex)
	register(unix.SYS_CAPSET, "capset", sysCapset, Hex, Hex)
}

// capDataSize is sizeof(struct __user_cap_data_struct): effective,
// permitted, inheritable, 32 bits each.
const capDataSize = 12

// capVersion reads the version of the struct __user_cap_header_struct at
// addr and returns the number of 32-bit data words it uses (1 for
// version 1, 2 for versions 2 and 3). An unknown version is EINVAL, after
// the preferred one (3) is written back so callers can probe for it
// (capget(2)).
func capVersion(t *kernel.Task, addr uintptr) (words int, err error) {
	var b [4]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	switch binary.LittleEndian.Uint32(b[:]) {
	case unix.LINUX_CAPABILITY_VERSION_1:
		return 1, nil
	case unix.LINUX_CAPABILITY_VERSION_2, unix.LINUX_CAPABILITY_VERSION_3:
		return 2, nil
	}
	binary.LittleEndian.PutUint32(b[:], unix.LINUX_CAPABILITY_VERSION_3)
	if err := t.CopyOut(addr, b[:]); err != nil {
		return 0, err
	}
	return 0, unix.EINVAL
}

// capPID reads the header's pid field.
func capPID(t *kernel.Task, addr uintptr) (int32, error) {
	var b [4]byte
	if err := t.CopyIn(addr+4, b[:]); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b[:])), nil
}

// sysCapget implements capget(2). A NULL data pointer succeeds without
// looking further, even for an unknown version (the version probe); pid
// 0 is the caller, another pid any thread of the sandbox.
func sysCapget(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	hdr, data := uintptr(a[0]), uintptr(a[1])
	words, err := capVersion(t, hdr)
	if data == 0 && (err == nil || err == unix.EINVAL) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := capPID(t, hdr)
	if err != nil {
		return 0, err
	}
	if pid < 0 {
		return 0, unix.EINVAL
	}
	sets, err := t.TaskCapabilities(kernel.ThreadID(pid))
	if err != nil {
		return 0, err
	}
	b := make([]byte, 2*capDataSize)
	for i := 0; i < 2; i++ {
		shift := 32 * i
		binary.LittleEndian.PutUint32(b[i*capDataSize:], uint32(sets.Effective>>shift))
		binary.LittleEndian.PutUint32(b[i*capDataSize+4:], uint32(sets.Permitted>>shift))
		binary.LittleEndian.PutUint32(b[i*capDataSize+8:], uint32(sets.Inheritable>>shift))
	}
	// Version 1 callers get the low 32 capabilities only, as in Linux.
	return 0, t.CopyOut(data, b[:words*capDataSize])
}

// sysCapset implements capset(2): only on the calling thread (EPERM for
// any other pid, as on every Linux with file capabilities). Version 1
// data clears the capabilities above 31.
func sysCapset(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	hdr, data := uintptr(a[0]), uintptr(a[1])
	words, err := capVersion(t, hdr)
	if err != nil {
		return 0, err
	}
	pid, err := capPID(t, hdr)
	if err != nil {
		return 0, err
	}
	if !t.IsSelf(kernel.ThreadID(pid)) {
		return 0, unix.EPERM
	}
	b := make([]byte, 2*capDataSize)
	if err := t.CopyIn(data, b[:words*capDataSize]); err != nil {
		return 0, err
	}
	var e, p, i kernel.CapSet
	for w := 0; w < 2; w++ {
		shift := 32 * w
		e |= kernel.CapSet(binary.LittleEndian.Uint32(b[w*capDataSize:])) << shift
		p |= kernel.CapSet(binary.LittleEndian.Uint32(b[w*capDataSize+4:])) << shift
		i |= kernel.CapSet(binary.LittleEndian.Uint32(b[w*capDataSize+8:])) << shift
	}
	return 0, t.Capset(e, p, i)
}

// prctlCapability implements prctl(2)'s capability and privilege
// options; handled is false for any other option.
func prctlCapability(t *kernel.Task, a arch.SyscallArgs) (rv uintptr, handled bool, err error) {
	c := t.Credentials()
	switch int(a[0]) {
	case unix.PR_CAPBSET_READ:
		if a[1] > kernel.LastCap {
			return 0, true, unix.EINVAL
		}
		return boolRet(c.Bounding.Has(int(a[1]))), true, nil
	case unix.PR_CAPBSET_DROP:
		return 0, true, t.DropBoundingCapability(a[1])
	case unix.PR_CAP_AMBIENT:
		rv, err := t.AmbientCapability(a[1], a[2], a[3], a[4])
		return rv, true, err
	case unix.PR_GET_KEEPCAPS:
		return boolRet(c.SecureBits&kernel.SecbitKeepCaps != 0), true, nil
	case unix.PR_SET_KEEPCAPS:
		return 0, true, t.SetKeepCaps(a[1])
	case unix.PR_GET_SECUREBITS:
		return uintptr(c.SecureBits), true, nil
	case unix.PR_SET_SECUREBITS:
		return 0, true, t.SetSecureBits(a[1])
	case unix.PR_GET_NO_NEW_PRIVS:
		if a[1]|a[2]|a[3]|a[4] != 0 {
			return 0, true, unix.EINVAL
		}
		return boolRet(c.NoNewPrivs), true, nil
	case unix.PR_SET_NO_NEW_PRIVS:
		if a[1] != 1 || a[2]|a[3]|a[4] != 0 {
			return 0, true, unix.EINVAL
		}
		t.SetNoNewPrivs()
		return 0, true, nil
	}
	return 0, false, nil
}

func boolRet(b bool) uintptr {
	if b {
		return 1
	}
	return 0
}
