# make run: start what is missing, then the whole CRM in one process.
# make test: the same service check, then vet, format check and every test.
# See README.md; scripts/setup.sh and docs/setup.md for the service check.
#
# Every target that builds, downloads or tests runs scripts/setup.sh first:
# on a fresh machine it is what installs the CA certificates the go command
# needs to download modules, the C compiler -race needs, PostgreSQL and Redis.

GO ?= go
SETUP = GO="$(GO)" bash scripts/setup.sh
BUILD = $(GO) build -o bin/crm ./cmd/crm
CHECK_GENERATE = GO="$(GO)" bash scripts/check-generate.sh
CHECK_WEB = bash scripts/web.sh check
# Go sources gofmt checks: all but testdata, node_modules and hidden dirs.
GO_FILES = $$(find . -name '*.go' -not -path '*/.*/*' -not -path '*/node_modules/*' -not -path '*/testdata/*')

.PHONY: run test bench chaos scale generate check-generate lint build setup fresh web check-web screenshots

run:
	$(SETUP) run
	$(BUILD)
	bash scripts/run.sh

# Test packages run one at a time (-p 1): their tests run in parallel inside
# each package, and all packages at once would exceed PostgreSQL's default
# 100 connections.
test:
	$(SETUP) test
	$(GO) vet ./...
	@out=$$(gofmt -l $(GO_FILES) </dev/null); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) run ./scripts/archcheck
	$(CHECK_GENERATE)
	$(CHECK_WEB)
	$(GO) test -race -count=1 -p 1 -timeout 30m ./...

bench:
	$(SETUP) bench
	@if [ -d scripts/bench ]; then \
		echo "$(GO) run ./scripts/bench"; $(GO) run ./scripts/bench; \
	else \
		echo "$(GO) test -run '^$$' -bench . -benchtime 3s ./..."; $(GO) test -run '^$$' -bench . -benchtime 3s ./...; \
	fi

# The full fault-injection suite (docs/chaos.md); make test runs a shortened one.
chaos:
	$(SETUP) bench
	CRM_CHAOS=full $(GO) test -count=1 -v -timeout 60m -run '^TestChaos$$' ./scripts/chaos/

# The scale-out run (docs/scale.md): 4 services, 3 projectors, 2 gateways,
# one projector and one gateway killed under load; make test runs a reduced
# one. Flags through SCALE_FLAGS, e.g. make scale SCALE_FLAGS='-rate 80'.
scale:
	$(SETUP) bench
	$(GO) run ./scripts/scale $(SCALE_FLAGS)

generate:
	$(SETUP) build
	$(GO) generate ./...

# Generated code is committed: regenerating must change nothing. Fails, and
# says why, when it cannot compare (no git, not a git work tree).
check-generate:
	$(SETUP) build
	$(CHECK_GENERATE)

lint:
	$(SETUP) build
	@out=$$(gofmt -l $(GO_FILES) </dev/null); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./scripts/archcheck

build:
	$(SETUP) build
	$(BUILD)

# The console (docs/console.md): its bundle is committed, so make run and
# make build need no Node.js. make web rebuilds it from the lockfile (npm
# ci, vite build); check-web fails when the committed bundle is stale.
web:
	$(SETUP) web
	bash scripts/web.sh build

check-web:
	$(SETUP) web
	$(CHECK_WEB)

# Screenshots of every console screen into docs/screenshots/, taken by the
# browser test against a real crm dev (README.md shows them).
screenshots:
	$(SETUP) test
	CRM_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -timeout 10m -run '^TestConsole$$' ./cmd/crm

setup:
	$(SETUP) test

# A clean clone on a minimal Debian in a chroot: make run, then make test
# (docs/setup.md, "Checking it on a fresh machine"). Root only; it stops this
# machine's PostgreSQL and Redis for the run and restarts them afterwards.
# Not part of make test. Flags through FRESH_FLAGS, e.g. --prepare-only.
fresh:
	bash scripts/fresh.sh $(FRESH_FLAGS)
