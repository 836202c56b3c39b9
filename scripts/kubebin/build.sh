#!/usr/bin/env bash
# Builds the local cluster binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# kwok, cnitool) from Go modules, once, into a cache directory keyed by their versions and go.sum.
# Prints that directory. Set MIZZEN_CACHE to move the cache (default ~/.cache/mizzen).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
. ./versions.env
cache="${MIZZEN_CACHE:-$HOME/.cache/mizzen}"
key=$( (cat versions.env go.mod go.sum cmd/etcd/main.go; go version) | sha256sum | cut -c1-12)
dir="$cache/bin/k8s-${KUBERNETES_VERSION}-${key}"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kwok cnitool)
complete() { local b; for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done; }
if complete; then echo "$dir"; exit 0; fi

# One build at a time (e.g. two clusters started at once on a fresh machine): wait for the lock, then
# look again, since whoever held it may have just built the same directory.
mkdir -p "$cache/bin"
exec 9>"$cache/bin/.build.lock"
if ! flock -n 9; then
  echo "kubebin: another build is running; waiting for it" >&2
  flock 9
fi
if complete; then echo "$dir"; exit 0; fi

rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
kv=${KUBERNETES_VERSION}
major=1; minor=${kv#v1.}; minor=${minor%%.*}
stamp="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp="$stamp -X $pkg.gitVersion=$kv -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  stamp="$stamp -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
export GOFLAGS="-mod=readonly" CGO_ENABLED=0
start=$(date +%s)
echo "kubebin: building ${bins[*]} into $dir (first build takes a while)" >&2
go build -trimpath -ldflags "$stamp" -o "$dir.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy \
  ./cmd/etcd \
  sigs.k8s.io/kwok/cmd/kwok \
  github.com/containernetworking/cni/cnitool >&2
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "kubebin: built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
