#!/usr/bin/env bash
# The local cluster's real node: containerd + runc from the host's packages and a
# kubelet built from the same k8s.io/kubernetes module as the control plane
# (build.sh), joined to the cluster of cluster.sh. Pods scheduled there really
# run, so the operator's image runs as users run it: a pod, its ServiceAccount,
# uid 65532, read-only root, no capabilities. kwok keeps faking its own nodes;
# the workloads of the tests stay there.
#
# The node is named "localhost" (the apiserver reaches the kubelet, which listens
# on 127.0.0.1 only, by the node's host name: `kubectl logs` works), labelled
# and tainted rollout-operator.dev/real-node=true:NoSchedule, so only pods that
# ask for it land there. Images get there by import (no registry): `import`.
# Pods reach the loopback-only apiserver at the kubernetes Service's ClusterIP
# (a SAN of the apiserver's certificate, see cluster.sh), forwarded by one DNAT
# rule from the node's bridge to 127.0.0.1.
#
# Usage: realnode.sh up|down|status|import IMAGE...
#   up      start containerd and the kubelet (a no-op when they run and the node
#           is Ready); the cluster must be up
#   down    stop them and remove the node's containers, mounts, cgroups, network
#           rules and object (images stay in the cache); a no-op when nothing runs
#   status  exit 0 when the node is up and Ready
#   import  copy images from the local podman/buildah (or docker) store to the node
#
# Needs root, tests/cluster/host-setup.sh (run by `up`), and kubelet + pause from
# build.sh (run by `up` when missing). One real node per machine: it uses fixed
# ports (kubelet 20250, healthz 20248), the bridge rornode0 (10.244.77.0/24) and
# /run/rollout-operator-node; `up` refuses when another cache's node runs.
# Files: $ROLLOUT_OPERATOR_CACHE/realnode/ (configuration, logs, containerd's
# images, the kubelet's root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

cache_root="${ROLLOUT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollout-operator}"
bin="$cache_root/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
kubeconfig="$cache_root/kubeconfig.yaml"
context=kwok-rollout-operator
state="$cache_root/realnode"
run_dir=/run/rollout-operator-node # short: the containerd socket path is limited
sock="$run_dir/containerd.sock"
node=localhost
key=rollout-operator.dev/real-node
kubelet_port=20250
healthz_port=20248
bridge=rornode0
subnet=10.244.77.0/24
cni_network=rollout-operator-node
rule_comment=rollout-operator-node
pause_image=localhost/rollout-operator-pause:1
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/realnode/containers.conf}"
unset KUBECONFIG
export KUBECACHEDIR="$cache_root/kube-cache"

log() { echo "realnode.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" --context "$context" "$@"; }
ctr() { command ctr --address "$sock" --namespace k8s.io "$@"; }

containerd_cmd=(containerd --config "$state/containerd.toml")
kubelet_cmd=("$bin/kubelet" --config "$state/kubelet.yaml")
# Command-line patterns of our processes (arguments joined by spaces).
containerd_pattern="${containerd_cmd[*]} *"
kubelet_pattern="${kubelet_cmd[*]} *"
shim_pattern="*containerd-shim-runc-v2 -namespace k8s.io * -address $sock *"

# Pids of the processes whose command line matches the glob PATTERN (never a
# pid file alone: its pid may have been reused since).
pids_of() {
  local f pid cmd
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    cmd="$(tr '\0' ' ' 2>/dev/null <"$f")" || continue # the process may be gone
    # shellcheck disable=SC2053 # a glob on purpose
    if [[ "$cmd" == $1 ]]; then echo "$pid"; fi
  done
  return 0
}
running() { [[ -n "$(pids_of "$1")" ]]; }

stop() { # stop WHAT PATTERN: SIGTERM, up to 15 s, then SIGKILL
  local pids pid
  pids="$(pids_of "$2")"
  [[ -n "$pids" ]] || return 0
  log "stopping $1 ($(echo "$pids" | xargs))"
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 150); do
    pids="$(for pid in $pids; do if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi; done)"
    [[ -z "$pids" ]] && return 0
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
}

wait_until() { # wait_until SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for $what"
    sleep 0.3
  done
}

