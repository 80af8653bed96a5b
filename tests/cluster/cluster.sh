#!/usr/bin/env bash
# The local test cluster: a real kube-apiserver, kube-controller-manager and
# kube-scheduler on etcd, with kwok faking the nodes and the kubelets (no
# containers run), and optionally one real node (realnode.sh: containerd and a
# kubelet, where the operator's image runs as a real pod). Everything listens on
# 127.0.0.1 and lives in the cache:
#
#   $ROLLOUT_OPERATOR_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/rollout-operator)
#     k8s-...-kwok-.../bin   binaries from tests/cluster/build.sh
#     kwok/                  KWOK_WORKDIR: kwokctl's clusters, logs, pids
#     kubeconfig.yaml        the only kubeconfig written (context kwok-rollout-operator)
#     kube-cache/            kubectl's discovery cache (KUBECACHEDIR)
#     kind-kubeconfig.yaml   from kind-up only (context kind-rollout-operator)
#     realnode/              the real node's configuration, logs and state
#     compat/                the compat cluster (COMPAT=1): its own kwok/, kubeconfig.yaml
#                            (context kwok-rollout-operator-compat) and kube-cache/
#
# Usage: cluster.sh up|down|status|kubeconfig|kind-up|kind-down
#   up          start the cluster (quick no-op when it is already up and healthy);
#               with REAL_NODE=1 also the real node (realnode.sh up)
#   down        delete it, the real node included, and stop any of its processes
#               that are left
#   status      exit 0 when it is up and healthy (prints why not on stderr); with
#               REAL_NODE=1 the real node must be up too
#   kubeconfig  print the kubeconfig path (only that, on stdout)
#   kind-up     a kind cluster instead (needs kind and a Docker engine)
#   kind-down   delete that kind cluster
#
# Environment:
#   CLUSTER_NODES=3          fake nodes kept Ready (no taints)
#   POD_READY_DELAY_MS=1000  time from a pod's creation on a node to Ready
#   POD_DELETE_DELAY_MS=0    time from a pod's graceful delete to its removal
#   CLUSTER_UP_TIMEOUT=120   seconds `up` may take before it gives up
#   KWOK_LOG_LEVEL=WARN      kwokctl's log level (INFO shows its steps)
#   REAL_NODE=0              1: up/status include the real node (realnode.sh)
#   COMPAT=0                 1: act on the compat cluster instead: a second cluster named
#                            rollout-operator-compat on COMPAT_KUBE_VERSION (the oldest
#                            supported minor; binaries from `build.sh compat`), with its own
#                            kwok workdir, kubeconfig and ports; the default cluster is left
#                            alone. No real node and no kind for it.
# A change of the delays or of the binaries makes `up` recreate the cluster.
# Pods whose container image tag ends in "-broken" run but never become Ready
# (see kwok/stages.yaml.in). ~/.kube/config and ~/.kwok are never touched.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

cache_root="${ROLLOUT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollout-operator}"
compat="${COMPAT:-0}"
[[ "$compat" =~ ^[01]$ ]] || { echo "cluster.sh: error: COMPAT must be 0 or 1, got '$compat'" >&2; exit 1; }
if [[ "$compat" == 1 ]]; then
  name=rollout-operator-compat
  KUBE_VERSION="$COMPAT_KUBE_VERSION"
  state="$cache_root/compat"
  build_args=(compat)
else
  name=rollout-operator
  state="$cache_root"
  build_args=()
fi
context="kwok-$name"
bin="$cache_root/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
export KWOK_WORKDIR="$state/kwok"
workdir="$KWOK_WORKDIR/clusters/$name"
kubeconfig="$state/kubeconfig.yaml"
kind_kubeconfig="$cache_root/kind-kubeconfig.yaml"
nodes="${CLUSTER_NODES:-3}"
ready_delay_ms="${POD_READY_DELAY_MS:-1000}"
delete_delay_ms="${POD_DELETE_DELAY_MS:-0}"
up_timeout="${CLUSTER_UP_TIMEOUT:-120}"
real_node="${REAL_NODE:-0}"
# The first address of kwokctl's default service CIDR (10.0.0.0/24).
service_ip=10.0.0.1
# kwokctl labels the fake nodes it makes with this key; a real node has not.
fake_nodes="kwok.x-k8s.io/kwokctl-scale"
fingerprint_file="$workdir/rollout-operator.fingerprint"
# kwokctl and kubectl must never fall back to ~/.kube/config, nor cache in ~/.kube.
unset KUBECONFIG
export KUBECACHEDIR="$state/kube-cache"

