# Veil: build, test and benchmark. Tests and benchmarks need root (ptrace),
# e.g. `sudo make test`; Go from /usr/local/go is found even when sudo
# resets PATH.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BENCHFLAGS ?=

.PHONY: all build test bench clean

all: build

build:
	$(GO) build -o bin/runsc ./runsc

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

bench:
	$(GO) run ./tests/bench $(BENCHFLAGS)

clean:
	rm -rf bin
