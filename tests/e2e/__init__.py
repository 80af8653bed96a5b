"""End-to-end tests: need the local cluster (tests/cluster/cluster.sh) or E2E_KUBECONFIG."""
