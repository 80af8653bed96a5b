#!/usr/bin/env bash
# `make demo`: the pr12er pipeline as two Rollouts, on the local cluster, in about a minute.
# Uses only the local cluster's kubeconfig; your own kube context is never touched.
#
# Environment:
#   DEMO_METRICS_PORT=18080 DEMO_HEALTH_PORT=18081  the operator's ports on 127.0.0.1 (taken
#                                                   ones are replaced by free ones, and said so)
#   DEMO_OPERATOR_ARGS=""                           more `rollout-operator run` flags (e.g. -v)
#
# Every run starts namespace pr12er afresh, so nothing re-applies images that the Rollouts
# changed. The operator keeps running afterwards (for the "Try next" lines); when something
# fails, the demo says what, shows the operator's pid and log tail, and stops what it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ns=pr12er
py="$root/.venv/bin/python"
bold() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS"; }
note() { printf '    %s\n' "$*" >&2; }

step="starting"
operator_pid=""
started_operator=""
watcher=""
log=""
state=""

stop_watcher() {
  if [[ -n "$watcher" ]]; then
    kill "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    watcher=""
  fi
}

# Is $1 a live rollout-operator process (not a reused pid)?
is_operator() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'rollout-operator run\|rollout_operator run'
}

on_exit() {
  local status=$?
  stop_watcher
  ((status == 0)) && return 0
  {
    printf '\n\033[1;31m==> make demo failed (exit %s, after %ss) while %s\033[0m\n' \
      "$status" "$SECONDS" "$step"
    if [[ -n "$operator_pid" ]]; then
      if ! is_operator "$operator_pid"; then
        echo "The operator (pid $operator_pid) is not running any more."
      elif [[ -n "$started_operator" ]]; then
        kill "$operator_pid" 2>/dev/null || true
        echo "Stopped the operator this run started (pid $operator_pid)."
      else
        echo "The operator from an earlier run (pid $operator_pid) is still running."
      fi
      if [[ -n "$started_operator" && -n "$state" ]]; then rm -f "$state/demo-operator.pid"; fi
      echo "Last lines of its log ($log):"
      tail -n 25 "$log" 2>/dev/null | sed 's/^/    /'
    fi
    echo "Cluster state: tests/cluster/cluster.sh status    stop everything: make demo-down"
  } >&2
}
trap on_exit EXIT
trap 'exit 130' INT  # so that on_exit says where it stopped
trap 'exit 143' TERM

# Fails when a rollout does not get Ready, showing where it is stuck.
wait_ready() { # wait_ready TIMEOUT ROLLOUT...
  local timeout="$1"; shift
  if ! kubectl wait -n "$ns" --for=condition=Ready "${@/#/rollouts.rollout-operator.dev/}" \
    --timeout="$timeout" >/dev/null; then
    stop_watcher
    echo "Not Ready within $timeout:" >&2
    kubectl get rollouts.rollout-operator.dev -n "$ns" -o wide >&2 || true
    return 1
  fi
}

# Prints "METRICS HEALTH": the wanted ports, or free ones instead of taken ones (said on stderr).
pick_ports() {
  "$py" - "$@" <<'EOF'
import re, shutil, socket, subprocess, sys
held, chosen = [], []
for wanted in map(int, sys.argv[1:]):
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", wanted))
    except OSError as error:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        owner = subprocess.run(["ss", "-Hltnp", f"sport = :{wanted}"], capture_output=True,
                               text=True, check=False).stdout if shutil.which("ss") else ""
        found = re.search(r'\(\("([^"]+)",pid=(\d+)', owner)
        owner = f"{found[1]}, pid {found[2]}" if found else ""
        print(f"    port {wanted} is in use ({error.strerror}{', by ' + owner if owner else ''}); "
              f"using {sock.getsockname()[1]} instead", file=sys.stderr)
    held.append(sock)
    chosen.append(sock.getsockname()[1])
print(*chosen)
EOF
}

step="building the cluster binaries"
bold "Building (or reusing) the local cluster's binaries"
bin="$(tests/cluster/build.sh)"
step="starting the local cluster"
bold "Starting the local cluster (kube-apiserver, controller-manager, scheduler, 3 kwok nodes)"
tests/cluster/cluster.sh up
export KUBECONFIG
KUBECONFIG="$(tests/cluster/cluster.sh kubeconfig)"
export PATH="$bin:$PATH"  # the kubectl built with the cluster
state="$(dirname "$KUBECONFIG")"
log="$state/demo-operator.log"

step="installing the Rollout CRD"
bold "Installing the Rollout CRD"
kubectl apply --server-side -f crds/rollout-operator.dev_rollouts.yaml
kubectl wait --for=condition=Established crd/rollouts.rollout-operator.dev --timeout=60s

