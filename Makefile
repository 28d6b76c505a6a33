# Watch Tower. `make demo` runs the bot on the demo fleet; `make test` runs
# every test against real PostgreSQL/PostGIS and Redis (scripts/services.sh
# brings them up, installing them with apt where it may).

SHELL := /bin/bash
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/watchtower?sslmode=disable
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/watchtower_test?sslmode=disable
export REDIS_URL ?= redis://127.0.0.1:6379/0
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

GO ?= go
BIN := bin/watchtower
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BENCHTIME ?= 2s
BENCHCOUNT ?= 6
FUZZTIME ?= 15s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

.PHONY: build demo test bench fuzz lint services check-go check-cc clean

build: check-go
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) .

services:
	bash scripts/services.sh

## demo: services up, migrate, seed the 84-truck Lagos fleet, run the bot.
demo: services build
	$(BIN) migrate
	$(BIN) seed testdata/fleet
	$(BIN) run --simulate testdata/fleet

## test: every test, with the race detector, against the real services.
test: services check-go check-cc
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## bench: the benchmarks, BENCHCOUNT (6) runs each, summarised (medians) by
## benchstat; then the end-to-end run (the real binary at 2,000 fixes/s for
## WT_E2E_SECONDS, default 60) once. One package at a time: they measure
## the machine.
bench: services check-go
	$(GO) test -p 1 -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./store ./ingest ./masterdata ./tools ./bot ./api | tee bench.out
	$(GO) test -run '^$$' -bench EndToEnd -benchtime 1x -count 1 . | tee -a bench.out
	$(GO) run $(BENCHSTAT) bench.out
	bash scripts/bench-ratio.sh bench.out

## fuzz: each fuzz target for FUZZTIME (their seed corpora also run in `make test`).
fuzz: check-go
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint: check-go
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

check-go:
	@command -v $(GO) >/dev/null || { echo "Go is not installed. Install Go 1.26 or later (https://go.dev/dl/). A Go of 1.21 or later that is already installed (Debian 13's golang-go, say; not Debian 12's 1.19) fetches the right toolchain by itself through the module proxy."; exit 1; }

# The race detector needs cgo, so a C compiler: a fresh Debian has none.
check-cc:
	@command -v $$($(GO) env CC) >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "[make] apt-get install gcc libc6-dev (the race detector needs cgo)"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null; \
	else echo "make test uses the race detector, which needs a C compiler. Run: sudo apt-get install -y gcc libc6-dev"; exit 1; fi

clean:
	rm -rf bin bench.out
