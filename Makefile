# Veil: build, test and benchmark. Tests and benchmarks need root (ptrace),
# e.g. `sudo make test`; Go from /usr/local/go is found even when sudo
# resets PATH.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BENCHFLAGS ?=
# make install: PREFIX/bin, under DESTDIR when staging.
PREFIX ?= /usr/local
DESTDIR ?=
# The Debian package's version (a Debian version sorts "~dev" before the
# release) and architecture.
DEB_VERSION ?= 0.1.0~dev
DEB_ARCH = $(shell dpkg --print-architecture)
DEB = bin/veil_$(DEB_VERSION)_$(DEB_ARCH).deb
# The containerd shim, when the build made it (./shim/cmd/containerd-shim-runsc-v1).
SHIM = bin/containerd-shim-runsc-v1

.PHONY: all build test bench clean install uninstall deb

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

install: build
	install -D -m 755 bin/runsc $(DESTDIR)$(PREFIX)/bin/runsc
	if [ -f $(SHIM) ]; then install -D -m 755 $(SHIM) $(DESTDIR)$(PREFIX)/bin/containerd-shim-runsc-v1; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/runsc $(DESTDIR)$(PREFIX)/bin/containerd-shim-runsc-v1

# A Debian package made with dpkg-deb alone (no network, no debhelper):
# the binaries are static, so it depends on nothing; it does not touch
# docker's configuration (run `runsc install` for that).
deb: build
	rm -rf bin/deb
	install -D -m 755 bin/runsc bin/deb/usr/bin/runsc
	if [ -f $(SHIM) ]; then install -D -m 755 $(SHIM) bin/deb/usr/bin/containerd-shim-runsc-v1; fi
	install -d bin/deb/usr/share/doc/veil/docs bin/deb/DEBIAN
	install -m 644 README.md bin/deb/usr/share/doc/veil/
	install -m 644 docs/*.md bin/deb/usr/share/doc/veil/docs/
	install -m 644 LICENSE bin/deb/usr/share/doc/veil/copyright
	printf '%s\n' \
		'Package: veil' \
		'Version: $(DEB_VERSION)' \
		'Architecture: $(DEB_ARCH)' \
		'Maintainer: Veil developers <veil@veil-sandbox.invalid>' \
		'Section: admin' \
		'Priority: optional' \
		'Installed-Size: '"$$(du -sk bin/deb/usr | cut -f1)" \
		'Suggests: docker.io | containerd | podman' \
		'Homepage: https://github.com/veil-sandbox/veil' \
		'Description: container sandbox runtime with a user-space Linux kernel' \
		' runsc is an OCI runtime that runs containers on the Sentry, a Linux' \
		' kernel in user space, so that application system calls never reach the' \
		' host kernel. Docker, containerd and podman drive it as they drive runc.' \
		> bin/deb/DEBIAN/control
	dpkg-deb --root-owner-group --build bin/deb $(DEB)
	@echo "built $(DEB): install it with apt install ./$(DEB)"

bench:
	$(GO) run ./tests/bench $(BENCHFLAGS)

clean:
	rm -rf bin
