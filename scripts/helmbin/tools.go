//go:build tools

// Package helmbin pins the Helm CLI that the chart tests use, so go.mod and go.sum keep its modules.
package helmbin

import _ "helm.sh/helm/v3/cmd/helm"
