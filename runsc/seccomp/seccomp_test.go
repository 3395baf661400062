package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func filters() []Filter {
	return []Filter{SentryFilter(), HostNetworkSentryFilter(), GoferFilter(os.Getpid())}
}

func TestDefaultActionKillsProcess(t *testing.T) {
	if DefaultAction != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("DefaultAction = %#x, want SECCOMP_RET_KILL_PROCESS", DefaultAction)
	}
	for _, f := range filters() {
		if f.Default != DefaultAction {
			t.Errorf("%s: Default = %#x, want %#x", f.Name, f.Default, DefaultAction)
		}
	}
}

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	le := binary.LittleEndian
	le.PutUint32(b[0:], d.nr)
	le.PutUint32(b[4:], d.arch)
	le.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		le.PutUint64(b[16+8*i:], a)
	}
	return b
}

// run interprets prog on d as the kernel would (for the instructions the
// assembler emits) and returns the action.
func run(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	data := d.bytes()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || in.K+4 > uint32(len(data)) {
				t.Fatalf("pc %d: load at %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var cond bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				cond = acc == in.K
			case unix.BPF_JGT:
				cond = acc > in.K
			case unix.BPF_JSET:
				cond = acc&in.K != 0
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("pc %d: unexpected instruction %#x", pc, in.Code)
		}
	}
	t.Fatalf("fell off the end of the program")
	return 0
}

// want is what f says about d, computed from the rules directly.
func want(f Filter, d seccompData) uint32 {
	if d.arch != unix.AUDIT_ARCH_X86_64 || d.nr&x32SyscallBit != 0 {
		return f.Default
	}
	found := false
	var action uint32
	for _, r := range f.Rules {
		if uint32(r.Nr) != d.nr {
			continue
		}
		action = unix.SECCOMP_RET_ALLOW
		if r.Errno != 0 {
			action = unix.SECCOMP_RET_ERRNO | uint32(r.Errno)
		}
		if len(r.If) == 0 {
			return action
		}
		for _, c := range r.If {
			ok := true
			for _, a := range c {
				ok = ok && d.args[a.Index]&a.Mask == a.Value
			}
			found = found || ok
		}
	}
	if found {
		return action
	}
	return f.Default
}

// TestAssemble checks the compiled filters against their rules: every
// system call number, each rule's conditions met and missed, random
// arguments, other architectures and x32.
func TestAssemble(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range filters() {
		prog, err := f.Assemble()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		merged, _ := f.merge()
		t.Logf("%s: %d system calls, %d instructions", f.Name, len(merged), len(prog))
		check := func(d seccompData) {
			t.Helper()
			if got, want := run(t, prog, d), want(f, d); got != want {
				t.Fatalf("%s: %+v: got %#x, want %#x", f.Name, d, got, want)
			}
		}
		randomArgs := func() (a [6]uint64) {
			for i := range a {
				a[i] = rng.Uint64() >> (rng.IntN(4) * 16)
			}
			return a
		}
		for nr := uint32(0); nr < 1024; nr++ {
			check(seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64})
			check(seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64, args: randomArgs()})
			check(seccompData{nr: nr | x32SyscallBit, arch: unix.AUDIT_ARCH_X86_64})
			check(seccompData{nr: nr, arch: unix.AUDIT_ARCH_I386})
		}
		check(seccompData{nr: ^uint32(0), arch: unix.AUDIT_ARCH_X86_64})
		for _, r := range f.Rules {
			for _, c := range r.If {
				for range 20 {
					d := seccompData{nr: uint32(r.Nr), arch: unix.AUDIT_ARCH_X86_64, args: randomArgs()}
					for _, a := range c {
						d.args[a.Index] = a.Value | d.args[a.Index]&^a.Mask
					}
					check(d)
					// One bit wrong under the mask of one check.
					a := c[rng.IntN(len(c))]
					for {
						bit := uint64(1) << rng.IntN(64)
						if a.Mask&bit != 0 {
							d.args[a.Index] ^= bit
							break
						}
					}
					check(d)
				}
			}
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	for _, f := range []Filter{
		{Name: "empty"},
		{Name: "x32", Rules: []Rule{{Nr: x32SyscallBit | 1}}},
		{Name: "index", Rules: []Rule{{Nr: 1, If: []Cond{{Eq(6, 0)}}}}},
		{Name: "impossible", Rules: []Rule{{Nr: 1, If: []Cond{{Eq32(0, 1), {Index: 1, Mask: 1, Value: 2}}}}}},
		{Name: "empty cond", Rules: []Rule{{Nr: 1, If: []Cond{{}}}}},
		{Name: "actions", Rules: []Rule{{Nr: 1}, {Nr: 1, Errno: unix.ENOSYS}}},
	} {
		if _, err := f.Assemble(); err == nil {
			t.Errorf("%s: Assemble succeeded", f.Name)
		}
	}
	// Many rules with long conditions: jumps beyond a conditional jump's
	// 255 instructions must still work.
	f := Filter{Default: unix.SECCOMP_RET_KILL_PROCESS}
	for nr := uintptr(0); nr < 300; nr += 3 {
		f.Rules = append(f.Rules, Rule{Nr: nr, If: OneOf32(1, 1, 2, 3, 4, 5, 6, 7, 8, 9)})
	}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 1000 {
		t.Fatalf("only %d instructions", len(prog))
	}
	for nr := uint32(0); nr < 310; nr++ {
		for arg := uint64(0); arg < 11; arg++ {
			d := seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{0, arg}}
			if got, want := run(t, prog, d), want(f, d); got != want {
				t.Fatalf("%+v: got %#x, want %#x", d, got, want)
			}
		}
	}
}

