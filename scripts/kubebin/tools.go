//go:build tools

// Package kubebin pins the commands the local cluster harness builds, so
// go.mod and go.sum keep every module they need.
package kubebin

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "github.com/containernetworking/cni/cnitool"
)
