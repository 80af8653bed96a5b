#!/usr/bin/env bash
# `make demo-down`: stop the demo's operator and the local cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$(dirname "$("$root/tests/cluster/cluster.sh" kubeconfig)")"
if [[ -f "$state/demo-operator.pid" ]]; then
  kill "$(cat "$state/demo-operator.pid")" 2>/dev/null || true
  rm -f "$state/demo-operator.pid"
fi
"$root/tests/cluster/cluster.sh" down
