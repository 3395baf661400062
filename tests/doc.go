// Package tests holds Veil's end-to-end tests. They build runsc and a set
// of static test programs (C programs in testdata/c, a Go program in
// testdata/goprog), run them under `runsc do` and `runsc run`, and compare
// what the sandboxed programs print and return with native runs of the
// same binaries.
//
// Run them with `make test` (as root: the ptrace platform needs it) or
// directly with `go test ./tests/`. They need gcc, libc6-dev (static libc)
// and Debian's busybox-static at /bin/busybox; .ci/run installs these.
//
// The built binaries go to a directory under /var/tmp, not /tmp: inside
// `runsc do` the host's /tmp is hidden behind a fresh tmpfs.
package tests
