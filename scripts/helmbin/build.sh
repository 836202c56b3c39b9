#!/usr/bin/env bash
# Builds the Helm CLI (helm.sh/helm/v3, version pinned in go.mod) once into a cache directory and prints
# the path of the binary. Set MIZZEN_CACHE to move the cache (default ~/.cache/mizzen).
set -euo pipefail
cd "$(dirname "$0")"
cache="${MIZZEN_CACHE:-$HOME/.cache/mizzen}"
version=$(awk '$1=="require" && $2=="helm.sh/helm/v3"{print $3} $1=="helm.sh/helm/v3"{print $2}' go.mod | head -1)
key=$( (cat go.mod go.sum; go version) | sha256sum | cut -c1-12)
bin="$cache/bin/helm-${version}-${key}/helm"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$(dirname "$bin")"
echo "helmbin: building helm ${version} (first build takes a few minutes)" >&2
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" \
  -o "$bin.tmp" helm.sh/helm/v3/cmd/helm >&2
mv "$bin.tmp" "$bin"
echo "helmbin: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
