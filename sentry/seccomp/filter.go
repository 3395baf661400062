package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Data is struct seccomp_data, what a filter sees of a system call.
type Data struct {
	Nr   int32  // system call number
	Arch uint32 // AUDIT_ARCH_X86_64, or AUDIT_ARCH_I386 for int $0x80
	// InstructionPointer is the address just past the system call
	// instruction.
	InstructionPointer uint64
	Args               [6]uint64
}

// SizeofData is sizeof(struct seccomp_data); BPF_LEN loads it.
const SizeofData = 64

// word returns the 32-bit word at offset off of the structure's little
// endian memory image. off is a multiple of 4 below SizeofData (Validate
// guarantees it).
func (d *Data) word(off uint32) uint32 {
	var v uint64
	switch off {
	case 0:
		return uint32(d.Nr)
	case 4:
		return d.Arch
	case 8, 12:
		v = d.InstructionPointer
	default:
		v = d.Args[(off-16)/8]
	}
	if off%8 != 0 {
		return uint32(v >> 32)
	}
	return uint32(v)
}

// Filter is a validated seccomp program. It is immutable, so tasks share
// it.
type Filter struct {
	prog []Instruction
	// cache holds, for the native system calls whose result does not
	// depend on arguments or instruction pointer, that result: most
	// calls of most filters cost a table lookup (Linux caches the ALLOW
	// ones in the same way, see seccomp_cache_prepare_bitmap).
	cache  [cacheSize]uint32
	cached [cacheSize / 64]uint64
}

// cacheSize bounds the system call numbers cached; it covers the amd64
// table.
const cacheSize = 512

// NewFilter validates prog (see Validate) and returns it as a filter.
func NewFilter(prog []Instruction) (*Filter, error) {
	if err := Validate(prog); err != nil {
		return nil, err
	}
	f := &Filter{prog: append([]Instruction(nil), prog...)}
	for nr := int32(0); nr < cacheSize; nr++ {
		if ret, ok := constResult(f.prog, nr, unix.AUDIT_ARCH_X86_64); ok {
			f.cache[nr] = ret
			f.cached[nr/64] |= 1 << (nr % 64)
		}
	}
	return f, nil
}

// Len returns the number of instructions.
func (f *Filter) Len() int { return len(f.prog) }

// Run returns the filter's verdict on d: a SECCOMP_RET_* action in the
// upper 16 bits and its data below.
func (f *Filter) Run(d *Data) uint32 {
	if d.Arch == unix.AUDIT_ARCH_X86_64 && uint32(d.Nr) < cacheSize {
		if nr := uint32(d.Nr); f.cached[nr/64]&(1<<(nr%64)) != 0 {
			return f.cache[nr]
		}
	}
	return run(f.prog, d)
}

// The actions a filter can return, from the most restrictive to the
// least (seccomp(2), "Filter return values").
const (
	ActionKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	ActionKillThread  = unix.SECCOMP_RET_KILL_THREAD
	ActionTrap        = unix.SECCOMP_RET_TRAP
	ActionErrno       = unix.SECCOMP_RET_ERRNO
	ActionUserNotif   = unix.SECCOMP_RET_USER_NOTIF
	ActionTrace       = unix.SECCOMP_RET_TRACE
	ActionLog         = unix.SECCOMP_RET_LOG
	ActionAllow       = unix.SECCOMP_RET_ALLOW
)

// Action returns the action part of a filter's return value
// (SECCOMP_RET_ACTION_FULL).
func Action(ret uint32) uint32 { return ret & unix.SECCOMP_RET_ACTION_FULL }

// ActionData returns the data part of a return value (SECCOMP_RET_DATA):
// the errno of ERRNO, si_errno of TRAP's SIGSYS, the message of TRACE.
func ActionData(ret uint32) uint16 { return uint16(ret & unix.SECCOMP_RET_DATA) }

// MoreRestrictive reports whether return value a takes precedence over b
// when several filters are stacked. Linux compares the action parts as
// signed numbers (ACTION_ONLY in kernel/seccomp.c), so KILL_PROCESS
// (0x80000000) comes first, then KILL_THREAD (0), TRAP, ERRNO, USER_NOTIF,
// TRACE, LOG and ALLOW; an unknown action falls where its value puts it.
func MoreRestrictive(a, b uint32) bool { return int32(Action(a)) < int32(Action(b)) }

// ActionString names a return value, for logs: "ERRNO(1)", "ALLOW".
func ActionString(ret uint32) string {
	data := ActionData(ret)
	switch Action(ret) {
	case ActionKillProcess:
		return "KILL_PROCESS"
	case ActionKillThread:
		return "KILL_THREAD"
	case ActionTrap:
		return fmt.Sprintf("TRAP(%d)", data)
	case ActionErrno:
		return fmt.Sprintf("ERRNO(%d)", data)
	case ActionUserNotif:
		return "USER_NOTIF"
	case ActionTrace:
		return fmt.Sprintf("TRACE(%d)", data)
	case ActionLog:
		return "LOG"
	case ActionAllow:
		return "ALLOW"
	}
	return fmt.Sprintf("unknown action %#x (KILL_PROCESS)", ret)
}