apiserver_port() { # the loopback apiserver's port, from the kubeconfig
  local server
  server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  [[ "$server" =~ ^https://127\.0\.0\.1:([0-9]+)$ ]] || die "unexpected apiserver address '$server'"
  echo "${BASH_REMATCH[1]}"
}

render_configs() {
  mkdir -p "$state/cni" "$state/containerd" "$state/kubelet" "$state/pods" "$run_dir"
  cat >"$state/containerd.toml" <<EOF
# Generated by tests/cluster/realnode.sh; do not edit.
version = 2
root = "$state/containerd"
state = "$run_dir/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Root without CAP_SYS_RESOURCE (VMs like the CI's) may not lower oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni"
EOF
  cat >"$state/cni/10-$cni_network.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "$cni_network", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
  cat >"$state/kubelet.yaml" <<EOF
# Generated by tests/cluster/realnode.sh; do not edit.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
# Reachable from this machine only (127.0.0.1), for the apiserver's logs/exec.
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$sock
# What works in a VM without systemd and with cgroup v1 (the CI machine).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: /etc/resolv.conf
podLogsDir: $state/pods
podPidsLimit: -1
registerWithTaints: [{key: $key, value: "true", effect: NoSchedule}]
# Never evict or garbage-collect on a busy developer disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%"}
EOF
  kubectl config view --flatten --minify >"$state/kubelet.kubeconfig.new"
  chmod 600 "$state/kubelet.kubeconfig.new"
}

start_containerd() {
  if running "$containerd_pattern"; then return 0; fi
  log "starting containerd (log: $state/containerd.log)"
  setsid "${containerd_cmd[@]}" >>"$state/containerd.log" 2>&1 </dev/null &
  wait_until 30 "containerd" ctr version
}

import_pause() {
  if ctr images ls -q "name==$pause_image" | grep -q .; then return 0; fi
  log "making $pause_image from $bin/pause"
  local c
  c="$(buildah from scratch)"
  buildah copy --quiet "$c" "$bin/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit --quiet --rm "$c" "$pause_image" >/dev/null
  import_images "$pause_image"
}

start_kubelet() {
  local restart=""
  if ! cmp -s "$state/kubelet.kubeconfig.new" "$state/kubelet.kubeconfig" 2>/dev/null; then
    restart=1 # a new cluster (new CA, new port): the kubelet must start over
    mv "$state/kubelet.kubeconfig.new" "$state/kubelet.kubeconfig"
  else
    rm -f "$state/kubelet.kubeconfig.new"
  fi
  if running "$kubelet_pattern"; then
    [[ -z "$restart" ]] && return 0
    log "the cluster changed; restarting the kubelet"
    stop kubelet "$kubelet_pattern"
  fi
  log "starting the kubelet (log: $state/kubelet.log)"
  setsid "${kubelet_cmd[@]}" --kubeconfig "$state/kubelet.kubeconfig" \
    --hostname-override "$node" --root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" \
    --node-labels "$key=true" -v=1 >>"$state/kubelet.log" 2>&1 </dev/null &
}

node_ready() {
  [[ "$(kubectl get node "$node" --request-timeout=5s \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# Pods reach the apiserver at the kubernetes Service's ClusterIP:443: forward
# that from the bridge to the loopback apiserver. The bridge is made here (the
# CNI plugin takes it over) so that the rule works from the first pod on.
network_up() {
  local service_ip port
  service_ip="$(kubectl get service kubernetes -n default -o jsonpath='{.spec.clusterIP}')"
  port="$(apiserver_port)"
  if [[ ! -e "/sys/class/net/$bridge" ]]; then ip link add "$bridge" type bridge; fi
  ip link set "$bridge" up
  sysctl -qw "net.ipv4.conf.$bridge.route_localnet=1" # DNAT to 127.0.0.1
  remove_rules
  iptables -t nat -A PREROUTING -i "$bridge" -d "$service_ip/32" -p tcp --dport 443 \
    -m comment --comment "$rule_comment" -j DNAT --to-destination "127.0.0.1:$port"
}

remove_rules() { # our DNAT rules, by their comment (the apiserver's port may have changed)
  local rule
  command -v iptables >/dev/null 2>&1 || return 0
  while read -r rule; do
    # shellcheck disable=SC2086 # a rule as iptables -S prints it: words
    iptables -t nat -D ${rule#-A } || true
  done < <(iptables -t nat -S PREROUTING 2>/dev/null | grep -F -- "--comment $rule_comment" || true)
}

claim() { # one real node per machine (fixed ports, bridge, /run paths)
  mkdir -p "$run_dir"
  local owner=""
  [[ -f "$run_dir/owner" ]] && owner="$(cat "$run_dir/owner")"
  if [[ -n "$owner" && "$owner" != "$state" ]] \
    && running "containerd --config $owner/containerd.toml *"; then
    die "the real node of $owner runs on this machine; stop it first (ROLLOUT_OPERATOR_CACHE=${owner%/realnode} $0 down)"
  fi
  echo "$state" >"$run_dir/owner"
}

cmd_up() {
  local start=$SECONDS
  [[ "$(id -u)" == 0 ]] || die "the real node needs root (containerd, kubelet, iptables)"
  "$here/host-setup.sh"
  if [[ ! -x "$bin/kubelet" || ! -x "$bin/pause" ]]; then
    log "kubelet or pause missing in $bin; building them (build.sh)"
    "$here/build.sh" >/dev/null
  fi
  [[ "$(kubectl get --raw /readyz --request-timeout=5s 2>/dev/null)" == ok ]] \
    || die "the cluster is not up (tests/cluster/cluster.sh up)"
  if running "$containerd_pattern" && running "$kubelet_pattern" && node_ready \
    && cmp -s <(kubectl config view --flatten --minify) "$state/kubelet.kubeconfig"; then
    network_up
    log "already up ($((SECONDS - start))s)"
    return 0
  fi
  claim
  render_configs
  start_containerd
  import_pause
  start_kubelet
  wait_until 90 "node $node Ready (log: $state/kubelet.log)" node_ready
  network_up
  log "node $node up in $((SECONDS - start))s"
}

cmd_down() {
  local start=$SECONDS
  [[ -d "$state" ]] || return 0
  if [[ "$(id -u)" != 0 ]]; then
    if running "$containerd_pattern" || running "$kubelet_pattern"; then die "stopping the real node needs root"; fi
    return 0
  fi
  stop kubelet "$kubelet_pattern"
  if running "$containerd_pattern"; then
    local id
    for id in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr containers ls -q 2>/dev/null); do
      for _ in $(seq 50); do ctr tasks delete "$id" >/dev/null 2>&1 && break; ctr tasks ls -q | grep -qx "$id" || break; sleep 0.1; done
      ctr containers delete "$id" >/dev/null 2>&1 || true
    done
    stop containerd "$containerd_pattern"
  fi
  stop "containerd shims" "$shim_pattern"
  # Whatever the killed pods left mounted: volumes, sandbox network namespaces.
  { grep -E " ($state|$run_dir)/| /run/netns/cni-" /proc/self/mounts || true; } \
    | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -f /run/netns/cni-*
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    if [[ -d "$hierarchy" ]]; then find "$hierarchy" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
  remove_rules
  if [[ -e "/sys/class/net/$bridge" ]]; then ip link del "$bridge"; fi
  rm -rf "$state/kubelet" "$state/pods" "/var/lib/cni/networks/$cni_network" "$run_dir/containerd" \
    "$sock" "$sock.ttrpc"
  if [[ -f "$kubeconfig" ]]; then
    kubectl delete node "$node" --ignore-not-found --wait=false --request-timeout=5s >/dev/null 2>&1 || true
  fi
  if [[ "$(cat "$run_dir/owner" 2>/dev/null)" == "$state" ]]; then rm -f "$run_dir/owner"; fi
  log "down in $((SECONDS - start))s"
}

cmd_status() {
  local why=""
  if ! running "$containerd_pattern"; then why="containerd is not running"
  elif ! running "$kubelet_pattern"; then why="the kubelet is not running"
  elif ! node_ready; then why="node $node is not Ready"
  fi
  if [[ -n "$why" ]]; then log "not up: $why"; return 1; fi
  log "node $node up and Ready"
}

# The image's id in the store it was built in (podman/buildah, else docker).
local_image_id() {
  podman image inspect -f '{{.Id}}' "$1" 2>/dev/null \
    || docker image inspect -f '{{.Id}}' "$1" 2>/dev/null \
    || die "image $1 is in neither the podman/buildah nor the docker store"
}

import_images() { # import_images REF...: skip those already imported with the same id
  local ref id marker tar
  running "$containerd_pattern" || die "the real node is not up (realnode.sh up)"
  mkdir -p "$state/images"
  for ref in "$@"; do
    id="$(local_image_id "$ref")"
    marker="$state/images/$(echo "$ref" | tr '/:' '__')"
    if [[ "$(cat "$marker" 2>/dev/null)" == "$id" ]] && ctr images ls -q "name==$ref" | grep -q .; then
      continue
    fi
    tar="$(mktemp "$state/images/import.XXXXXX")"
    if podman image exists "$ref" 2>/dev/null; then
      podman save --quiet --format docker-archive -o "$tar" "$ref"
    else
      rm -f "$tar"; docker save -o "$tar" "$ref"
    fi
    ctr images import --digests=false "$tar" >/dev/null
    rm -f "$tar"
    ctr images ls -q "name==$ref" | grep -q . || die "importing $ref: containerd does not list it"
    echo "$id" >"$marker"
    log "imported $ref"
  done
  prune_images
}

# Images that lost their tag to a newer import (CRI keeps an id-named reference to
# each): drop them, so that rebuilding the same tag does not fill the disk.
prune_images() {
  local images tagged name digest
  images="$(ctr images ls)"
  tagged="$(awk 'NR > 1 && $1 !~ /^sha256:/ { print $3 }' <<<"$images")"
  while read -r name digest; do
    if ! grep -qxF "$digest" <<<"$tagged"; then ctr images rm --sync "$name" >/dev/null || true; fi
  done < <(awk 'NR > 1 && $1 ~ /^sha256:/ { print $1, $3 }' <<<"$images")
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  import) shift; import_images "$@" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
