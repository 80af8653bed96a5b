//go:build tools

// Package tools pins the Kubernetes control-plane commands that the local
// test cluster builds from source (see tests/cluster/build.sh), and the kubelet
// of its real node (tests/cluster/realnode.sh).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
