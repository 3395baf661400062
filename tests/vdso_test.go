package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The vDSO (sentry/vdso): programs read the clocks without a system call.

// hostTSCReliable mirrors sentry/vdso's check: without a reliable TSC the
// vDSO makes system calls, which is correct but not fast.
func hostTSCReliable(t *testing.T) bool {
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil || strings.TrimSpace(string(cs)) != "tsc" {
		t.Logf("host clocksource is %q (%v): the vDSO falls back to system calls", strings.TrimSpace(string(cs)), err)
		return false
	}
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(ci), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			f := " " + val + " "
			if !strings.Contains(f, " constant_tsc ") || !strings.Contains(f, " nonstop_tsc ") {
				t.Logf("CPU lacks constant_tsc or nonstop_tsc: the vDSO falls back to system calls")
				return false
			}
		}
	}
	return true
}

// mustSucceed stops the test unless the run exited with status 0.
func mustSucceed(t *testing.T, r *result) {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0%s", r.code, r)
	}
}

// straceCount counts the system calls called name in --strace output.
func straceCount(stderr, name string) int {
	n := 0
	for _, l := range strings.Split(stderr, "\n") {
		if _, rest, ok := strings.Cut(l, "] "); ok && strings.HasPrefix(l, "[") && strings.HasPrefix(rest, name+"(") {
			n++
		}
	}
	return n
}

// field returns the values of the output lines "key VALUE".
func field(t *testing.T, r *result, key string) []string {
	t.Helper()
	var vals []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		t.Fatalf("no %q line in the output%s", key, r)
	}
	return vals
}

// parseNs parses "SEC.NSEC" (9 digits) or plain nanoseconds.
func parseNs(t *testing.T, s string) int64 {
	t.Helper()
	sec, frac, ok := strings.Cut(s, ".")
	if !ok {
		frac = "000000000"
	}
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || len(frac) != 9 {
		t.Fatalf("bad time %q", s)
	}
	if !ok {
		return a
	}
	return a*1e9 + b
}

// checkRealtime checks readings against the host's clock around the run.
func checkRealtime(t *testing.T, r *result, vals []string, before, after time.Time) {
	t.Helper()
	prev := int64(0)
	for _, v := range vals {
		ns := parseNs(t, v)
		if ns < prev {
			t.Errorf("CLOCK_REALTIME went back: %s%s", v, r)
		}
		prev = ns
		if ns < before.Add(-time.Second).UnixNano() || ns > after.Add(time.Second).UnixNano() {
			t.Errorf("CLOCK_REALTIME %s is not within 1s of the host's (%d..%d)%s", v, before.UnixNano(), after.UnixNano(), r)
		}
	}
}

// TestVDSOClocks runs testdata/c/clock.c's self-checks (vDSO present and
// named in /proc/self/maps, every clock agreeing with its system call,
// monotonic across threads and fork, fallbacks) natively and sandboxed.
func TestVDSOClocks(t *testing.T) {
	o := opts{timeout: 60 * time.Second}
	nat := native(t, o, prog("clock"))
	if nat.code != 0 || !strings.HasSuffix(nat.stdout, "clock: ok\n") {
		t.Fatalf("BUG IN THE TEST PROGRAM: native run of clock failed%s", nat)
	}
	compareOutputs(t, nat, sandbox(t, o, prog("clock")))
}

// TestVDSOClockGettime: a C program's clock_gettime(CLOCK_MONOTONIC) calls
// (static glibc, through the vDSO) do not enter the Sentry, return
// monotonic values close to the host's.
func TestVDSOClockGettime(t *testing.T) {
	fast := hostTSCReliable(t)

	before := time.Now()
	r := runsc(t, opts{}, "--strace", "do", prog("clock"), "loop", "1000")
	after := time.Now()
	mustSucceed(t, r)
	if !strings.HasSuffix(r.stdout, "clock: loop ok\n") {
		t.Fatalf("clock loop failed%s", r)
	}
	checkRealtime(t, r, field(t, r, "realtime"), before, after)
	n := straceCount(r.stderr, "clock_gettime")
	t.Logf("1000 calls of clock_gettime: %d system calls", n)
	if fast && n > 100 {
		t.Errorf("1000 calls of clock_gettime made %d clock_gettime system calls; with the vDSO they should make (almost) none%s", n, r)
	}
	if straceCount(r.stderr, "exit_group") != 1 {
		t.Errorf("--strace output lacks exit_group%s", r)
	}

	r = sandbox(t, opts{}, prog("clock"), "loop", "100000")
	mustSucceed(t, r)
	ns := parseNs(t, field(t, r, "ns_per_call")[0])
	// Reported, not asserted: machines here are shared and noisy. The
	// system call count above is what shows the vDSO at work.
	t.Logf("clock_gettime in the sandbox: %d ns per call", ns)
}

// TestVDSOBusyboxDate: `date` reads the clock through the vDSO too.
func TestVDSOBusyboxDate(t *testing.T) {
	before := time.Now()
	r := runsc(t, opts{}, "--strace", "do", busybox, "date", "+%s")
	after := time.Now()
	mustSucceed(t, r)
	secs, err := strconv.ParseInt(strings.TrimSpace(r.stdout), 10, 64)
	if err != nil || secs < before.Unix()-1 || secs > after.Unix()+1 {
		t.Errorf("date +%%s printed %q; the host's clock was %d..%d%s", r.stdout, before.Unix(), after.Unix(), r)
	}
	if n := straceCount(r.stderr, "clock_gettime"); hostTSCReliable(t) && n > 0 {
		t.Errorf("date made %d clock_gettime system calls%s", n, r)
	}
}

// TestVDSOGo: a static Go program's time.Now (the runtime looks the vDSO up
// by symbol and version) and time.Sleep.
func TestVDSOGo(t *testing.T) {
	bin := filepath.Join(binDir, "goclock")
	if out, err := command(testsDir, []string{"CGO_ENABLED=0"}, "go", "build", "-o", bin, "./testdata/goclock"); err != nil {
		t.Fatalf("building testdata/goclock: %v\n%s", err, out)
	}
	fast := hostTSCReliable(t)
	before := time.Now()
	r := runsc(t, opts{timeout: 60 * time.Second}, "--strace", "do", bin, "20000")
	after := time.Now()
	mustSucceed(t, r)
	if !strings.HasSuffix(r.stdout, "goclock: ok\n") {
		t.Fatalf("goclock failed%s", r)
	}
	checkRealtime(t, r, field(t, r, "realtime"), before, after)
	n := straceCount(r.stderr, "clock_gettime")
	t.Logf("20000 calls of time.Now: %d clock_gettime system calls", n)
	if fast && n > 100 {
		t.Errorf("20000 calls of time.Now made %d clock_gettime system calls%s", n, r)
	}
	r = sandbox(t, opts{timeout: 60 * time.Second}, bin)
	mustSucceed(t, r)
	t.Logf("time.Now in the sandbox: %s ns", field(t, r, "ns_per_now")[0])
}
