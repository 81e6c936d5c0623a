# commlog — the two commands a newcomer runs are `make demo` and `make test`.
GO       ?= go
BIN      := bin/commlog
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build test lint demo bench chaos compat fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/commlog

# The whole suite, as CI runs it: formatting, vet, then every test with the
# race detector (fuzz seed corpora run as ordinary tests).
test: lint
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 -version >/dev/null 2>&1; then \
	  echo "staticcheck"; $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 $(PKGS); \
	else echo "staticcheck not available from the module proxy; skipped"; fi

demo: build
	./scripts/demo.sh $(BIN)

# The proof figures (bench/README.md): every Go benchmark once, then the
# harness, which prints the table, writes bench/results.json and exits
# non-zero when a goal is missed. Under 10 minutes on 2 cores.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x $(PKGS)
	$(GO) run ./bench/cmd/commlog-bench --bin $(BIN) --out bench/results.json

# kill -9 + resume, sandbox faults and a sandbox restart mid-run, 20 trials
# each (COMMLOG_CHAOS_TRIALS, COMMLOG_CHAOS_ROWS override), then archive and
# restore under faults and kill -9: expected, found, duplicated and missing
# per trial; fails on any duplicate or loss.
chaos: build
	COMMLOG_CHAOS_TRIALS=$${COMMLOG_CHAOS_TRIALS:-20} COMMLOG_CHAOS_BIN=$(abspath $(BIN)) \
	  $(GO) test -count=1 -timeout 25m -run '^TestChaos(CleanUp)?$$' -v ./cmd/commlog

# HubSpot's official Node client against the sandbox (needs node and npm).
compat: build
	./scripts/official-client.sh $(BIN)

fuzz:
	@echo "run one target, e.g.: go test -fuzz FuzzCSV ./source"

clean:
	rm -rf bin .commlog demo-out
