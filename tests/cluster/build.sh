#!/usr/bin/env bash
# Build the local cluster's binaries from the Go modules pinned under tools/
# (and realnode/pause) into a cache directory keyed by their versions; prints
# that bin directory.
# A second run with everything present builds nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

cache_root="${ROLLOUT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollout-operator}"
bin="$cache_root/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
mkdir -p "$bin"

need() { # need NAME...: true when any of the named binaries is missing
  local name
  for name in "$@"; do [[ -x "$bin/$name" ]] || return 0; done
  return 1
}

build() { # build MODULE_DIR LDFLAGS PACKAGE...
  local dir="$1" ldflags="$2"; shift 2
  echo "building $* ..." >&2
  local start=$SECONDS
  (cd "$here/tools/$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/" "$@")
  echo "built in $((SECONDS - start))s" >&2
}

if need etcd; then
  build etcd "" go.etcd.io/etcd/server/v3
  mv "$bin/server" "$bin/etcd"  # go names it after the module, minus /v3
fi

if need kwok kwokctl; then
  build kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} \
-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" \
    sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
fi

major_minor="${KUBE_VERSION#v}"; major="${major_minor%%.*}"; minor="${major_minor#*.}"; minor="${minor%%.*}"
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

if need kube-apiserver kube-controller-manager kube-scheduler kubectl; then
  build kubernetes "$stamp" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
fi

# The real node (realnode.sh): a kubelet from the same module as the control
# plane (a separate step: caches from before it existed only build this), and
# the pod sandbox process.
if need kubelet; then
  build kubernetes "$stamp" k8s.io/kubernetes/cmd/kubelet
fi
if need pause; then
  build ../realnode/pause "" rollout-operator.dev/tools/pause
fi

echo "$bin"
