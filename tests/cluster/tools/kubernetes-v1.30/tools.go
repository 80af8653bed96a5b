//go:build tools

// Package tools pins the v1.30 control plane for the support-matrix smoke run (NOT wired
// into build.sh or CI yet; see ../README.md, "Oldest supported minor").
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
