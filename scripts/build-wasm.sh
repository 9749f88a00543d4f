#!/usr/bin/env bash
# Builds the two WebAssembly modules, each with TinyGo (the product) and with mainline Go (to keep
# the sources honest and to compare), into build/wasm/. TinyGo is installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/wasm
mkdir -p "$out"
tinygo=$(bash scripts/ensure-tinygo.sh)
export GOFLAGS=-buildvcs=false

for m in proxywasm httpwasm; do
  echo "build-wasm: $m (TinyGo)" >&2
  "$tinygo" build -target=wasip1 -buildmode=c-shared -scheduler=none -no-debug -o "$out/$m.wasm" "./wasm/$m" 2>&1 \
    | grep -v "is not a recognized feature for this target" >&2 || true
  test -s "$out/$m.wasm"
done

# The verifier alone inside a TinyGo module, for the allocation test and the in-guest benchmark.
"$tinygo" build -target=wasip1 -buildmode=c-shared -scheduler=none -no-debug -o "$out/verifyprobe.wasm" ./wasm/verifyprobe 2>&1 \
  | grep -v "is not a recognized feature for this target" >&2 || true
test -s "$out/verifyprobe.wasm"

# The host-cost floor for benchmarks: a guest that only touches the request as the keyplane one does.
for m in httpwasm proxywasm; do
  "$tinygo" build -target=wasip1 -buildmode=c-shared -scheduler=none -no-debug -o "$out/$m-floor.wasm" "./wasm/$m/floor" 2>&1 \
    | grep -v "is not a recognized feature for this target" >&2 || true
done

echo "build-wasm: proxywasm, httpwasm (mainline Go)" >&2
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$out/proxywasm-go.wasm" ./wasm/proxywasm
# The http-wasm guest SDK's host imports sit behind the tinygo.wasm tag, and its entry points are
# re-exported for mainline Go through go:linkname (wasm/httpwasm/export_go.go).
GOOS=wasip1 GOARCH=wasm go build -tags tinygo.wasm -ldflags=-checklinkname=0 -buildmode=c-shared \
  -o "$out/httpwasm-go.wasm" ./wasm/httpwasm
ls -l "$out"/*.wasm >&2
