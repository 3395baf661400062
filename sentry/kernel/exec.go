package kernel

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/loader"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

// maxArgBytes bounds argv+envp (Linux allows a quarter of the stack
// rlimit; 2 MiB for the default 8 MiB).
const maxArgBytes = 2 << 20

// Executable is an opened program: the VFS gives the kernel one. It is
// released as soon as loading ends: mappings of it read through its
// inode's page cache, which does not depend on this open file.
type Executable interface {
	loader.File
	// Path is the path the file was opened by (for /proc/self/exe).
	Path() string
	// Release closes the file.
	Release()
}

// OpenExecutable opens path for execution on behalf of t.
type OpenExecutable func(t *Task, path string) (Executable, error)

// Execve replaces t's program. open resolves and opens the program and its
// interpreter. On success it returns ErrNoReturn; the registers are those
// of the new program.
func (t *Task) Execve(open OpenExecutable, path string, argv, envv []string) error {
	size := 0
	for _, s := range append(argv, envv...) {
		size += len(s) + 1 + 8
	}
	if size > maxArgBytes {
		return unix.E2BIG
	}
	creds, secure := t.Credentials().ExecCredentials()
	newMM, exePath, res, err := t.k.loadProgram(t, open, path, argv, envv, creds, secure)
	if err != nil {
		return err
	}

	// Point of no return: other threads die, the old memory goes.
	if err := t.killOtherThreads(); err != nil {
		newMM.DecUsers()
		return err
	}
	old := t.mm
	t.mm = newMM
	newMM.OwnerPID.Store(int32(t.tg.tgid))
	t.tg.recordMaxRSS(old.MaxResidentBytes())
	old.DecUsers()
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	t.fdTable.CloseOnExec()
	t.tg.DeleteAllTimers() // POSIX timers do not survive execve
	t.setCredentials(creds)

	k := t.k
	k.mu.Lock()
	tg := t.tg
	// Handlers reset to default; ignored stay ignored. A handler table
	// shared with another process (CLONE_SIGHAND) is unshared.
	h := tg.handlers.clone()
	for i := range h.acts {
		if h.acts[i].Handler != sigIGN {
			h.acts[i] = arch.SignalAct{}
		}
	}
	tg.handlers = h
	t.altStack = arch.SignalStack{Flags: arch.SS_DISABLE}
	tg.execPath = exePath
	k.mu.Unlock()
	t.name = baseName(path)
	t.clearTID = 0
	t.robustList = 0
	t.regs = arch.InitialRegisters(uint64(res.Entry), uint64(res.Stack))
	t.regs.Orig_rax = ^uint64(0)
	if err := t.ctx.SetFPState(k.initFP); err != nil {
		return err
	}
	return ErrNoReturn
}

// loadProgram opens path and loads it into a new address space.
// It returns the path the program was opened by, for /proc/self/exe.
// creds are the credentials the program will run with; secure is
// AT_SECURE.
func (k *Kernel) loadProgram(t *Task, open OpenExecutable, path string, argv, envv []string, creds *Credentials, secure bool) (*mm.MemoryManager, string, loader.Result, error) {
	exe, err := open(t, path)
	if err != nil {
		return nil, "", loader.Result{}, err
	}
	opened := []Executable{exe}
	defer func() {
		for _, f := range opened {
			f.Release()
		}
	}()
	newMM, err := k.NewMemoryManager()
	if err != nil {
		return nil, "", loader.Result{}, err
	}
	var random [16]byte
	rand.Read(random[:])
	stack, _ := t.tg.limits.Get(unix.RLIMIT_STACK)
	res, err := loader.Load(newMM, exe, loader.Args{
		Argv: argv, Envv: envv, Filename: path, Random: random,
		UID: creds.UID, EUID: creds.EUID, GID: creds.GID, EGID: creds.EGID, Secure: secure,
		OpenInterp: func(p string) (loader.File, error) {
			f, err := open(t, p)
			if err != nil {
				return nil, err
			}
			opened = append(opened, f)
			return f, nil
		},
		VDSO:      k.VDSO,    // veil: vdso
		StackSize: stack.Cur, // RLIMIT_STACK (rlimit.go)
	})
	if err != nil {
		newMM.DecUsers()
		var errno unix.Errno
		switch {
		case errors.Is(err, loader.ErrNotELF):
			return nil, "", res, unix.ENOEXEC
		case errors.As(err, &errno):
			return nil, "", res, errno
		}
		return nil, "", res, fmt.Errorf("execve %s: %w", path, err)
	}
	newMM.Exe = exe.Path()
	return newMM, newMM.Exe, res, nil
}

// killOtherThreads makes every other thread of t's process exit and waits
// for them, then makes t the leader (execve in a multi-threaded process).
func (t *Task) killOtherThreads() error {
	k := t.k
	k.mu.Lock()
	tg := t.tg
	if tg.execing || tg.exiting || t.exiting {
		// Another thread is exec'ing (it will kill this one) or the
		// process is dying: like Linux's de_thread, give up.
		k.mu.Unlock()
		return unix.EAGAIN
	}
	if len(tg.tasks) == 1 && tg.leader == t {
		k.mu.Unlock()
		return nil
	}
	tg.execing = true
	for o := range tg.tasks {
		if o != t {
			o.exiting = true
			o.interrupt()
		}
	}
	k.mu.Unlock()
	// Wait for them to go. Clone refuses new threads while execing.
	for {
		k.mu.Lock()
		n, dying := len(tg.tasks), tg.exiting || t.exiting
		k.mu.Unlock()
		if n == 1 || dying {
			break
		}
		sleepBriefly()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	tg.execing = false
	if tg.exiting || t.exiting {
		return unix.EINTR
	}
	if tg.leader != t {
		// The exec'ing thread takes over the process id.
		delete(k.tasks, t.tid)
		t.tid = tg.tgid
		k.tasks[t.tid] = t
		tg.pidns.takeLeaderIDsLocked(t, tg.leader)
		tg.leader = t
	}
	return nil
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
