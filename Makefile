# Parley — make targets. `make` alone lists them.
GO        ?= go
PKGS      := ./...
BIN       := bin/parley
# Fuzz time per target for `make fuzz`.
FUZZTIME  ?= 20s
# Go benchmarks that `make bench` runs (the search benchmark builds a large
# index and is run on its own: make bench BENCH=Search).
BENCH     ?= Ingest|Activation|ActorHeap|RawPebble|StoreCommit|BenchmarkList|MessagesPage
# Named benchmarks `make bench` runs, in order (parley-bench -scenarios):
# webhook, go, fanout-a, fanout-b, list-1m (the last three are heavy:
# make bench SCENARIOS=fanout-a,fanout-b,list-1m).
SCENARIOS ?= webhook,go
# Where `make bench` writes its report (a latency chart goes beside it).
BENCH_OUT ?= bench/results/latest.md
# The fan-out peer `make bench-peer` builds from the Go module proxy (not
# a dependency of Parley); `make bench` runs it beside Parley's fan-out
# scenarios when it is there.
CENTRIFUGO_VERSION ?= v6.9.1
PEER_BIN  := bench/.bin/centrifugo

.DEFAULT_GOAL := help

.PHONY: help build run test test-short bench bench-peer fuzz lint fmt-check vet staticcheck check-clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/parley
	$(GO) build -o $(BIN) ./cmd/parley

run: build ## run Parley on 127.0.0.1:8080 with data in ./parley-data
	./$(BIN)

test: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

test-short: ## run the tests without the race detector
	$(GO) test -count=1 $(PKGS)

bench: ## run the benchmarks and write bench/results/latest.md (BENCH_OUT)
	$(GO) run ./bench/cmd/parley-bench -bench '$(BENCH)' -scenarios '$(SCENARIOS)' -out '$(BENCH_OUT)' $(if $(wildcard $(PEER_BIN)),-centrifugo $(PEER_BIN))

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
