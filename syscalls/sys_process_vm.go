package syscalls

// process_vm_readv(2) and process_vm_writev(2) between processes of the
// sandbox, with ptrace's permission rules (PTRACE_MODE_ATTACH_REALCREDS).

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_PROCESS_VM_READV, "process_vm_readv", sysProcessVMReadv, Int, Hex, Int, Hex, Int, Hex)
	register(unix.SYS_PROCESS_VM_WRITEV, "process_vm_writev", sysProcessVMWritev, Int, Hex, Int, Hex, Int, Hex)
}

func sysProcessVMReadv(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return processVM(t, a, false)
}

func sysProcessVMWritev(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return processVM(t, a, true)
}

// processVM copies between the caller's local iovecs and another
// process's remote ones, in order. As the man page says, it stops at the
// first remote or local fault and returns the bytes copied so far; only a
// fault before anything was copied is an error (EFAULT).
func processVM(t *kernel.Task, a arch.SyscallArgs, write bool) (uintptr, error) {
	pid, flags := int32(a[0]), a[5]
	if flags != 0 {
		return 0, unix.EINVAL
	}
	local, err := copyInIovecs(t, uintptr(a[1]), a[2])
	if err != nil {
		return 0, err
	}
	remote, err := copyInIovecs(t, uintptr(a[3]), a[4])
	if err != nil {
		return 0, err
	}
	if pid <= 0 {
		return 0, unix.ESRCH
	}
	// pid is a thread id of the caller's pid namespace.
	target, err := t.LookupTask(kernel.ThreadID(pid))
	if err != nil {
		return 0, err
	}
	if err := t.PtraceMayAttach(target); err != nil {
		return 0, err
	}
	rm := target.MemoryManager()
	var done uintptr
	buf := make([]byte, 64<<10)
	li, loff := 0, 0
	for _, r := range remote {
		roff := 0
		for roff < r.n {
			for li < len(local) && loff == local[li].n {
				li, loff = li+1, 0
			}
			if li == len(local) {
				return done, nil
			}
			n := min(r.n-roff, local[li].n-loff, len(buf))
			b := buf[:n]
			var got int
			var ferr error
			if write {
				if err := t.CopyIn(local[li].addr+uintptr(loff), b); err != nil {
					ferr = err
				} else {
					got, ferr = rm.CopyOut(r.addr+uintptr(roff), b)
				}
			} else {
				got, ferr = rm.CopyIn(r.addr+uintptr(roff), b)
				if got > 0 {
					if err := t.CopyOut(local[li].addr+uintptr(loff), b[:got]); err != nil {
						got, ferr = 0, err
					}
				}
			}
			done += uintptr(got)
			roff += got
			loff += got
			if ferr != nil {
				if done == 0 {
					return 0, unix.EFAULT
				}
				return done, nil
			}
		}
	}
	return done, nil
}
