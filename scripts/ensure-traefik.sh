#!/usr/bin/env bash
# Builds Traefik v3.6.12 from the Go module proxy once per machine (about 8 minutes on 2 cores)
# and prints the binary's path. `go install` fails on Traefik's replace directives, so the module
# is copied and built in place (../shared/notes/wasm-toolchain.md).
set -euo pipefail
VERSION=v3.6.12
ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/keyplane/traefik-$VERSION
BIN=$ROOT/traefik
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
echo "ensure-traefik: building Traefik $VERSION into $ROOT (minutes)" >&2
dir=$(go mod download -json "github.com/traefik/traefik/v3@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -n "$dir" ] || { echo "ensure-traefik: go mod download failed" >&2; exit 1; }
src=$ROOT.src
rm -rf "$src"
mkdir -p "$(dirname "$ROOT")"
cp -r "$dir" "$src"
chmod -R u+w "$src"
(cd "$src" && GOFLAGS=-mod=mod go build -o "$BIN.tmp" ./cmd/traefik >&2)
mv "$BIN.tmp" "$BIN"
rm -rf "$src"
echo "$BIN"
