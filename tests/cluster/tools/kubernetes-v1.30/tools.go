//go:build tools

// Package tools pins the control plane of the oldest supported minor, and the kubectl of
// that minor (kubectl supports one minor of skew; its kustomize is the one users of that
// version run `kubectl apply -k` with), for the compat smoke run: `build.sh compat`.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
