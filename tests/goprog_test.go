package tests

import (
	"strings"
	"testing"
	"time"
)

// TestGoProgram runs testdata/goprog (a static Go binary) natively and in
// the sandbox and compares the outputs.
func TestGoProgram(t *testing.T) {
	o := opts{timeout: 90 * time.Second}
	nat := native(t, o, prog("goprog"))
	if nat.code != 0 || nat.timedOut || !strings.HasSuffix(nat.stdout, "goprog: ok\n") {
		t.Fatalf("BUG IN THE TEST PROGRAM: native run of goprog failed%s", nat)
	}
	sb := sandbox(t, o, prog("goprog"))
	if sb.timedOut && strings.Contains(sb.stdout, "goprog: wrote and read back") && !strings.Contains(sb.stdout, "preempted ok") {
		t.Errorf("goprog hung in the preemption check: with GOMAXPROCS(1) a goroutine spinning " +
			"without function calls only yields to an asynchronous preemption signal " +
			"(SIGURG sent by the Go runtime with tgkill) that interrupts it in user mode")
	}
	compareOutputs(t, nat, sb)
}
