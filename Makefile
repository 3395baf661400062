# Veil: build, test and benchmark. Tests and benchmarks need root (ptrace).
GO ?= go

.PHONY: all build test bench clean

all: build

build:
	$(GO) build -o bin/runsc ./runsc

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

bench:
	$(GO) run ./tests/bench

clean:
	rm -rf bin
