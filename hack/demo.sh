#!/usr/bin/env bash
# `make demo`: the pr12er pipeline as two Rollouts, on the local cluster, in about a minute.
# Uses only the local cluster's kubeconfig; your own kube context is never touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ns=pr12er
bold() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

bold "Building (or reusing) the local cluster's binaries"
bin="$(tests/cluster/build.sh)"
bold "Starting the local cluster (kube-apiserver, controller-manager, scheduler, 3 kwok nodes)"
tests/cluster/cluster.sh up
export KUBECONFIG
KUBECONFIG="$(tests/cluster/cluster.sh kubeconfig)"
export PATH="$bin:$PATH"  # the kubectl built with the cluster

bold "Installing the Rollout CRD"
kubectl apply --server-side -f crds/rollout-operator.dev_rollouts.yaml
kubectl wait --for=condition=Established crd/rollouts.rollout-operator.dev --timeout=60s

state="$(dirname "$KUBECONFIG")"
if [[ -f "$state/demo-operator.pid" ]] && kill -0 "$(cat "$state/demo-operator.pid")" 2>/dev/null; then
  bold "The operator is already running (pid $(cat "$state/demo-operator.pid"))"
else
  bold "Starting the operator (log: $state/demo-operator.log)"
  .venv/bin/rollout-operator run --bind-address 127.0.0.1 --metrics-port 18080 --health-port 18081 \
    >"$state/demo-operator.log" 2>&1 &
  echo $! >"$state/demo-operator.pid"
  for _ in $(seq 1 100); do
    curl -fsS http://127.0.0.1:18081/healthz >/dev/null 2>&1 && break
    sleep 0.2
  done
fi

bold "The workloads as they run today (namespace $ns)"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$ns" -f examples/workloads.yaml
kubectl rollout status -n "$ns" deployment/server --timeout=120s
kubectl rollout status -n "$ns" deployment/grafana-agent --timeout=120s

watch_rollouts() { # print `kubectl get rollouts` on every change until killed
  kubectl get rollouts -n "$ns" -o wide --watch &
  watcher=$!
}

bold "Applying examples/rollouts.yaml (replaces: kubectl set image ... server=...:3f2c1ab)"
watch_rollouts
kubectl apply -n "$ns" -f examples/rollouts.yaml >/dev/null
kubectl wait -n "$ns" --for=condition=Ready rollout/server rollout/grafana-agent --timeout=180s >/dev/null
sleep 0.5; kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true

bold "Editing grafana-agent's ConfigMap (replaces: kubectl rollout restart deployment grafana-agent)"
watch_rollouts
kubectl apply -n "$ns" -f examples/grafana-agent-config-v2.yaml >/dev/null
kubectl wait -n "$ns" --for=jsonpath='{.status.reason}'=Progressing rollout/grafana-agent --timeout=30s >/dev/null || true
kubectl wait -n "$ns" --for=condition=Ready rollout/grafana-agent --timeout=180s >/dev/null
sleep 0.5; kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true

bold "Done: both rolled out"
kubectl get rollouts -n "$ns"
kubectl get events -n "$ns" --field-selector involvedObject.kind=Rollout \
  -o custom-columns=ROLLOUT:.involvedObject.name,REASON:.reason,MESSAGE:.message

cat <<NEXT

Try next:
  export KUBECONFIG=$KUBECONFIG PATH=$bin:\$PATH
  kubectl get rollouts -n $ns -o wide
  kubectl describe rollout server -n $ns
  kubectl patch rollout server -n $ns --type=merge -p '{"spec":{"containers":[{"name":"server","tag":"v2-broken"}]}}'
      # a bad release: pods never get Ready; the Rollout turns Failed at the Deployment's deadline
  kubectl wait --for=condition=Ready rollout/server -n $ns
Operator log: $state/demo-operator.log    metrics: curl -s 127.0.0.1:18080/metrics
Stop everything: make demo-down
NEXT
