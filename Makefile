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

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

bench:
	$(GO) run ./tests/bench $(BENCHFLAGS)

clean:
	rm -rf bin