log() { echo "cluster.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

kwokctl() { "$bin/kwokctl" --name "$name" -v "${KWOK_LOG_LEVEL:-WARN}" "$@"; }
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" --context "$context" "$@"; }

[[ "$nodes" =~ ^[0-9]+$ ]] || die "CLUSTER_NODES must be a number, got '$nodes'"
[[ "$ready_delay_ms" =~ ^[0-9]+$ ]] || die "POD_READY_DELAY_MS must be a number, got '$ready_delay_ms'"
[[ "$delete_delay_ms" =~ ^[0-9]+$ ]] || die "POD_DELETE_DELAY_MS must be a number, got '$delete_delay_ms'"
[[ "$real_node" =~ ^[01]$ ]] || die "REAL_NODE must be 0 or 1, got '$real_node'"
[[ "$compat$real_node" != 11 ]] || die "COMPAT=1: the compat cluster has no real node (REAL_NODE=1)"

# The configuration kwokctl is given: binaries, loopback only, stages.
render_config() { # render_config DIR: writes DIR/kwokctl.yaml and DIR/stages.yaml
  local dir="$1"
  mkdir -p "$dir"
  cat >"$dir/kwokctl.yaml" <<EOF
# Generated by tests/cluster/cluster.sh; do not edit.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  # The kubernetes Service's ClusterIP: pods on the real node reach the apiserver
  # there (realnode.sh forwards it to 127.0.0.1) and must be able to verify it.
  kubeApiserverCertSANs: ["$service_ip"]
  kubeVersion: $KUBE_VERSION
  etcdVersion: ${ETCD_VERSION#v}
  kwokVersion: $KWOK_VERSION
  kubeApiserverBinary: $bin/kube-apiserver
  kubeControllerManagerBinary: $bin/kube-controller-manager
  kubeSchedulerBinary: $bin/kube-scheduler
  kubectlBinary: $bin/kubectl
  etcdBinary: $bin/etcd
  kwokControllerBinary: $bin/kwok
  cacheDir: $KWOK_WORKDIR/cache
  disableQPSLimits: true
  quietPull: true
# One instance each: no leader election, so that a restart does not wait for
# the lease of the previous (killed) instance to expire before reconciling.
componentsPatches:
- name: kube-controller-manager
  extraArgs:
  - key: leader-elect
    value: "false"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
# kwok fakes only its own nodes (kwokctl annotates them kwok.x-k8s.io/node=fake),
# so that a real kubelet may join (realnode.sh).
- name: kwok-controller
  extraArgs:
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
EOF
  sed -e "s/@POD_READY_DELAY_MS@/$ready_delay_ms/g" \
    -e "s/@POD_DELETE_DELAY_MS@/$delete_delay_ms/g" \
    "$here/kwok/stages.yaml.in" >"$dir/stages.yaml"
}

fingerprint() { # of everything that needs a new cluster when it changes
  cat "$1/kwokctl.yaml" "$1/stages.yaml" | sha256sum | cut -c1-16
}

# Pids of our cluster's processes: kwokctl runs each component from the
# cluster's bin dir, so match the program path (never a pid file alone: its
# pid may have been reused by something else since).
cluster_pids() {
  local f pid cmd
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    cmd="$(tr '\0' ' ' 2>/dev/null <"$f")" || continue  # the process may be gone
    if [[ "$cmd" == "$workdir/bin/"* ]]; then echo "$pid"; fi
  done
  return 0
}

stop_processes() { # stop_processes WHAT: SIGTERM our cluster's processes, wait, then SIGKILL
  local pids pid
  pids="$(cluster_pids || true)"
  [[ -n "$pids" ]] || return 0
  log "stopping $1 processes: $(echo "$pids" | xargs)"
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 150); do # etcd may take several seconds to shut down
    pids="$(for pid in $pids; do if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi; done)"
    [[ -z "$pids" ]] && return 0
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
}

# healthy [--quiet] [--control-plane]: all components running (kwokctl checks
# their health endpoints), kube-apiserver ready and, unless --control-plane,
# at least CLUSTER_NODES nodes Ready.
healthy() {
  local quiet="" control_plane_only="" arg why=""
  for arg in "$@"; do
    case "$arg" in
      --quiet) quiet=1 ;;
      --control-plane) control_plane_only=1 ;;
    esac
  done
  if [[ ! -f "$kubeconfig" || ! -f "$workdir/kwok.yaml" ]]; then
    why="not created"
  elif ! kwokctl get components -o wide >"$workdir/.components" 2>&1; then
    why="kwokctl get components failed"
  elif [[ -n "$(awk 'NR > 1 && $2 != "Ready" { print $1 }' "$workdir/.components")" ]]; then
    why="components not ready: $(awk 'NR > 1 && $2 != "Ready" { print $1 }' "$workdir/.components" | xargs)"
  elif [[ "$(kubectl get --raw /readyz --request-timeout=5s 2>/dev/null)" != ok ]]; then
    why="kube-apiserver not ready"
  elif [[ -z "$control_plane_only" ]]; then
    local ready
    ready="$(kubectl get nodes -l "$fake_nodes" --request-timeout=5s --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)"
    if ((ready < nodes)); then why="$ready of $nodes nodes Ready"; fi
  fi
  if [[ -n "$why" ]]; then
    [[ -n "$quiet" ]] || log "not healthy: $why"
    return 1
  fi
  return 0
}

