package syscalls

// NUMA memory policy: get_mempolicy(2), set_mempolicy(2), mbind(2),
// migrate_pages(2) and move_pages(2), answered as Linux does on a machine
// with one memory node (node 0): policies are checked and remembered per
// thread (set_mempolicy), every page is on node 0, and nothing ever
// moves.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_GET_MEMPOLICY, "get_mempolicy", sysGetMempolicy, Hex, Hex, Int, Hex, Hex).partial("one node; mbind policies of ranges are not remembered (MPOL_F_ADDR reports the thread's)")
	register(unix.SYS_SET_MEMPOLICY, "set_mempolicy", sysSetMempolicy, Int, Hex, Int)
	register(unix.SYS_MBIND, "mbind", sysMbind, Hex, Int, Int, Hex, Int, Hex).partial("one node: checked, not remembered")
	register(unix.SYS_MIGRATE_PAGES, "migrate_pages", sysMigratePages, Int, Int, Hex, Hex)
	register(unix.SYS_MOVE_PAGES, "move_pages", sysMovePages, Int, Int, Hex, Hex, Hex, Hex)
	refuse(unix.SYS_SET_MEMPOLICY_HOME_NODE, "set_mempolicy_home_node", unix.ENOSYS, "not implemented (Linux 5.17+)")
}

// Memory policy modes and flags (include/uapi/linux/mempolicy.h).
const (
	mpolDefault       = 0
	mpolPreferred     = 1
	mpolBind          = 2
	mpolInterleave    = 3
	mpolLocal         = 4
	mpolPreferredMany = 5
	mpolMax           = 6

	mpolFStaticNodes   = 1 << 15
	mpolFRelativeNodes = 1 << 14
	mpolFNumaBalancing = 1 << 13
	mpolModeFlags      = mpolFStaticNodes | mpolFRelativeNodes | mpolFNumaBalancing

	mpolFNode        = 1 << 0
	mpolFAddr        = 1 << 1
	mpolFMemsAllowed = 1 << 2

	mpolMFStrict  = 1 << 0
	mpolMFMove    = 1 << 1
	mpolMFMoveAll = 1 << 2
)

// copyInNodemask reads a nodemask of maxnode bits as Linux's get_nodes
// does (one bit fewer than maxnode; EINVAL past a page of bits) and
// reports whether it is empty and whether it names only node 0. A NULL
// mask is empty.
func copyInNodemask(t *kernel.Task, addr uintptr, maxnode uint64) (empty, onlyNode0 bool, err error) {
	if maxnode > 0 {
		maxnode--
	}
	if maxnode == 0 || addr == 0 {
		return true, true, nil
	}
	if maxnode > 4096*8 {
		return false, false, unix.EINVAL
	}
	b := make([]byte, (maxnode+63)/64*8)
	if err := t.CopyIn(addr, b); err != nil {
		return false, false, err
	}
	// Bits at or beyond maxnode are ignored.
	for i := maxnode; i < uint64(len(b))*8; i++ {
		b[i/8] &^= 1 << (i % 8)
	}
	empty, onlyNode0 = true, true
	for i, c := range b {
		if c != 0 {
			empty = false
		}
		if (i == 0 && c&^1 != 0) || (i > 0 && c != 0) {
			onlyNode0 = false
		}
	}
	return empty, onlyNode0, nil
}

// checkPolicy validates a mode (with its flags) and nodemask as
// mpol_new does for a one-node machine.
func checkPolicy(t *kernel.Task, mode uint64, mask uintptr, maxnode uint64) (int, error) {
	flags := mode & mpolModeFlags
	m := mode &^ mpolModeFlags
	if m >= mpolMax || flags&mpolFStaticNodes != 0 && flags&mpolFRelativeNodes != 0 {
		return 0, unix.EINVAL
	}
	if flags&mpolFNumaBalancing != 0 && m != mpolBind && m != mpolPreferredMany {
		return 0, unix.EINVAL
	}
	empty, only0, err := copyInNodemask(t, mask, maxnode)
	if err != nil {
		return 0, err
	}
	switch m {
	case mpolDefault, mpolLocal:
		if !empty {
			return 0, unix.EINVAL
		}
	case mpolPreferred:
		if !empty && !only0 {
			return 0, unix.EINVAL
		}
	case mpolBind, mpolInterleave, mpolPreferredMany:
		if empty || !only0 {
			return 0, unix.EINVAL
		}
	}
	return int(mode), nil
}

func sysSetMempolicy(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	mode, err := checkPolicy(t, a[0], uintptr(a[1]), a[2])
	if err != nil {
		return 0, err
	}
	t.SetMempolicy(mode)
	return 0, nil
}

