//go:build tools

// Package nodebin pins the container runtime commands of the local cluster's real nodes (containerd, its runc
// shim, ctr, crictl), so go.mod and go.sum keep every module they need.
package nodebin

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