wait_until() { # wait_until SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for $what"
    sleep 0.2
  done
}

scale_nodes() {
  local have
  have="$(kubectl get nodes -l "$fake_nodes" --request-timeout=10s --no-headers 2>/dev/null | wc -l)"
  if ((have != nodes)); then
    log "scaling fake nodes $have -> $nodes"
    # Node addresses on loopback, so that anything that would talk to a
    # "kubelet" (kubectl logs/exec) stays on this machine.
    kwokctl scale node --replicas "$nodes" --param '.nodeIPs = ["127.0.0.11"]' >&2
  fi
  if ((nodes > 0)); then
    wait_until 60 "$nodes Ready nodes" nodes_ready
  fi
}
nodes_ready() {
  (($(kubectl get nodes -l "$fake_nodes" --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l) >= nodes))
}

cmd_up() {
  local start; start="$(now)"
  if [[ ! -x "$bin/kwokctl" || ! -x "$bin/kube-apiserver" || ! -x "$bin/kubectl" ]]; then
    log "binaries missing in $bin; building them (tests/cluster/build.sh ${build_args[*]})"
    "$here/build.sh" "${build_args[@]}" >/dev/null
  fi
  mkdir -p "$KWOK_WORKDIR"
  local staging="$KWOK_WORKDIR/config"
  render_config "$staging"
  local want; want="$(fingerprint "$staging")"

  if [[ -d "$workdir" ]]; then
    local have=""; [[ -f "$fingerprint_file" ]] && have="$(cat "$fingerprint_file")"
    if [[ "$have" != "$want" ]]; then
      log "configuration changed (binaries, stages or delays); recreating the cluster"
      cmd_down
    elif healthy --quiet --control-plane; then
      scale_nodes  # CLUSTER_NODES may have changed
      real_node_up
      log "already up and healthy ($(since "$start")s); kubeconfig: $kubeconfig"
      return 0
    else
      # Half up (a crash, a reboot, an interrupted `up`): kwokctl would leave
      # the components that still run alone, even when they are on their way
      # out, so stop them all and start the cluster again from its saved state.
      log "cluster exists but is not healthy; restarting its components"
      kwokctl stop cluster >&2 || true
      stop_processes remaining
    fi
  fi

  # Creates the cluster, or starts the components of an existing one again.
  log "starting cluster $name (kwokctl, binary runtime, 127.0.0.1)"
  kwokctl create cluster \
    --runtime binary \
    --config "$staging/kwokctl.yaml" --config "$staging/stages.yaml" \
    --kubeconfig "$kubeconfig" \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --etcd-binary "$bin/etcd" \
    --kwok-controller-binary "$bin/kwok" \
    --wait "${up_timeout}s" --timeout "${up_timeout}s" >&2 \
    || { log "kwokctl create cluster failed; logs: $workdir/logs"; exit 1; }
  echo "$want" >"$fingerprint_file"
  # Our kubeconfig file holds our context only (the e2e tests check its name).
  [[ "$("$bin/kubectl" --kubeconfig "$kubeconfig" config current-context)" == "$context" ]] \
    || die "unexpected current-context in $kubeconfig"

  wait_until "$up_timeout" "kube-apiserver /readyz" kube_ready
  scale_nodes
  # Pods can only be created once the service account controller made the
  # namespace's "default" ServiceAccount: proof that the controller-manager runs.
  wait_until 60 "the default ServiceAccount (kube-controller-manager)" \
    kubectl get serviceaccount default --namespace default
  healthy || die "cluster did not become healthy; logs: $workdir/logs"
  real_node_up
  log "up in $(since "$start")s; kubeconfig: $kubeconfig"
}
real_node_up() { if [[ "$real_node" == 1 ]]; then "$here/realnode.sh" up; fi; }
kube_ready() { [[ "$(kubectl get --raw /readyz --request-timeout=5s 2>/dev/null)" == ok ]]; }

