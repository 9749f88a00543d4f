# keyplane: make run starts the product, make test runs every test. Both install what they need.
GO      ?= go
BIN     := bin/keyplane
PKGS    := ./...
export GOFLAGS := -buildvcs=false

.PHONY: all build run test vet fmt-check bench bench-quick fuzz clean wasm e2e-traefik

all: build

build:
	$(GO) build -o $(BIN) ./cmd/keyplane

# The whole product for a newcomer: the control plane (embedded SQLite in ./data; the admin token
# is printed on first start), an edge with the TinyGo http-wasm module embedded, and a demo upstream.
run: wasm
	mkdir -p cmd/keyplane/cli/embedded && cp build/wasm/httpwasm.wasm cmd/keyplane/cli/embedded/httpwasm.wasm
	$(GO) build -tags embedwasm -o $(BIN) ./cmd/keyplane
	$(BIN) demo --data data

# The WebAssembly modules, with TinyGo (installed on first use) and with mainline Go.
WASM_SRC := $(shell find verifier sync wasm -name '*.go' -not -name '*_test.go') go.mod go.sum
WASM_OUT := build/wasm/proxywasm.wasm build/wasm/httpwasm.wasm build/wasm/proxywasm-go.wasm build/wasm/httpwasm-go.wasm build/wasm/httpwasm-floor.wasm build/wasm/proxywasm-floor.wasm build/wasm/verifyprobe.wasm
wasm: $(WASM_OUT)
$(WASM_OUT) &: $(WASM_SRC) scripts/build-wasm.sh
	bash scripts/build-wasm.sh

# Every test, against a real PostgreSQL that the harness starts itself (installed when missing)
# and the built wasm modules. KEYPLANE_REQUIRE_POSTGRES and KEYPLANE_REQUIRE_WASM make a missing
# PostgreSQL or module a failure, never a skip.
test: fmt-check vet wasm
	bash scripts/ensure-postgres.sh
	KEYPLANE_REQUIRE_POSTGRES=1 KEYPLANE_REQUIRE_WASM=1 $(GO) test -count=1 -timeout 12m $(PKGS)

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags traefik ./examples/traefik

# The http-wasm module in a real Traefik v3.6.12, built from the Go module proxy on first use
# (minutes, so it is not part of make test).
e2e-traefik: wasm
	TRAEFIK_BIN=$$(bash scripts/ensure-traefik.sh) KEYPLANE_REQUIRE_WASM=1 $(GO) test -count=1 -tags traefik -run TestTraefik -v ./examples/traefik

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Benchmarks, side by side in one run.
# Every benchmark side by side in one run; writes docs/benchmarks.md (internal/benchreport).
bench: wasm
	bash scripts/ensure-postgres.sh
	KEYPLANE_REQUIRE_WASM=1 $(GO) run ./internal/benchreport -out docs/benchmarks.md

bench-quick: wasm
	bash scripts/ensure-postgres.sh
	KEYPLANE_REQUIRE_WASM=1 $(GO) run ./internal/benchreport -quick -out docs/benchmarks.md

# Each fuzz target for FUZZTIME.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./verifier/apikey
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./sync/snapshot
	$(GO) test -run '^$$' -fuzz '^FuzzOpenDelta$$' -fuzztime $(FUZZTIME) ./sync/snapshot

clean:
	rm -rf bin build
