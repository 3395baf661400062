package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Status is a container's OCI status.
type Status string

// Container statuses (the OCI runtime spec's, and "creating" while runsc
// create runs).
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// Process identifies a host process across pid reuse: a pid is only
// taken to be the same process if its start time (in clock ticks since
// boot, /proc/PID/stat field 22) matches.
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// processOf records the running process pid.
func processOf(pid int) Process {
	st, _ := startTime(pid)
	return Process{PID: pid, Start: st}
}

// Alive reports whether the process still runs (a zombie does not).
func (p Process) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := startTime(p.PID)
	return err == nil && st == p.Start
}

// startTime reads a process's start time; zombies count as gone.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d is a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// State is what runsc keeps about a container in its state directory.
type State struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	// Status is the status last recorded; the effective one also depends
	// on whether the sandbox still runs (see Container.Status).
	Status  Status    `json:"status"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
	// Creator is the runsc create that is setting the container up.
	Creator Process `json:"creator"`
	Sandbox Process `json:"sandbox"`
	Gofer   Process `json:"gofer"`
	// Cgroup is the saved cgroup (cgroup.Load's argument), if any.
	Cgroup string `json:"cgroup,omitempty"`
	// SandboxID is, for a further container of a pod, the id of the
	// pod's sandbox container (in the same root), whose Sentry runs it:
	// Sandbox is then that Sentry and Gofer this container's own gofer.
	SandboxID string `json:"sandboxId,omitempty"`
	// Spec is the container's configuration as created (for hooks,
	// annotations and exec defaults).
	Spec *specs.Spec `json:"spec"`
}

const (
	stateFile = "state.json"
	// controlSocket is the Sentry's control socket.
	controlSocket = "control.sock"
	// exitFile receives the first process's exit status from the Sentry.
	exitFile = "exit.json"
)

var validID = regexp.MustCompile(`^[\w+-][\w+.-]*$`)

// checkID refuses ids that are not a single safe path component.
func checkID(id string) error {
	if !validID.MatchString(id) || len(id) > 1024 {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// ErrNotExist reports a container id without a container.
var ErrNotExist = errors.New("container does not exist")

// notExistError is ErrNotExist for a container whose state went while a
// caller held it (a pod's members go with their sandbox's delete).
type notExistError struct{ id string }

func (e notExistError) Error() string        { return fmt.Sprintf("container %q does not exist", e.id) }
func (e notExistError) Is(target error) bool { return target == ErrNotExist }

// readState reads the state file in dir.
func readState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("state file %s: %w (%v)", filepath.Join(dir, stateFile), errTornState, err)
		}
		return nil, fmt.Errorf("state file %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// errTornState is a state file that is not JSON (empty, or cut short):
// what a host crash can leave, since writeState does not fsync. Load
// treats it like a directory without state. Valid JSON that does not fit
// State is an error.
var errTornState = errors.New("does not parse")

// writeState replaces the state file atomically: write a temporary file
// and rename it over the old one, so that a reader, or a runsc killed
// meanwhile, sees the old state or the new one, never half of one. No
// fsync (~1 ms per write where the state directory is on disk, twice per
// container start): after a host crash every sandbox is gone, and a file
// the crash emptied or tore reads as stopped (Load), as the container is.
func writeState(dir string, s *State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// dirLock is an exclusive flock on a container's state directory, held
// by every command that changes the container.
type dirLock struct{ fd int }

func lockDir(dir string) (*dirLock, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return &dirLock{fd: fd}, nil
}

func (l *dirLock) unlock() {
	if l != nil {
		unix.Close(l.fd)
	}
}
