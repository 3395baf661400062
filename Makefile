# Veil: build, test and benchmark. Tests and benchmarks need root (ptrace),
# e.g. `sudo make test`; Go from /usr/local/go is found even when sudo
# resets PATH.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BENCHFLAGS ?=

.PHONY: all build test bench clean

all: build

# runsc is a static pure-Go binary: without cgo it can change the
# credentials of all its threads at once (see runsc/caps.go).
build:
	CGO_ENABLED=0 $(GO) build -o bin/runsc ./runsc
	CGO_ENABLED=0 $(GO) build -o bin/containerd-shim-runsc-v1 ./shim/cmd/containerd-shim-runsc-v1

# Every end-to-end test runs on both platforms: all packages with the
# e2e tests (./tests) on systrap, then ./tests again on ptrace. The platform
# packages test both themselves, and the other packages do not run
# application code.
test:
	$(GO) vet ./...
	VEIL_E2E_PLATFORM=systrap $(GO) test -count=1 -timeout 40m ./...
	VEIL_E2E_PLATFORM=ptrace $(GO) test -count=1 -timeout 40m ./tests/

bench:
	$(GO) run ./tests/bench $(BENCHFLAGS)

clean:
	rm -rf bin