cmd_down() {
  local start; start="$(now)"
  # The real node first, while the apiserver can still take its node object away
  # (it belongs to the default cluster: never stopped for the compat one).
  if [[ "$compat" == 0 ]]; then
    "$here/realnode.sh" down || log "realnode.sh down failed; continuing"
  fi
  if [[ -d "$workdir" && -x "$bin/kwokctl" ]]; then
    kwokctl delete cluster --kubeconfig "$kubeconfig" >&2 || log "kwokctl delete cluster failed; cleaning up by hand"
  fi
  stop_processes leftover
  rm -rf "$workdir" "$kubeconfig"
  log "down in $(since "$start")s"
}

cmd_status() {
  healthy || return 1
  # Running, but with other delays or binaries than `up` would use now?
  local tmp want
  tmp="$(mktemp -d)"
  render_config "$tmp"
  want="$(fingerprint "$tmp")"
  rm -rf "$tmp"
  if [[ "$(cat "$fingerprint_file" 2>/dev/null)" != "$want" ]]; then
    log "up, but with another configuration (POD_*_DELAY_MS or binaries); 'up' recreates it"
    return 1
  fi
  if [[ "$real_node" == 1 ]]; then "$here/realnode.sh" status || return 1; fi
  log "up and healthy; kubeconfig: $kubeconfig"
}

cmd_kind_up() {
  [[ "$compat" == 0 ]] || die "COMPAT=1: the compat cluster is kwok only"
  # kind runs the nodes as Docker containers: it needs a Docker engine, which
  # the CI machine does not have (use `up` there).
  command -v kind >/dev/null 2>&1 \
    || die "kind is not installed (https://kind.sigs.k8s.io); it also needs a Docker engine. Use 'cluster.sh up' for the kwok cluster."
  if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    die "kind needs a running Docker engine ('docker info' failed). Use 'cluster.sh up' for the kwok cluster."
  fi
  mkdir -p "$cache_root"
  if kind get clusters 2>/dev/null | grep -qx "$name"; then
    log "kind cluster $name exists"
    kind export kubeconfig --name "$name" --kubeconfig "$kind_kubeconfig" >&2
  else
    kind create cluster --name "$name" --kubeconfig "$kind_kubeconfig" >&2
  fi
  log "kubeconfig: $kind_kubeconfig (context kind-$name); run the e2e tests with E2E_KUBECONFIG=$kind_kubeconfig"
}

cmd_kind_down() {
  [[ "$compat" == 0 ]] || die "COMPAT=1: the compat cluster is kwok only"
  command -v kind >/dev/null 2>&1 || die "kind is not installed"
  kind delete cluster --name "$name" --kubeconfig "$kind_kubeconfig" >&2
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubeconfig) echo "$kubeconfig" ;;
  kind-up) cmd_kind_up ;;
  kind-down) cmd_kind_down ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
