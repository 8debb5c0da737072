# make run: start what is missing, then the whole CRM in one process.
# make test: the same service check, then vet, format check and every test.
# See README.md; scripts/setup.sh and docs/setup.md for the service check.

GO ?= go
SETUP = bash scripts/setup.sh
# Go sources gofmt checks: all but testdata, node_modules and hidden dirs.
GO_FILES = $$(find . -name '*.go' -not -path '*/.*/*' -not -path '*/node_modules/*' -not -path '*/testdata/*')

.PHONY: run test bench chaos scale generate check-generate lint build setup

run: build
	$(SETUP) run
	bash scripts/run.sh

# Test packages run one at a time (-p 1): their tests run in parallel inside
# each package, and all packages at once would exceed PostgreSQL's default
# 100 connections.
test:
	$(SETUP) test
	$(GO) vet ./...
	@out=$$(gofmt -l $(GO_FILES) </dev/null); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) run ./scripts/archcheck
	@$(MAKE) --no-print-directory check-generate
	$(GO) test -race -count=1 -p 1 -timeout 30m ./...

bench:
	$(SETUP) test
	@if [ -d scripts/bench ]; then \
		echo "$(GO) run ./scripts/bench"; $(GO) run ./scripts/bench; \
	else \
		echo "$(GO) test -run '^$$' -bench . -benchtime 3s ./..."; $(GO) test -run '^$$' -bench . -benchtime 3s ./...; \
	fi

# The full fault-injection suite (docs/chaos.md); make test runs a shortened one.
chaos:
	$(SETUP) test
	CRM_CHAOS=full $(GO) test -count=1 -v -timeout 60m -run '^TestChaos$$' ./scripts/chaos/

# The scale-out run (docs/scale.md): 4 services, 3 projectors, 2 gateways,
# one projector and one gateway killed under load; make test runs a reduced
# one. Flags through SCALE_FLAGS, e.g. make scale SCALE_FLAGS='-rate 80'.
scale:
	$(SETUP) test
	$(GO) run ./scripts/scale $(SCALE_FLAGS)

generate:
	$(GO) generate ./...

# Generated code is committed: regenerating must change nothing.
check-generate:
	@before=$$(git diff -- graph gqlgen.yml | sha256sum); \
	$(GO) generate ./... && \
	after=$$(git diff -- graph gqlgen.yml | sha256sum); \
	if [ "$$before" != "$$after" ]; then git diff --stat -- graph gqlgen.yml; echo "generated code is stale: run make generate and commit"; exit 1; fi

lint:
	@out=$$(gofmt -l $(GO_FILES) </dev/null); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./scripts/archcheck

build:
	$(GO) build -o bin/crm ./cmd/crm

setup:
	$(SETUP) test
