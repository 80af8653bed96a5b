#!/usr/bin/env bash
# `make demo-down`: stop the demo's operator and the local cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$(dirname "$("$root/tests/cluster/cluster.sh" kubeconfig)")"
pid="$(cat "$state/demo-operator.pid" 2>/dev/null || true)"
# Only a live rollout-operator: the pid may have been reused since.
if [[ -n "$pid" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'rollout-operator run'; then
  kill "$pid"
  echo "demo-down: stopped the demo's operator (pid $pid)" >&2
fi
rm -f "$state"/demo-operator.{pid,ports,wanted}
"$root/tests/cluster/cluster.sh" down
