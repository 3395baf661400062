package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// compatCase is one script of testdata/compat: the Debian programs it
// exercises (each must be installed; .ci/run installs them) and what it
// is about, for failure messages.
type compatCase struct {
	name  string
	needs []string
	what  string
}

// compatCases are the Debian-programs acceptance suite: one script per
// program or feature, so that each failure points at one thing.
var compatCases = []compatCase{
	{"coreutils", []string{"/usr/bin/sort", "/usr/bin/sha256sum", "/usr/bin/numfmt"}, "coreutils text, file and checksum tools"},
	{"bash", []string{"/bin/bash"}, "bash: arrays, traps, coprocesses, redirections, jobs"},
	{"findutils", []string{"/usr/bin/find", "/usr/bin/xargs"}, "find and xargs"},
	{"grep", []string{"/bin/grep"}, "grep: BRE, ERE, fixed, PCRE, recursion, binary files"},
	{"sed", []string{"/bin/sed"}, "sed scripts and in-place edits"},
	{"gawk", []string{"/usr/bin/gawk"}, "gawk: arrays, functions, getline, system"},
	{"archive", []string{"/bin/tar", "/bin/gzip", "/usr/bin/xz"}, "tar, gzip and xz archives"},
	{"python3", []string{"/usr/bin/python3"}, "python3: threads, fork pools, subprocess, sqlite3, signals, asyncio"},
	{"python3-sockets", []string{"/usr/bin/python3"}, "python3 over unix sockets (pairs, stream server, datagrams, SCM_RIGHTS)"},
	{"perl", []string{"/usr/bin/perl"}, "perl: regexes, fork, pipes, modules, alarm"},
	{"sqlite3", []string{"/usr/bin/sqlite3"}, "sqlite3 in rollback and WAL journal modes"},
	{"git", []string{"/usr/bin/git"}, "git: commits, branches, merge, tags, gc, clone"},
	{"gcc-make", []string{"/usr/bin/gcc", "/usr/bin/make"}, "gcc and make building and running a C project"},
	{"procps", []string{"/usr/bin/ps", "/usr/bin/pgrep", "/usr/bin/free", "/usr/bin/top", "/usr/bin/vmstat"}, "procps over live processes"},
	{"strace", []string{"/usr/bin/strace"}, "strace tracing children (ptrace in the sandbox)"},
	{"gdb", []string{"/usr/bin/gdb", "/usr/bin/gcc"}, "gdb in batch mode (ptrace in the sandbox)"},
	{"redis", []string{"/usr/bin/redis-server", "/usr/bin/redis-cli"}, "redis-server and redis-cli over a unix socket"},
	{"openssl", []string{"/usr/bin/openssl"}, "openssl digests, ciphers, keys and certificates"},
	{"util-linux", []string{"/usr/bin/rev", "/usr/bin/flock", "/usr/bin/findmnt", "/usr/bin/prlimit", "/usr/bin/namei"}, "util-linux file, text and process tools"},
	{"util-linux-pty", []string{"/usr/bin/script"}, "script(1) on a new pseudo-terminal"},
	{"util-linux-sched", []string{"/usr/bin/ionice", "/usr/bin/chrt"}, "ionice and chrt (I/O priority, scheduling policy)"},
	{"util-linux-ns", []string{"/usr/bin/lsns", "/usr/bin/nsenter"}, "lsns and /proc/PID/ns"},
	{"xattr", []string{"/usr/bin/setfattr", "/usr/bin/getfattr"}, "user extended attributes (attr)"},
	{"inotify", []string{"/usr/bin/inotifywait"}, "inotify events (inotify-tools)"},
	{"iproute2", []string{"/bin/ip", "/bin/ss"}, "ip and ss over netlink"},
	{"project", []string{"/usr/bin/gcc", "/usr/bin/make", "/usr/bin/git", "/usr/bin/sqlite3", "/usr/bin/xz"}, "all of them together on a small C project"},
}

// compatEnv is the environment of every script, natively and in the
// sandbox: Debian's programs only, a fixed locale and time zone.
var compatEnv = []string{stdPath, "LC_ALL=C.UTF-8", "LANG=C.UTF-8", "TZ=UTC"}