// The filters for real: TestMain runs the cases of TestFiltersInProcess in
// a child process (a re-exec of the test binary) that installs the filter
// and then makes one system call.

const childEnv = "VEIL_SECCOMP_TEST_CHILD"

// exitCgo is the child's exit status when it cannot run the cases: with
// cgo, new threads come from pthread_create, whose clone the filters do
// not allow (runsc is built with CGO_ENABLED=0).
const exitCgo = 42

func TestMain(m *testing.M) {
	if c := os.Getenv(childEnv); c != "" {
		filter, name, _ := strings.Cut(c, ":")
		// Not os.Exit: its exit hooks (e.g. writing coverage data) would
		// make system calls the filters forbid.
		unix.Exit(child(filter, name))
	}
	os.Exit(m.Run())
}

// childCase is one system call to make under a filter. It returns an error
// if the call did not do what an allowed call does; a forbidden call does
// not return.
type childCase func() error

// errnoIs checks that err is one of want (0 for success).
func errnoIs(err error, want ...syscall.Errno) error {
	for _, w := range want {
		if (err == nil && w == 0) || (err != nil && errors.Is(err, w)) {
			return nil
		}
	}
	return fmt.Errorf("got %v, want one of %v", err, want)
}

func sys(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

func openRO() error {
	fd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// badFD is no file descriptor: calls on it fail with EBADF.
const badFD = 1<<31 - 1

// Cases that must work, and cases the filter must kill the process for.
// The killing ones use arguments that make the call harmless (or fail) if
// the filter wrongly let it through.
var (
	sentryOK = map[string]childCase{
		"open-readonly": openRO,
		"socketpair-unix": func() error {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				unix.Close(fds[0])
				unix.Close(fds[1])
			}
			return err
		},
		"ioctl-tcgets": func() error {
			_, err := unix.IoctlGetTermios(int(os.Stdout.Fd()), unix.TCGETS)
			return errnoIs(err, 0, unix.ENOTTY)
		},
		"clone3-enosys": func() error {
			return errnoIs(sys(unix.SYS_CLONE3, 0, 0), unix.ENOSYS)
		},
		"pipe": func() error {
			r, w, err := os.Pipe()
			if err != nil {
				return err
			}
			defer r.Close()
			defer w.Close()
			if _, err := w.Write([]byte("x")); err != nil {
				return err
			}
			_, err = r.Read(make([]byte, 1))
			return err
		},
		"getcpu": func() error {
			var cpu uint32
			return sys(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
		},
	}
	sentryKilled = map[string]childCase{
		"socket-inet":     func() error { return sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0) },
		"socketpair-inet": func() error { return sys(unix.SYS_SOCKETPAIR, unix.AF_INET, unix.SOCK_STREAM, 0, 0) },
		"open-write": func() error {
			_, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
			return err
		},
		"open-creat": func() error {
			_, err := unix.Open("/nonexistent/x", unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
			return err
		},
		"ioctl-tiocsti": func() error {
			var c byte
			return sys(unix.SYS_IOCTL, badFD, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
		},
		// CLONE_THREAD without CLONE_SIGHAND is invalid.
		"clone-newuser": func() error { return sys(unix.SYS_CLONE, unix.CLONE_NEWUSER|unix.CLONE_THREAD) },
		"ptrace-peek":   func() error { return sys(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0, 0, 0) },
		"prctl-dumpable": func() error {
			return sys(unix.SYS_PRCTL, unix.PR_GET_DUMPABLE)
		},
		"futex-requeue": func() error {
			var w uint32
			return sys(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&w)), 3 /* FUTEX_REQUEUE */, 0, 0, 0)
		},
		"unshare":   func() error { return sys(unix.SYS_UNSHARE, 0) },
		"x32":       func() error { return sys(unix.SYS_GETPID | x32SyscallBit) },
		"setuid":    func() error { return sys(unix.SYS_SETUID, uintptr(os.Getuid())) },
		"seccomp-0": func() error { return sys(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, 0) },
	}
	goferOK = map[string]childCase{
		"open-readonly": openRO,
		"socketpair-lane": func() error { // gofer/server.go lane
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			unix.Shutdown(fds[0], unix.SHUT_RDWR)
			unix.Close(fds[0])
			return unix.Close(fds[1])
		},
		"fgetxattr": func() error {
			fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, err = unix.Fgetxattr(fd, "user.veil-test", make([]byte, 16))
			return errnoIs(err, unix.ENODATA, unix.ENOTSUP)
		},
		"flistxattr": func() error {
			fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, err = unix.Flistxattr(fd, make([]byte, 256))
			return errnoIs(err, 0, unix.ENOTSUP)
		},
		"kill-self":   func() error { return unix.Kill(os.Getpid(), 0) },
		"tgkill-self": func() error { return unix.Tgkill(os.Getpid(), unix.Gettid(), 0) },
		"mknodat-socket": func() error {
			name := []byte("x\x00")
			return errnoIs(sys(unix.SYS_MKNODAT, badFD, uintptr(unsafe.Pointer(&name[0])), unix.S_IFSOCK|0o600, 0), unix.EBADF)
		},
		"mmap-rw": func() error {
			b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err == nil {
				unix.Munmap(b)
			}
			return err
		},
	}
	goferKilled = map[string]childCase{
		"mknodat-fifo": func() error {
			name := []byte("x\x00")
			return sys(unix.SYS_MKNODAT, badFD, uintptr(unsafe.Pointer(&name[0])), unix.S_IFIFO|0o600, 0)
		},
		"mknodat-device": func() error {
			name := []byte("x\x00")
			return sys(unix.SYS_MKNODAT, badFD, uintptr(unsafe.Pointer(&name[0])), unix.S_IFSOCK|0o600, 0x0103)
		},
		"socket-unix":     func() error { return sys(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0) },
		"socketpair-inet": func() error { return sys(unix.SYS_SOCKETPAIR, unix.AF_INET, unix.SOCK_STREAM, 0, 0) },
		"socketpair-unix-stream": func() error {
			return sys(unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, 0)
		},
		"kill-other": func() error { return unix.Kill(1, 0) },
		"tgkill-other": func() error {
			return unix.Tgkill(1, 1, 0)
		},
		"execve": func() error {
			return unix.Exec("/nonexistent", []string{"x"}, nil)
		},
		"mmap-exec": func() error {
			_, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			return err
		},
		"mprotect-exec": func() error { return sys(unix.SYS_MPROTECT, 0, 0, unix.PROT_EXEC) },
		"fork":          func() error { return sys(unix.SYS_CLONE, unix.CLONE_THREAD) }, // invalid without CLONE_SIGHAND
		"ioctl":         func() error { return sys(unix.SYS_IOCTL, badFD, unix.TCGETS, 0) },
		"ptrace":        func() error { return sys(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0, 0, 0) },
		"mount":         func() error { return sys(unix.SYS_MOUNT, 0, 0, 0, 0, 0) },
		// Path-based attribute calls would follow host paths.
		"getxattr-path": func() error { return sys(unix.SYS_GETXATTR, 0, 0, 0, 0) },
		"setxattr-path": func() error { return sys(unix.SYS_LSETXATTR, 0, 0, 0, 0, 0) },
	}
)

// The --network=host filter: the Sentry's host sockets work; sockets
// the application did not ask for through hostinet's rules do not.
var (
	hostNetOK = map[string]childCase{
		"socket-tcp": func() error { return closeSocket(unix.AF_INET, unix.SOCK_STREAM|hostSocketType, 0) },
		"socket-udp6": func() error {
			return closeSocket(unix.AF_INET6, unix.SOCK_DGRAM|hostSocketType, unix.IPPROTO_UDP)
		},
		"bind-listen": func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|hostSocketType, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
				return err
			}
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			return unix.Listen(fd, 1)
		},
	}
	hostNetKilled = map[string]childCase{
		"socket-packet": func() error { return closeSocket(unix.AF_PACKET, unix.SOCK_RAW|hostSocketType, 0) },
		"socket-raw":    func() error { return closeSocket(unix.AF_INET, unix.SOCK_RAW|hostSocketType, unix.IPPROTO_ICMP) },
		"socket-netlink": func() error {
			return closeSocket(unix.AF_NETLINK, unix.SOCK_RAW|hostSocketType, unix.NETLINK_ROUTE)
		},
		"socket-sctp": func() error {
			return closeSocket(unix.AF_INET, unix.SOCK_STREAM|hostSocketType, unix.IPPROTO_SCTP)
		},
		"socket-blocking": func() error { return closeSocket(unix.AF_INET, unix.SOCK_STREAM, 0) },
		"setsockopt-sol-raw": func() error {
			return sys(unix.SYS_SETSOCKOPT, badFD, unix.SOL_RAW, 1, 0, 0)
		},
	}
)

