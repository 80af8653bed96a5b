#!/usr/bin/env bash
# Build the local cluster's binaries from the Go modules pinned under tools/
# (and realnode/pause) into a cache directory keyed by their versions; prints
# that bin directory.
# A second run with everything present builds nothing.
#
# Usage: build.sh [helm|compat]
#   (none)  the default cluster: control plane, kubectl, kubelet of KUBE_VERSION, etcd, kwok
#   helm    helm for the chart tests, into the default bin dir (and nothing else)
#   compat  the compat cluster (cluster.sh with COMPAT=1, make test-compat): control plane
#           and kubectl of COMPAT_KUBE_VERSION (tools/kubernetes-vX.Y) in a bin dir of their
#           own, next to links to the default etcd, kwok and kwokctl (built when missing)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

cache_root="${ROLLOUT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollout-operator}"
bin_dir() { echo "$cache_root/k8s-$1-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"; }
bin="$(bin_dir "$KUBE_VERSION")"
mkdir -p "$bin"

need() { # need DIR NAME...: true when any of the named binaries is missing from DIR
  local dir="$1" name; shift
  for name in "$@"; do [[ -x "$dir/$name" ]] || return 0; done
  return 1
}

# .ci/run starts several builds at once (default, helm, compat); those that share a
# binary (compat needs the default etcd and kwok) serialize on a lock named after it,
# and the one that waited finds it built. Go's caches are safe for concurrent builds.
locked() { # locked DIR NAME CMD...: run CMD holding DIR/.NAME.lock (errexit stays on in CMD)
  local dir="$1" name="$2"; shift 2
  (flock 9; "$@") 9>"$dir/.$name.lock"
}

build() { # build MODULE_DIR OUT_DIR LDFLAGS PACKAGE...
  local dir="$1" out="$2" ldflags="$3"; shift 3
  echo "building $* ..." >&2
  local start=$SECONDS
  (cd "$here/tools/$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w $ldflags" -o "$out/" "$@")
  echo "built $* in $((SECONDS - start))s" >&2
}

# The version stamp of a Kubernetes build: `kubectl version` and /version show it.
kube_stamp() { # kube_stamp VERSION
  local major_minor="${1#v}" major minor pkg stamp=""
  major="${major_minor%%.*}"; minor="${major_minor#*.}"; minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$1 -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$stamp"
}

build_etcd_kwok() {
  if need "$bin" etcd; then
    build etcd "$bin" "" go.etcd.io/etcd/server/v3
    mv "$bin/server" "$bin/etcd"  # go names it after the module, minus /v3
  fi
  if need "$bin" kwok kwokctl; then
    build kwok "$bin" "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} \
-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" \
      sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
  fi
}

# One go build for every missing binary of k8s.io/kubernetes/cmd: they share most
# packages, and their links run in parallel.
build_kubernetes() { # build_kubernetes MODULE_DIR OUT_DIR VERSION NAME...
  local module="$1" out="$2" version="$3" name packages=(); shift 3
  for name in "$@"; do
    if need "$out" "$name"; then packages+=("k8s.io/kubernetes/cmd/$name"); fi
  done
  if ((${#packages[@]})); then
    build "$module" "$out" "$(kube_stamp "$version")" "${packages[@]}"
  fi
}

build_helm() {
  if need "$bin" helm || [[ "$("$bin/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]]; then
    build helm "$bin" "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" helm.sh/helm/v4/cmd/helm
  fi
}

case "${1:-}" in
  "") ;;
  helm)
    locked "$bin" helm build_helm
    echo "$bin"
    exit 0
    ;;
  compat)
    module="kubernetes-${COMPAT_KUBE_VERSION%.*}"  # v1.30.14 -> kubernetes-v1.30
    grep -qx "require k8s.io/kubernetes $COMPAT_KUBE_VERSION" "$here/tools/$module/go.mod" \
      || { echo "build.sh: tools/$module/go.mod does not pin k8s.io/kubernetes $COMPAT_KUBE_VERSION (versions.env)" >&2; exit 1; }
    compat="$(bin_dir "$COMPAT_KUBE_VERSION")"
    mkdir -p "$compat"
    locked "$bin" etcd-kwok build_etcd_kwok
    # etcd, kwok and kwokctl are the default ones: etcd hides behind the apiserver,
    # and kwok v0.8.0 supports Kubernetes down to 1.19 (its supported_releases.txt).
    for name in etcd kwok kwokctl; do ln -sfn "$bin/$name" "$compat/$name"; done
    locked "$compat" kubernetes build_kubernetes "$module" "$compat" "$COMPAT_KUBE_VERSION" \
      kube-apiserver kube-controller-manager kube-scheduler kubectl
    echo "$compat"
    exit 0
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

# etcd and kwok build next to Kubernetes: each go build leaves a CPU idle while it
# downloads modules or links, and together they keep both busy.
locked "$bin" etcd-kwok build_etcd_kwok &
etcd_kwok=$!
# The real node (realnode.sh) runs a kubelet from the same module as the control plane,
# and the pod sandbox process.
locked "$bin" kubernetes build_kubernetes kubernetes "$bin" "$KUBE_VERSION" \
  kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet
if need "$bin" pause; then
  build ../realnode/pause "$bin" "" rollout-operator.dev/tools/pause
fi
wait "$etcd_kwok"

echo "$bin"