// get_mempolicy(2).
func sysGetMempolicy(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	modeAddr, maskAddr, maxnode, addr, flags := uintptr(a[0]), uintptr(a[1]), a[2], uintptr(a[3]), a[4]
	if flags&^(mpolFNode|mpolFAddr|mpolFMemsAllowed) != 0 {
		return 0, unix.EINVAL
	}
	if maskAddr != 0 && maxnode < 1 {
		return 0, unix.EINVAL
	}
	mode := t.Mempolicy()
	nodes := uint64(0)
	switch {
	case flags&mpolFMemsAllowed != 0:
		if flags&(mpolFNode|mpolFAddr) != 0 {
			return 0, unix.EINVAL
		}
		mode, nodes = mpolDefault, 1
	case flags&mpolFAddr != 0:
		var b [1]byte
		if _, err := t.MemoryManager().CopyInForce(addr, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		if flags&mpolFNode != 0 {
			mode = 0 // the node of the page
		}
	case flags&mpolFNode != 0:
		if mode&^mpolModeFlags != mpolInterleave {
			return 0, unix.EINVAL
		}
		mode = 0 // the next interleave node
	}
	if mode&^mpolModeFlags != mpolDefault && mode&^mpolModeFlags != mpolLocal && flags&mpolFNode == 0 {
		nodes = 1
	}
	if modeAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(mode))
		if err := t.CopyOut(modeAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if maskAddr != 0 {
		// copy_nodes_to_user: maxnode-1 bits, in whole longs.
		n := (maxnode - 1 + 63) / 64 * 8
		if n > 0 {
			b := make([]byte, min(n, 4096))
			b[0] = byte(nodes)
			if err := t.CopyOut(maskAddr, b); err != nil {
				return 0, err
			}
		}
	}
	return 0, nil
}

// mbind(2): start page aligned, flags known, MPOL_MF_MOVE_ALL needs
// CAP_SYS_NICE, the range mapped (EFAULT for holes).
func sysMbind(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	start, length, flags := a[0], a[1], a[5]
	if flags&^(mpolMFStrict|mpolMFMove|mpolMFMoveAll) != 0 || start&4095 != 0 {
		return 0, unix.EINVAL
	}
	if flags&mpolMFMoveAll != 0 && !t.HasCapability(unix.CAP_SYS_NICE) {
		return 0, unix.EPERM
	}
	mode := a[2]
	if mode&mpolFNumaBalancing != 0 {
		return 0, unix.EINVAL
	}
	if _, err := checkPolicy(t, mode, uintptr(a[3]), a[4]); err != nil {
		return 0, err
	}
	length = (length + 4095) &^ 4095
	if start+length < start {
		return 0, unix.EINVAL
	}
	var b [1]byte
	for p := start; p < start+length; p += 4096 {
		if _, err := t.MemoryManager().CopyInForce(uintptr(p), b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

// migrate_pages(2): nothing can move on one node; it returns 0 pages not
// moved. The new nodes must be node 0.
func sysMigratePages(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if _, _, err := copyInNodemask(t, uintptr(a[2]), a[1]); err != nil {
		return 0, err
	}
	empty, only0, err := copyInNodemask(t, uintptr(a[3]), a[1])
	if err != nil {
		return 0, err
	}
	if !empty && !only0 {
		return 0, unix.EINVAL
	}
	target, err := moveTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	if target.ThreadGroup() != t.ThreadGroup() && !t.HasCapability(unix.CAP_SYS_NICE) {
		if err := t.PtraceMayAccess(target); err != nil {
			return 0, unix.EPERM
		}
	}
	return 0, nil
}

func moveTarget(t *kernel.Task, pid int32) (*kernel.Task, error) {
	if pid == 0 {
		return t, nil
	}
	if pid < 0 {
		return nil, unix.ESRCH
	}
	// pid is a thread id of the caller's pid namespace.
	return t.LookupTask(kernel.ThreadID(pid))
}

// move_pages(2): with nodes NULL, status gets each page's node (0) or
// -EFAULT for an unmapped one; otherwise every node must be 0 (ENODEV)
// and the pages stay where they are.
func sysMovePages(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	count, pages, nodes, status, flags := a[1], uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), a[5]
	if flags&^(mpolMFMove|mpolMFMoveAll) != 0 {
		return 0, unix.EINVAL
	}
	if flags&mpolMFMoveAll != 0 && !t.HasCapability(unix.CAP_SYS_NICE) {
		return 0, unix.EPERM
	}
	target, err := moveTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	if err := t.PtraceMayAccess(target); err != nil {
		return 0, unix.EPERM
	}
	if count > 1<<20 {
		return 0, unix.E2BIG
	}
	for i := uint64(0); i < count; i++ {
		var pb [8]byte
		if err := t.CopyIn(pages+uintptr(8*i), pb[:]); err != nil {
			return 0, err
		}
		if nodes != 0 {
			var nb [4]byte
			if err := t.CopyIn(nodes+uintptr(4*i), nb[:]); err != nil {
				return 0, err
			}
			n := int32(binary.LittleEndian.Uint32(nb[:]))
			if n < 0 || n >= 1024 {
				return 0, unix.EINVAL
			}
			if n != 0 {
				return 0, unix.ENODEV
			}
		}
		st := int32(0)
		var b [1]byte
		if _, err := target.MemoryManager().CopyInForce(uintptr(binary.LittleEndian.Uint64(pb[:])), b[:]); err != nil {
			st = -int32(unix.EFAULT)
		}
		var sb [4]byte
		binary.LittleEndian.PutUint32(sb[:], uint32(st))
		if err := t.CopyOut(status+uintptr(4*i), sb[:]); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
