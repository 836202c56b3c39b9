#!/usr/bin/env bash
# Builds the Helm CLI (helm.sh/helm/v3, version pinned in go.mod) once into a cache directory and prints
# the path of the binary. Set MIZZEN_CACHE to move the cache (default ~/.cache/mizzen).
set -euo pipefail
cd "$(dirname "$0")"
cache="${MIZZEN_CACHE:-$HOME/.cache/mizzen}"
version=$(awk '$1=="require" && $2=="helm.sh/helm/v3"{print $3} $1=="helm.sh/helm/v3"{print $2}' go.mod | head -1)
key=$( (cat go.mod go.sum build.sh; go version) | sha256sum | cut -c1-12)
bin="$cache/bin/helm-${version}-${key}/helm"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$(dirname "$bin")"
echo "helmbin: building helm ${version} (first build takes a few minutes)" >&2
start=$(date +%s)
# As Helm's Makefile does: the default Kubernetes version (for `helm template`, `helm lint`) follows the
# client-go that Helm is built with, not the v1.20 in its source.
kv=$(go list -f '{{.Version}}' -m k8s.io/client-go)   # v0.MINOR.PATCH
kminor=$(echo "$kv" | cut -d. -f2)
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version}"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${kminor}"
done
CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
  -ldflags "$ldflags" \
  -o "$bin.tmp" helm.sh/helm/v3/cmd/helm >&2
mv "$bin.tmp" "$bin"
echo "helmbin: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