func closeSocket(domain, typ, proto int) error {
	fd, err := unix.Socket(domain, typ, proto)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func childCases(filter string) (ok, killed map[string]childCase, f Filter) {
	switch filter {
	case "sentry":
		return sentryOK, sentryKilled, SentryFilter()
	case "sentry-hostnet":
		// Everything the plain filter allows or kills, plus the host
		// sockets.
		ok, killed := maps.Clone(sentryOK), maps.Clone(sentryKilled)
		maps.Copy(ok, hostNetOK)
		maps.Copy(killed, hostNetKilled)
		return ok, killed, HostNetworkSentryFilter()
	case "gofer":
		return goferOK, goferKilled, GoferFilter(os.Getpid())
	}
	panic("unknown filter " + filter)
}

// child installs filter and runs case name. It prints "armed" just before
// the call, so the parent can tell the call killed it.
func child(filter, name string) int {
	ok, killed, f := childCases(filter)
	c := ok[name]
	if c == nil {
		c = killed[name]
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0); e == unix.ENOTSUP {
		return exitCgo
	}
	runtime.LockOSThread()
	// Set on this thread only: TSYNC gives it to the others.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 1
	}
	if err := install(f); err != nil {
		fmt.Println(err)
		return 1
	}
	exerciseRuntime()
	fmt.Println("armed")
	if err := c(); err != nil {
		fmt.Println("call failed:", err)
		return 1
	}
	fmt.Println("survived")
	return 0
}

