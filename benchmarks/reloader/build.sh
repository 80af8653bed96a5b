#!/usr/bin/env bash
# Builds Stakater Reloader, the comparison column of `make bench` (RELOADER_BIN=...). A
# bench-time step only: `make test` never runs it.
#
#   benchmarks/reloader/build.sh          # prints the binary's path as its last line
#   RELOADER_VERSION=v1.4.21 benchmarks/reloader/build.sh
#   RELOADER_SRC=path benchmarks/reloader/build.sh
#
# The source is the module zip of github.com/stakater/Reloader from the Go module proxy (`go
# mod download`), or, with RELOADER_SRC, a local copy of its source: a source tree (the
# directory with its go.mod) or a git repository (bare or not; its HEAD is built), e.g. a
# clone made where the proxy refuses the module. Either is copied to a temporary directory
# and edited by patch.py before `go build` (its dependencies still come from the proxy):
#   - the OpenShift DeploymentConfig client and the two github.com/openshift requires are
#     dropped: the proxy refuses github.com/openshift/api@v0.0.0-20260402111718-ad9eb11110b6,
#     and DeploymentConfigs do not exist on a plain Kubernetes cluster anyway;
#   - the HTTP address (metrics, liveness), hard-coded to ":9090" on every interface, is
#     taken from $RELOADER_HTTP_ADDR when set, so the benchmark binds it to 127.0.0.1 on a
#     free port and never clashes with another process.
# The binary goes to <cluster cache>/reloader-<version>/reloader, the cluster cache being
# $ROLLOUT_OPERATOR_CACHE or ${XDG_CACHE_HOME:-~/.cache}/rollout-operator (as build.sh of
# tests/cluster); with RELOADER_SRC, <version> is RELOADER_VERSION if set, else the source's
# git commit (or "local"). A binary already there is reused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module=github.com/stakater/Reloader
version=${RELOADER_VERSION:-v1.4.21}  # app v1.4.21 (the closest release to commit 655a2b38)
if [[ -n ${RELOADER_SRC:-} && -z ${RELOADER_VERSION:-} ]]; then
  version=$(git --git-dir="$RELOADER_SRC" rev-parse --short HEAD 2>/dev/null ||
            git -C "$RELOADER_SRC" rev-parse --short HEAD 2>/dev/null || echo local)
fi
cache=${ROLLOUT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollout-operator}
out_dir=$cache/reloader-$version
binary=$out_dir/reloader

if [[ -x $binary ]]; then
  echo "$binary"
  exit 0
fi
command -v go >/dev/null || { echo "reloader: needs the go command" >&2; exit 1; }

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
src=$work/src

from_proxy() {
  echo "reloader: go mod download $module@$version" >&2
  # Outside any module, so no go.mod of ours is read or changed.
  local download dir reason
  download=$(cd "$work" && { GOFLAGS=-mod=mod go mod download -json "$module@$version" || true; })
  dir=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1] or "{}"); print(d.get("Dir",""))' "$download")
  if [[ -z $dir || ! -f $dir/go.mod ]]; then
    reason=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1] or "{}").get("Error","no answer"))' "$download")
    echo "reloader: the Go module proxy did not give $module@$version: $reason" >&2
    echo "reloader: give a local copy of its source with RELOADER_SRC=path, or run make bench" >&2
    echo "reloader: without RELOADER_BIN (no Reloader column)" >&2
    exit 2
  fi
  cp -r "$dir" "$src"
}

from_local() {  # RELOADER_SRC: a source tree, or a git repository whose HEAD is built
  if [[ -f $RELOADER_SRC/go.mod ]]; then
    echo "reloader: source tree $RELOADER_SRC" >&2
    cp -r "$RELOADER_SRC" "$src"
  elif git --git-dir="$RELOADER_SRC" rev-parse HEAD >/dev/null 2>&1 ||
       git -C "$RELOADER_SRC" rev-parse HEAD >/dev/null 2>&1; then
    local gitdir=$RELOADER_SRC
    [[ -d $RELOADER_SRC/.git ]] && gitdir=$RELOADER_SRC/.git
    echo "reloader: git repository $RELOADER_SRC at $(git --git-dir="$gitdir" rev-parse --short HEAD)" >&2
    mkdir -p "$src"
    git --git-dir="$gitdir" archive HEAD | tar -x -C "$src"
  else
    echo "reloader: RELOADER_SRC=$RELOADER_SRC is neither a source tree (go.mod) nor a git repository" >&2
    exit 2
  fi
  if ! grep -qs "^module $module\$" "$src/go.mod"; then
    echo "reloader: $RELOADER_SRC is not the source of $module" >&2
    exit 2
  fi
}

if [[ -n ${RELOADER_SRC:-} ]]; then from_local; else from_proxy; fi
chmod -R u+w "$src"  # the module cache is read-only
python3 "$here/patch.py" "$src"
(
  cd "$src"
  go mod edit -droprequire=github.com/openshift/api -droprequire=github.com/openshift/client-go
  echo "reloader: go build ($(go version | cut -d' ' -f3))" >&2
  # -mod=mod: go.sum entries of the trimmed graph are resolved through the proxy.
  GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/reloader" .
  # -mod=mod would quietly add a module for a package still importing OpenShift's API.
  if grep -q 'github.com/openshift' go.mod; then
    echo "reloader: the build still needs github.com/openshift modules; patch.py is out of date" >&2
    exit 3
  fi
)
mkdir -p "$out_dir"
mv "$work/reloader" "$binary"
echo "$binary"
