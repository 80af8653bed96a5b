//go:build tools

// Package tools pins kwok (the simulated kubelet) and kwokctl (the cluster
// launcher) that the local test cluster builds from source.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
