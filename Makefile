# Parley — make targets. `make` alone lists them.
GO        ?= go
PKGS      := ./...
BIN       := bin/parley
# Fuzz time per target for `make fuzz`.
FUZZTIME  ?= 20s
# Go benchmarks that `make bench` runs (the search benchmark builds a large
# index and is run on its own: make bench BENCH=Search).
BENCH     ?= Ingest|Activation|ActorHeap|RawPebble|StoreCommit|BenchmarkList|MessagesPage|Knowledge
# Named benchmarks `make bench` runs, in order (parley-bench -scenarios):
# webhook, go, widget, email (inbound mail over SMTP: mails/s, p99),
# fanout-ceiling (deliveries/s to 1,000 subscribers of one workspace at
# rising inbound rates), ws-idle (server memory per idle WebSocket, 10,000
# of them), fanout-a, fanout-b, list-1m (the last three are heavy:
# make bench SCENARIOS=fanout-a,fanout-b,list-1m). list-1m generates 1M
# conversations with 10M messages (about 6 min on 2 cores, 3 GB; keep it
# for the next run with -inbox-dir, see bench/results/scale.md) and
# measures the restart to /readyz and the first page, the list's first
# page and search over HTTP, RSS with 10,000 conversations active, and a
# restart after kill -9 under load. Beside BENCH_OUT goes its
# machine-readable summary (latest.json, bench/results/README.md).
SCENARIOS ?= webhook,go,widget,email,fanout-ceiling,ws-idle
# Where `make bench` writes its report (a latency chart goes beside it).
BENCH_OUT ?= bench/results/latest.md
# The fan-out peer `make bench-peer` builds from the Go module proxy (not
# a dependency of Parley); `make bench` runs it beside Parley's fan-out
# scenarios when it is there.
CENTRIFUGO_VERSION ?= v6.9.1
PEER_BIN  := bench/.bin/centrifugo
# The version and commit `parley version` prints, linked into the binary.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# What `make release` builds into dist/ (GOOS/GOARCH pairs).
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
# The other-platform build `make cross` checks (in CI: cheap, one target).
CROSS     ?= windows/amd64

.DEFAULT_GOAL := help

.PHONY: help build run release cross test test-short bench bench-broadcast bench-peer fuzz lint fmt-check vet staticcheck check-clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/parley (VERSION and COMMIT linked in)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/parley

run: build ## run Parley on 127.0.0.1:8080 with data in ./parley-data
	./$(BIN)

# Static binaries, one per platform, named parley-VERSION-OS-ARCH[.exe],
# and their SHA-256 sums in dist/SHA256SUMS (check with sha256sum -c).
release: ## cross-build static binaries for PLATFORMS into dist/ with dist/SHA256SUMS
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  out=dist/parley-$(VERSION)-$$os-$$arch$$ext; echo "  $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$out ./cmd/parley; \
	done
	cd dist && sha256sum parley-* > SHA256SUMS && cat SHA256SUMS

cross: ## check that cmd/parley builds for CROSS (windows/amd64) as make release would
	CGO_ENABLED=0 GOOS=$(firstword $(subst /, ,$(CROSS))) GOARCH=$(lastword $(subst /, ,$(CROSS))) \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o /dev/null ./cmd/parley

test: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

test-short: ## run the tests without the race detector
	$(GO) test -count=1 $(PKGS)

bench: ## run the benchmarks and write bench/results/latest.md (BENCH_OUT) and latest.json
	$(GO) run ./bench/cmd/parley-bench -bench '$(BENCH)' -scenarios '$(SCENARIOS)' -out '$(BENCH_OUT)' $(if $(wildcard $(PEER_BIN)),-centrifugo $(PEER_BIN))

bench-broadcast: ## a 100,000-recipient WhatsApp broadcast at 1000/s against a fake Graph API (bench/results/broadcasts.md)
	PARLEY_BENCH_BROADCAST=1 $(GO) test -count=1 -run TestBroadcastThroughput -v -timeout 30m ./gateway

# `go install …@version` needs the module's version list, which the proxy
# may refuse; building the downloaded module with its own go.sum does not.
bench-peer: ## build Centrifugo (CENTRIFUGO_VERSION), the fan-out peer, into bench/.bin
	@dir=$$(cd / && $(GO) mod download -json github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	if [ -z "$$dir" ]; then echo "bench-peer: could not download centrifugo $(CENTRIFUGO_VERSION)"; exit 1; fi; \
	mkdir -p $(dir $(PEER_BIN)) && cd "$$dir" && \
	$(GO) build -trimpath -ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=$(CENTRIFUGO_VERSION:v%=%)" -o $(CURDIR)/$(PEER_BIN) . && \
	$(CURDIR)/$(PEER_BIN) version

fuzz: ## run each fuzz target for FUZZTIME
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

vet: ## go vet
	$(GO) vet $(PKGS)

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi

staticcheck: ## staticcheck (installed through the module proxy)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

lint: fmt-check vet staticcheck ## gofmt, go vet and staticcheck

check-clean: ## go mod tidy leaves no diff
	$(GO) mod tidy && git diff --exit-code go.mod go.sum
