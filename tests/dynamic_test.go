package tests

import (
	"os"
	"testing"
	"time"
)

// TestDynamicPrograms runs Debian's dynamically linked programs in the
// sandbox (ld.so, libc and their libraries come through the gofer) and
// compares each with the same command run natively. Each command only
// writes under /tmp, which is private inside the sandbox; natively it uses
// a directory of its own.
func TestDynamicPrograms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		needs  string
		script string
	}{
		{"bash", "/bin/bash", `set -e; f() { echo "fn $1"; }; f a; x=$(echo sub | tr a-z A-Z); echo "$x";
			arr=(3 1 2); echo "${#arr[@]}"; for i in "${arr[@]}"; do echo $i; done | sort -n | paste -sd,;
			( exit 3 ) || echo "subshell $?"; echo $(( 6 * 7 )); cd "$D"; echo hi > f; cat f; wc -c < f`},
		{"coreutils", "/usr/bin/sort", `cd "$D"; seq 1 200 > n; sort -rn n | head -3; sha256sum n | cut -c1-16;
			cp n m; cmp n m && echo same; ls -1 | sort; stat -c %s n; date -d @0 -u +%Y; du -b n | cut -f1`},
		{"python3", "/usr/bin/python3", `/usr/bin/python3 - <<'PY'
import json, os, subprocess, threading, hashlib
out = []
ts = [threading.Thread(target=lambda i=i: out.append(i * i)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sorted(out))
print(subprocess.run(["/bin/echo", "child"], capture_output=True, text=True).stdout.strip())
p = os.path.join(os.environ["D"], "j.json")
with open(p, "w") as f:
    json.dump({"k": list(range(5))}, f)
print(json.load(open(p)), hashlib.sha1(b"veil").hexdigest())
PY`},
		{"perl", "/usr/bin/perl", `/usr/bin/perl -e 'my %h = map { $_ => $_ * 2 } 1..5; print join(",", map { "$_=$h{$_}" } sort keys %h), "\n";
			open(my $f, ">", "$ENV{D}/p") or die; print $f "line\n" x 3; close $f; open($f, "<", "$ENV{D}/p"); my @l = <$f>; print scalar(@l), "\n";
			my $pid = fork(); if ($pid == 0) { exit 5 } waitpid($pid, 0); print $? >> 8, "\n"'`},
		{"sqlite3", "/usr/bin/sqlite3", `/usr/bin/sqlite3 "$D/t.db" "create table t(a, b); insert into t values (1, 'x'), (2, 'y'), (3, 'z');
			select sum(a), group_concat(b) from t; pragma integrity_check;"; /usr/bin/sqlite3 "$D/t.db" "select count(*) from t"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.needs); err != nil {
				t.Fatalf("%s is not installed (.ci/run installs it): %v", tc.needs, err)
			}
			o := opts{timeout: 60 * time.Second}
			nativeDir := t.TempDir()
			nat := native(t, withEnv(o, "D="+nativeDir), "/bin/bash", "-c", tc.script)
			if nat.code != 0 {
				t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
			}
			sb := sandbox(t, withEnv(o, "D=/tmp"), "/bin/bash", "-c", tc.script)
			checkNoCrash(t, sb)
			compareOutputs(t, nat, sb)
		})
	}
}

func withEnv(o opts, env ...string) opts {
	o.env = append(append([]string(nil), o.env...), env...)
	return o
}
