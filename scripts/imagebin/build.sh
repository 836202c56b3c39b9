#!/usr/bin/env bash
# Builds mkimage, the OCI image assembler (cmd/mkimage, on github.com/google/go-containerregistry pinned in
# go.mod), once into a cache directory keyed by its sources and the Go version, and prints the path of the binary.
# Set MIZZEN_CACHE to move the cache (default ~/.cache/mizzen). See docs/adr/0007-image-assembly.md.
set -euo pipefail
cd "$(dirname "$0")"
cache="${MIZZEN_CACHE:-$HOME/.cache/mizzen}"
key=$( (cat go.mod go.sum build.sh; find cmd -type f -name '*.go' | LC_ALL=C sort | xargs cat; go version) | sha256sum | cut -c1-12)
bin="$cache/bin/mkimage-${key}/mkimage"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$(dirname "$bin")"
exec 9>"$(dirname "$bin")/.build.lock"
flock 9   # one build at a time; whoever held the lock may have just built it
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
echo "imagebin: building mkimage" >&2
CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$bin.tmp" ./cmd/mkimage >&2
mv "$bin.tmp" "$bin"
echo "$bin"
