package tests

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// cprog is a static C test program from testdata/c. Each one self-checks,
// prints deterministic lines ending in "<name>: ok" and exits with code
// (or, for segv, dies by a signal natively). The sandboxed run must print
// exactly what the native run printed and end the same way.
type cprog struct {
	name string
	args func() []string // extra arguments
	code int             // expected exit code (128+N for death by signal N)
}

var cprogs = []cprog{
	{name: "malloc"},
	{name: "mmap"},
	{name: "mmapfile"},
	{name: "fork"},
	{name: "pipe"},
	{name: "exec", args: func() []string { return []string{prog("echoargs")} }, code: 4},
	{name: "script", args: func() []string { return []string{prog("echoargs")} }},
	{name: "ptrace", args: func() []string { return []string{prog("echoargs")} }},
	{name: "sched"},
	{name: "prctl"},
	{name: "procmisc"},
	{name: "threads"},
	{name: "altstack"},
	{name: "sleep"},
	{name: "fpu"},
	{name: "jobctl"},
	{name: "pty"},
	{name: "signalfd"},
	{name: "hostile"},
	{name: "hotsyscall"},
	{name: "cputime"},
	{name: "ptimer"},
	{name: "fdevents"},
	{name: "rlimits"},
	{name: "memory"},
	{name: "sockets"},
	{name: "sysvipc"},
	{name: "mqueue"},
	{name: "namespaces"},
	{name: "segv", code: 128 + int(syscall.SIGSEGV)},
	{name: "splice"},
	{name: "xattr"},
	{name: "inotify"},
	{name: "tmpfile"},
	{name: "seals"},
	{name: "ofdlock"},
	{name: "aio"},
	{name: "inet"},
}

func TestCPrograms(t *testing.T) {
	for _, p := range cprogs {
		t.Run(p.name, func(t *testing.T) {
			argv := []string{prog(p.name)}
			if p.args != nil {
				argv = append(argv, p.args()...)
			}
			o := opts{timeout: 60 * time.Second}
			nat := native(t, o, argv...)
			if nat.startErr != nil || nat.timedOut || nat.code != p.code {
				t.Fatalf("BUG IN THE TEST PROGRAM: the native run of %s should end with code %d%s", p.name, p.code, nat)
			}
			if p.code == 0 && !strings.HasSuffix(nat.stdout, p.name+": ok\n") {
				t.Fatalf("BUG IN THE TEST PROGRAM: native run did not print %q%s", p.name+": ok", nat)
			}
			sb := sandbox(t, o, argv...)
			compareOutputs(t, nat, sb)
		})
	}
}
