# Ferry: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BIN := bin

.PHONY: help build deps test test-short race checks vet fmt bench run cross clean installers installer-deps release

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build ferry-coordinator and ferry-agent into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ferry-coordinator ./coordinator/cmd/ferry-coordinator
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ferry-agent ./agent/cmd/ferry-agent

vet: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

deps: ## install what the tests need besides Go, when missing: chromium (the Portal's browser test), postgresql (the PostgreSQL store's tests), haproxy (the replica e2e), squid-openssl (the proxy and TLS-inspection e2e); Debian, as root or with sudo
	@pkgs=; \
	command -v chromium >/dev/null 2>&1 || [ -n "$$FERRY_CHROMIUM" ] || pkgs="$$pkgs chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || pkgs="$$pkgs postgresql"; \
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || pkgs="$$pkgs haproxy"; \
	/usr/sbin/squid -v 2>/dev/null | grep -q -- --with-openssl || pkgs="$$pkgs squid-openssl"; \
	[ -z "$$pkgs" ] && exit 0; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "installing$$pkgs (apt-get)"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$pkgs

# The longest test packages first: go test starts them in the order named,
# two at a time on 2 cores, so the longest ones do not start last.
SLOW_TESTS := ./e2e/ ./agent/source/gnucash/ ./coordinator/store/pgstore/ ./coordinator/store/badgerstore/ ./shared/protocol/

# The checks run beside the tests, at a lower priority: the e2e tests wait
# (leases expiring, faults, a browser) and leave a core idle that vet and the
# cross builds fill, instead of running first, alone, for two minutes.
test: deps ## vet, build and cross-compile beside every test with the race detector (what CI runs)
	@$(MAKE) --no-print-directory -j2 race checks

# -vet=off: make test's checks run go vet ./... (every analyzer go test's
# own vet runs, on the same packages and test files), so the tests do not
# vet each package a second time; make race alone is not vetted.
race: ## every test with the race detector
	$(GO) test -race -count=1 -vet=off -timeout 30m $(SLOW_TESTS) ./...

checks:
	@nice -n 10 $(MAKE) --no-print-directory vet build cross

test-short: ## the tests without the race detector or the slow e2e tests
	$(GO) test -short -count=1 ./...

# -trimpath and no cgo, as installer/build.sh builds the agent: the MSI's
# build in the e2e tests then finds the Windows packages compiled.
cross: ## check the Windows and Linux/arm64 builds compile
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -o /dev/null ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -o /dev/null ./...

# The load tool's size for this machine (2 cores): see docs/benchmarks.md.
LOAD_FLAGS ?= -agents 15000 -per-process 5000 -ramp 60s -idle 30s -dispatch 500 -datasets 2000 -big 4 -big-records 50000

bench: build ## Go benchmarks and the load tool (LOAD_FLAGS); writes the figures to docs/benchmarks.md
	$(GO) run ./e2e/benchdoc -bin $(BIN) -- $(LOAD_FLAGS)

run: build ## start a coordinator and a local agent on the sample book; show a sync reach Complete
	$(GO) run ./e2e/demo -bin $(BIN)

clean: ## remove build output and the local data directory
	rm -rf $(BIN) ferry-data .run dist

# The release keys: test ones are made in RELEASE_KEYS on the first make
# release and reused; the agents the installers hold trust their root.
RELEASE_KEYS ?= .release-keys
RELEASE_ROOTS ?= $(shell cat $(RELEASE_KEYS)/root.pub 2>/dev/null)
OUT ?= dist

installers: ## build the agent's .deb (amd64, arm64), .tar.gz, signed .msi and SHA256SUMS into dist/
	VERSION=$(VERSION) COMMIT=$(COMMIT) DATE=$(DATE) GO=$(GO) OUT=$(OUT) RELEASE_ROOTS="$(RELEASE_ROOTS)" installer/build.sh

release: ## sign a release of the agent, VERSION=X.Y.Z, into dist/releases/X.Y.Z/: the archives, release.json and release.json.sig
	VERSION=$(VERSION) COMMIT=$(COMMIT) DATE=$(DATE) GO=$(GO) OUT=$(OUT) RELEASE_KEYS=$(RELEASE_KEYS) installer/release.sh

installer-deps: ## install the Debian packages the installers need (wixl, msitools, osslsigncode, openssl) when missing
	installer/deps.sh
