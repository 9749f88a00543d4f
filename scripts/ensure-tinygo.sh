#!/usr/bin/env bash
# Installs TinyGo 0.41.1 once per machine, idempotently, from Debian's LLVM 19 packages and the Go
# module proxy (TinyGo is packaged by neither Debian nor npm). Prints the tinygo binary's path.
# ../shared/notes/wasm-toolchain.md records how this was worked out.
set -euo pipefail

VERSION=0.41.1
ROOT=${TINYGO_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/keyplane/tinygo-$VERSION}
BIN=$ROOT/build/tinygo

log() { echo "ensure-tinygo: $*" >&2; }

if [ -x "$BIN" ] && [ -f "$ROOT/.ready" ]; then
  echo "$BIN"
  exit 0
fi

pkgs=(llvm-19-dev clang-19 lld-19 libclang-19-dev wasi-libc libclang-rt-19-dev-wasm32 binaryen)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (about 143 MB)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

log "building TinyGo $VERSION into $ROOT (about 70 s)"
dir=$(go mod download -json "github.com/tinygo-org/tinygo@v$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -n "$dir" ] || { log "go mod download failed"; exit 1; }
rm -rf "$ROOT"
mkdir -p "$(dirname "$ROOT")"
cp -r "$dir" "$ROOT"
chmod -R u+w "$ROOT"
mkdir -p "$ROOT/src/net" # a git submodule the module zip lacks; empty is enough without "net"
(cd "$ROOT" && GOFLAGS=-mod=mod go build -tags=llvm19 -o build/tinygo . >&2)

# Seed TinyGo's library cache with Debian's prebuilt wasi-libc and compiler-rt: the sources it
# would compile them from are submodules the module zip lacks.
cache=$(TINYGOROOT=$ROOT "$BIN" env GOCACHE)
mkdir -p "$cache/wasi-libc-wasm32-unknown-wasi-generic" "$cache/compiler-rt-wasm32-unknown-wasi-generic"
cp /usr/lib/wasm32-wasi/libc.a "$cache/wasi-libc-wasm32-unknown-wasi-generic/lib.a"
ln -sfn /usr/include/wasm32-wasi "$cache/wasi-libc-wasm32-unknown-wasi-generic/include"
cp /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a "$cache/compiler-rt-wasm32-unknown-wasi-generic/lib.a"

touch "$ROOT/.ready"
log "ready: $BIN"
echo "$BIN"