// TestCompat is the Debian-programs acceptance suite: each script of
// testdata/compat runs natively and under runsc do, and both runs must
// print the same and end the same way. The scripts work in $D (a fresh
// directory natively, under the sandbox's private /tmp inside) and print
// only what does not depend on the machine, the time or pids.
//
// The sandboxed run has --debug, which reports what the Sentry counted as
// unimplemented: a failing subtest shows that with the first difference
// and both runs' output, and the last subtest checks that each call the
// programs used and the Sentry refused is justified in
// docs/compatibility.md.
func TestCompat(t *testing.T) {
	refused := map[string][]string{} // unimplemented call -> scripts
	for _, c := range compatCases {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.needs {
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("%s is not installed (.ci/run installs the suite's packages): %v", p, err)
				}
			}
			script := filepath.Join(testsDir, "testdata", "compat", c.name+".sh")
			if _, err := os.Stat(script); err != nil {
				t.Fatalf("BUG IN THE TEST: %v", err)
			}
			// The script runs sourced, in $D, without what an outer make
			// (make test) passes to the makes it starts.
			argv := []string{"/bin/bash", "-c", `unset MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES
mkdir -p "$D" && cd "$D" || exit 99; . "$1"`, "compat", script}
			o := opts{timeout: 4 * time.Minute, env: compatEnv}
			nat := native(t, withEnv(o, "D="+t.TempDir()), argv...)
			if nat.code != 0 || nat.timedOut {
				t.Fatalf("BUG IN THE TEST: the native run of %s failed%s", c.name, nat)
			}
			sbo := withEnv(o, "D=/tmp/compat-"+c.name)
			sb := runsc(t, sbo, append([]string{"--debug", "do"}, argv...)...)
			report := unimplemented(sb.stderr)
			for _, u := range unimplementedCalls(report) {
				refused[u] = append(refused[u], c.name)
			}
			if sb.stdout == nat.stdout && sb.code == nat.code && !sb.timedOut && sb.startErr == nil {
				return
			}
			why := "output differs"
			switch {
			case sb.timedOut:
				why = "timed out"
			case sb.code != nat.code:
				why = "exit code differs"
			}
			t.Errorf("%s under runsc do: %s (%s); %s\nunimplemented in the Sentry: %s\nsandboxed run:%s\nnative run:%s",
				c.what, why, c.name, firstDiff(nat.stdout, sb.stdout), report, sb, nat)
		})
	}
	t.Run("refusals-documented", func(t *testing.T) {
		doc, err := os.ReadFile(filepath.Join(testsDir, "..", "docs", "compatibility.md"))
		if err != nil {
			t.Fatal(err)
		}
		for call, scripts := range refused {
			if why := documentedRefusal(string(doc), call); why != "" {
				t.Errorf("%s, which the Sentry refused to %s, %s", call, strings.Join(scripts, ", "), why)
			}
		}
	})
}

// reportItemRE is one item of a --debug report: a call, maybe the feature
// of it in parentheses, and a count ("socket(AF_NETLINK, protocol 4): 1").
var reportItemRE = regexp.MustCompile(`([a-z0-9_]+)(?:\([^)]*\))?: [0-9]+`)

// unimplementedCalls returns the system calls of a --debug report.
func unimplementedCalls(report string) []string {
	var calls []string
	for _, m := range reportItemRE.FindAllStringSubmatch(report, -1) {
		calls = append(calls, m[1])
	}
	return calls
}

// documentedRefusal checks that call's row in the compatibility table says
// it is partial or unsupported and why; it returns what is wrong, or "".
func documentedRefusal(doc, call string) string {
	for _, line := range strings.Split(doc, "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 4 || cells[1] != "`"+call+"`" {
			continue
		}
		switch support, note := cells[2], strings.TrimSuffix(strings.TrimSpace(cells[3]), "|"); {
		case support == "full":
			return "is listed as fully supported in docs/compatibility.md"
		case strings.TrimSpace(note) == "" || strings.TrimSpace(note) == "ENOSYS":
			return "has no note in docs/compatibility.md saying why (register it with refuse() or partial())"
		}
		return ""
	}
	return "has no row in docs/compatibility.md"
}

var unimplementedRE = regexp.MustCompile(`runsc: (unimplemented syscalls and features used: .*|no unimplemented syscalls were used)`)

// unimplemented extracts the --debug report of unimplemented system calls
// from a run's stderr.
func unimplemented(stderr string) string {
	if m := unimplementedRE.FindStringSubmatch(stderr); m != nil {
		return strings.TrimPrefix(m[1], "unimplemented syscalls and features used: ")
	}
	return "(no --debug report: the sandbox did not end normally)"
}