step="starting the operator"
wanted="${DEMO_METRICS_PORT:-18080} ${DEMO_HEALTH_PORT:-18081} ${DEMO_OPERATOR_ARGS:-}"
previous_pid="$(cat "$state/demo-operator.pid" 2>/dev/null || true)"
if is_operator "$previous_pid" && [[ "$(cat "$state/demo-operator.wanted" 2>/dev/null)" == "$wanted" ]]; then
  operator_pid="$previous_pid"
  read -r metrics_port health_port <"$state/demo-operator.ports"
  bold "The operator is already running (pid $operator_pid, log: $log)"
else
  if is_operator "$previous_pid"; then
    note "stopping the previous demo operator (pid $previous_pid): it ran with other settings"
    kill "$previous_pid"
  fi
  ports="$(pick_ports "${DEMO_METRICS_PORT:-18080}" "${DEMO_HEALTH_PORT:-18081}")"
  read -r metrics_port health_port <<<"$ports"
  bold "Starting the operator (metrics :$metrics_port, health :$health_port, log: $log)"
  # shellcheck disable=SC2086 # DEMO_OPERATOR_ARGS is a list of flags
  "$root/.venv/bin/rollout-operator" run --bind-address 127.0.0.1 \
    --metrics-port "$metrics_port" --health-port "$health_port" ${DEMO_OPERATOR_ARGS:-} \
    >"$log" 2>&1 &
  operator_pid=$!
  started_operator=1
  echo "$operator_pid" >"$state/demo-operator.pid"
  echo "$metrics_port $health_port" >"$state/demo-operator.ports"
  echo "$wanted" >"$state/demo-operator.wanted"
  note "pid $operator_pid"
  for _ in $(seq 1 300); do
    if ! is_operator "$operator_pid"; then
      wait "$operator_pid" && code=0 || code=$?
      echo "The operator exited (status $code) before it became healthy." >&2
      exit 1
    fi
    curl -fsS --max-time 5 "http://127.0.0.1:$health_port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS --max-time 5 "http://127.0.0.1:$health_port/healthz" >/dev/null 2>&1 ||
    { echo "The operator did not answer on :$health_port/healthz within 60 s." >&2; exit 1; }
fi

step="(re)creating namespace $ns"
if kubectl get namespace "$ns" >/dev/null 2>&1; then
  bold "Deleting namespace $ns from an earlier run"
  kubectl delete namespace "$ns" --wait=true --timeout=120s
fi
bold "The workloads as they run today (namespace $ns)"
kubectl create namespace "$ns"
step="creating the workloads (examples/workloads.yaml)"
kubectl create --save-config -n "$ns" -f examples/workloads.yaml
kubectl rollout status -n "$ns" deployment/server --timeout=120s
kubectl rollout status -n "$ns" deployment/grafana-agent --timeout=120s

watch_rollouts() { # print `kubectl get rollouts` on every change until stop_watcher
  kubectl get rollouts.rollout-operator.dev -n "$ns" -o wide --watch &
  watcher=$!
}

step="rolling out examples/rollouts.yaml"
bold "Applying examples/rollouts.yaml (replaces: kubectl set image ... server=...:3f2c1ab)"
watch_rollouts
kubectl apply -n "$ns" -f examples/rollouts.yaml >/dev/null
wait_ready 180s server grafana-agent
sleep 0.5; stop_watcher

step="restarting grafana-agent after its ConfigMap changed"
bold "Editing grafana-agent's ConfigMap (replaces: kubectl rollout restart deployment grafana-agent)"
watch_rollouts
kubectl apply -n "$ns" -f examples/grafana-agent-config-v2.yaml >/dev/null
# The restart is the Deployment's second generation (the first is its creation).
kubectl wait -n "$ns" --for=jsonpath='{.metadata.generation}'=2 deployment/grafana-agent \
  --timeout=60s >/dev/null
wait_ready 180s grafana-agent
sleep 0.5; stop_watcher

step="showing the result"
bold "Done: both rolled out"
kubectl get rollouts.rollout-operator.dev -n "$ns"
kubectl get events -n "$ns" --field-selector involvedObject.kind=Rollout \
  -o custom-columns=ROLLOUT:.involvedObject.name,REASON:.reason,MESSAGE:.message

cat <<NEXT

Try next (rollo is the short name of rollouts.rollout-operator.dev):
  export KUBECONFIG=$KUBECONFIG PATH=$bin:\$PATH
  kubectl get rollo -n $ns -o wide
  kubectl describe rollo server -n $ns
  # A bad release: its pods never get Ready; Failed after the Deployment's 15 s progress deadline.
  kubectl apply -n $ns -f examples/bad-release.yaml
  kubectl wait -n $ns --for=jsonpath='{.status.phase}'=Failed rollo/server --timeout=90s
  kubectl get rollo server -n $ns -o jsonpath='{.status.reason}: {.status.message}{"\n"}'
  # The fix is the good spec again.
  kubectl apply -n $ns -f examples/rollouts.yaml
  kubectl wait -n $ns --for=condition=Ready rollo/server --timeout=120s
  curl -fsS --max-time 5 127.0.0.1:$metrics_port/metrics | grep '^rollout_operator_rollouts'

Operator: pid $operator_pid, log $log
Stop everything: make demo-down
NEXT