// exerciseRuntime makes the Go runtime do, under the filter, what it does
// in a long-running helper: collect garbage, start and end threads, sleep,
// preempt, wait for signals.
func exerciseRuntime() {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Ending locked makes the runtime end the thread too.
			runtime.LockOSThread()
			b := make([][]byte, 0, 64)
			for j := range 64 {
				b = append(b, make([]byte, 64<<10))
				b[j][0] = 1
			}
			time.Sleep(time.Millisecond)
			deadline := time.Now().Add(20 * time.Millisecond)
			for time.Now().Before(deadline) { // preempted by sysmon
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	runtime.GC()
}

func TestFiltersInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per case")
	}
	for _, filter := range []string{"sentry", "sentry-hostnet", "gofer"} {
		ok, killed, _ := childCases(filter)
		for name := range ok {
			t.Run(filter+"/allowed/"+name, func(t *testing.T) {
				t.Parallel()
				out, ws := runChild(t, filter, name)
				if !ws.Exited() || ws.ExitStatus() != 0 || !strings.Contains(out, "armed\nsurvived\n") {
					t.Errorf("wait status %#x, output:\n%s", uint32(ws), out)
				}
			})
		}
		for name := range killed {
			t.Run(filter+"/killed/"+name, func(t *testing.T) {
				t.Parallel()
				out, ws := runChild(t, filter, name)
				if !ws.Signaled() || ws.Signal() != unix.SIGSYS || !strings.HasSuffix(out, "armed\n") {
					t.Errorf("wait status %#x (want death by SIGSYS after \"armed\"), output:\n%s", uint32(ws), out)
				}
			})
		}
	}
}

func runChild(t *testing.T, filter, name string) (string, syscall.WaitStatus) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+filter+":"+name, "GOTRACEBACK=none")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Exited() && ws.ExitStatus() == exitCgo {
		t.Skip("test binary uses cgo: its threads come from pthread_create")
	}
	return string(out), ws
}
