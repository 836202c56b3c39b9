#!/usr/bin/env bash
# Builds the container runtime of the local cluster's real nodes from Go modules, once, into a cache directory
# keyed by go.mod, go.sum, this script and the Go version: containerd v2 with its runc shim
# (containerd-shim-runc-v2) and ctr, and crictl (cri-tools). runc itself comes from Debian (scripts/setup).
# Prints that directory. Set MIZZEN_CACHE to move the cache (default ~/.cache/mizzen).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
cache="${MIZZEN_CACHE:-$HOME/.cache/mizzen}"
ctrd=$(awk '$1=="github.com/containerd/containerd/v2"{print $2; exit}' go.mod)
key=$( (cat go.mod go.sum build.sh; go version) | sha256sum | cut -c1-12)
dir="$cache/bin/node-containerd-${ctrd}-${key}"
bins=(containerd containerd-shim-runc-v2 ctr crictl)
complete() { local b; for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done; }
if complete; then echo "$dir"; exit 0; fi

mkdir -p "$cache/bin"
exec 9>"$cache/bin/.nodebin.lock"
if ! flock -n 9; then
  echo "nodebin: another build is running; waiting for it" >&2
  flock 9
fi
if complete; then echo "$dir"; exit 0; fi

rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
crit=$(awk '$1=="sigs.k8s.io/cri-tools"{print $2; exit}' go.mod)
# Static, without cgo: the snapshotters that need C libraries or kernel features we do not use are left out
# (the node uses overlayfs). The version strings are what `containerd --version` and `crictl --version` print.
tags="no_btrfs no_devmapper no_zfs no_aufs no_cri_dockershim"
ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${ctrd} -X sigs.k8s.io/cri-tools/pkg/version.Version=${crit}"
export GOFLAGS="-mod=readonly" CGO_ENABLED=0
start=$(date +%s)
echo "nodebin: building ${bins[*]} (containerd ${ctrd}, cri-tools ${crit}) into $dir" >&2
go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$dir.tmp/" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr \
  sigs.k8s.io/cri-tools/cmd/crictl >&2
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "nodebin: built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
