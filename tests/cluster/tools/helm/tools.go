//go:build tools

// Package tools pins the helm command that tests/cluster/build.sh builds from
// source, for the chart tests (helm lint/template/install).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
