# keyplane: make run starts the product, make test runs every test. Both install what they need.
GO      ?= go
BIN     := bin/keyplane
PKGS    := ./...
export GOFLAGS := -buildvcs=false

.PHONY: all build run test vet fmt-check bench bench-quick fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/keyplane

# The control plane on the embedded SQLite store in ./data; prints the admin token on first start.
run: build
	$(BIN) serve --data data

# Every test, against a real PostgreSQL that the harness starts itself (installed when missing).
# KEYPLANE_REQUIRE_POSTGRES makes a missing PostgreSQL a failure, never a skip.
test: fmt-check vet
	bash scripts/ensure-postgres.sh
	KEYPLANE_REQUIRE_POSTGRES=1 $(GO) test -count=1 -timeout 12m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Benchmarks, side by side in one run.
bench:
	bash scripts/ensure-postgres.sh
	KEYPLANE_REQUIRE_POSTGRES=1 $(GO) test -count=1 -run '^$$' -bench . -benchtime 3s -timeout 30m $(PKGS)

bench-quick:
	bash scripts/ensure-postgres.sh
	KEYPLANE_REQUIRE_POSTGRES=1 $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 10m $(PKGS)

# Each fuzz target for FUZZTIME.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./verifier/apikey
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./sync/snapshot
	$(GO) test -run '^$$' -fuzz '^FuzzOpenDelta$$' -fuzztime $(FUZZTIME) ./sync/snapshot

clean:
	rm -rf bin
