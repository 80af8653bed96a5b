#!/usr/bin/env bash
# make test-compat: the smoke subset of the e2e suite (`pytest -m compat`) on a second local
# cluster that runs the oldest supported Kubernetes minor (COMPAT_KUBE_VERSION in
# versions.env), driven by that minor's kubectl. Builds what is missing (build.sh compat),
# starts the cluster (COMPAT=1 cluster.sh up: its own name, kwok workdir, kubeconfig and
# ports; the default cluster is left alone), runs the tests, and stops the cluster again,
# also when they fail or are interrupted.
#
# Usage: test-compat.sh [PYTEST_ARG...]   e.g. -x, -k leader
# Environment: PYTEST (default .venv/bin/pytest); E2E_KEEP_CLUSTER=1 leaves the cluster up
# (stop it with `COMPAT=1 tests/cluster/cluster.sh down`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

log() { echo "test-compat: $*" >&2; }
phase_start=$SECONDS
phase() { log "$1 in $((SECONDS - phase_start))s"; phase_start=$SECONDS; }

bin="$("$here/build.sh" compat | tail -n 1)"
phase "binaries ($bin)"

stop() {
  local status=$?
  if [[ "${E2E_KEEP_CLUSTER:-0}" == 1 ]]; then
    log "E2E_KEEP_CLUSTER=1: the compat cluster stays up (COMPAT=1 $here/cluster.sh down stops it)"
  else
    phase_start=$SECONDS
    COMPAT=1 "$here/cluster.sh" down || status=1
    phase "cluster down"
  fi
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

COMPAT=1 "$here/cluster.sh" up
phase "cluster $COMPAT_KUBE_VERSION up"

cd "$repo"
status=0
E2E_KUBECONFIG="$(COMPAT=1 "$here/cluster.sh" kubeconfig)" \
  E2E_KUBECTL="$bin/kubectl" \
  E2E_KUBE_VERSION="$COMPAT_KUBE_VERSION" \
  E2E_LOG_DIR="$repo/.venv/e2e-logs/compat" \
  "${PYTEST:-.venv/bin/pytest}" -q -m compat tests/e2e "$@" || status=$?
phase "tests"
if ((status != 0)); then exit "$status"; fi
