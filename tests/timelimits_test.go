package tests

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CPU-time figures as real programs report them under runsc do: bash's
// time builtin, GNU time(1), python's time.process_time and openssl speed
// (which divides by the user time it measured). Figures vary, so only
// their plausibility is checked: a loop using ~0.3 s of CPU reports user
// time between 0.1 s and 2 s, and more user than system time. The native
// figures are logged alongside.

// plausibleCPU checks user and sys seconds of a ~0.3 s busy loop.
func plausibleCPU(t *testing.T, what string, user, sys float64) {
	t.Helper()
	t.Logf("%s: user %.3f s, sys %.3f s", what, user, sys)
	if user < 0.1 || user > 2 || user <= sys {
		t.Errorf("%s: user %.3f s, sys %.3f s: want 0.1 s <= user <= 2 s and user > sys", what, user, sys)
	}
}

// twoFloats parses the first two numbers of the last line of out.
func twoFloats(t *testing.T, what, out string) (float64, float64) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 2 {
		t.Fatalf("%s: cannot parse %q", what, out)
	}
	a, err1 := strconv.ParseFloat(f[0], 64)
	b, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: cannot parse %q", what, out)
	}
	return a, b
}

func TestCPUTimeReports(t *testing.T) {
	o := opts{timeout: 60 * time.Second}
	for _, tc := range []struct {
		name, needs string
		argv        func() []string
		stderr      bool // the figures are on stderr
	}{
		{"bash time builtin", "/bin/bash", func() []string {
			return []string{"/bin/bash", "-c", `TIMEFORMAT="%U %S"; time ` + prog("cputime") + ` spin 0.3`}
		}, true},
		{"GNU time", "/usr/bin/time", func() []string {
			return []string{"/usr/bin/time", "-f", "%U %S", prog("cputime"), "spin", "0.3"}
		}, true},
		{"python process_time", "/usr/bin/python3", func() []string {
			return []string{"/usr/bin/python3", "-c", `import time, os
t = time.process_time()
x = 0
while time.process_time() - t < 0.3:
    for i in range(20000):
        x += i
u = time.process_time() - t
tm = os.times()
print("%.3f %.3f" % (u, tm.system))`}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needFile(t, tc.needs)
			nat := native(t, o, tc.argv()...)
			sb := sandbox(t, o, tc.argv()...)
			checkNoCrash(t, sb)
			if sb.code != 0 || nat.code != 0 {
				t.Fatalf("exit codes %d (sandbox), %d (native)%s%s", sb.code, nat.code, sb, nat)
			}
			pick := func(r *result) string {
				if tc.stderr {
					return r.stderr
				}
				return r.stdout
			}
			nu, ns := twoFloats(t, "native", pick(nat))
			t.Logf("native: user %.3f s, sys %.3f s", nu, ns)
			u, s := twoFloats(t, "sandbox", pick(sb))
			plausibleCPU(t, "sandbox", u, s)
		})
	}
}

// TestClockCannotBeSet tries to set the clock in the sandbox, whose root
// has every capability: it must fail (never run natively, where root may
// really set the host's clock).
func TestClockCannotBeSet(t *testing.T) {
	r := sandbox(t, opts{}, prog("cputime"), "settime")
	expect(t, r, 0, "clock_settime: -1 Operation not permitted\n"+
		"settimeofday: -1 Operation not permitted\n"+
		"adjtimex set: -1 Operation not permitted\n"+
		"adjtimex query: ok, tick 10000\n"+
		"clock_settime(CLOCK_MONOTONIC): -1 Invalid argument\n")
}

var sha256Line = regexp.MustCompile(`(?m)^sha256\s+(.*)$`)

// TestOpensslSpeed runs `openssl speed -seconds 1 sha256`, which measures
// its own user time: the sandbox's figures must be non-zero and within two
// orders of magnitude of the native ones (they are logged; on an idle
// machine they are within a few percent).
func TestOpensslSpeed(t *testing.T) {
	needFile(t, "/usr/bin/openssl")
	o := opts{timeout: 120 * time.Second}
	argv := []string{"/usr/bin/openssl", "speed", "-seconds", "1", "sha256"}
	nat := native(t, o, argv...)
	sb := sandbox(t, o, argv...)
	checkNoCrash(t, sb)
	figures := func(r *result) []float64 {
		m := sha256Line.FindStringSubmatch(r.stdout)
		if m == nil || r.code != 0 {
			t.Fatalf("no sha256 line in the output%s", r)
		}
		var out []float64
		for _, f := range strings.Fields(m[1]) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(f, "k"), 64)
			if err != nil {
				t.Fatalf("cannot parse %q%s", m[1], r)
			}
			out = append(out, v)
		}
		return out
	}
	nf, sf := figures(nat), figures(sb)
	t.Logf("native  sha256 (1000s of bytes/s by block size): %v", nf)
	t.Logf("sandbox sha256 (1000s of bytes/s by block size): %v", sf)
	if len(nf) != len(sf) {
		t.Fatalf("%d figures natively, %d in the sandbox", len(nf), len(sf))
	}
	for i := range nf {
		if sf[i] <= 0 || sf[i] > nf[i]*100 || sf[i] < nf[i]/100 {
			t.Errorf("block size #%d: %.2fk in the sandbox, %.2fk natively: want non-zero and within 100x", i, sf[i], nf[i])
		}
	}
}

// needFile fails the test when a program it runs is not installed (.ci/run
// installs them all).
func needFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed (.ci/run installs it): %v", path, err)
	}
}
