#!/usr/bin/env bash
# Builds Stakater Reloader, the comparison column of `make bench` (RELOADER_BIN=...), from the
# Go module proxy. A bench-time step only: `make test` never runs it.
#
#   benchmarks/reloader/build.sh          # prints the binary's path as its last line
#   RELOADER_VERSION=v1.4.21 benchmarks/reloader/build.sh
#
# The source is the module zip of github.com/stakater/Reloader (`go mod download`), copied to a
# temporary directory and edited by patch.py before `go build`:
#   - the OpenShift DeploymentConfig client and the two github.com/openshift requires are
#     dropped: the proxy refuses github.com/openshift/api@v0.0.0-20260402111718-ad9eb11110b6,
#     and DeploymentConfigs do not exist on a plain Kubernetes cluster anyway;
#   - the HTTP address (metrics, liveness), hard-coded to ":9090" on every interface, is
#     taken from $RELOADER_HTTP_ADDR when set, so the benchmark binds it to 127.0.0.1 on a
#     free port and never clashes with another process.
# The binary goes to <cluster cache>/reloader-<version>/reloader, the cluster cache being
# $ROLLOUT_OPERATOR_CACHE or ${XDG_CACHE_HOME:-~/.cache}/rollout-operator (as build.sh of
# tests/cluster). A binary already there is reused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module=github.com/stakater/Reloader
version=${RELOADER_VERSION:-v1.4.21}  # app v1.4.21 (the closest release to commit 655a2b38)
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

echo "reloader: go mod download $module@$version" >&2
# Outside any module, so no go.mod of ours is read or changed.
download=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module@$version" || true)
dir=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1] or "{}"); print(d.get("Dir",""))' "$download")
if [[ -z $dir || ! -f $dir/go.mod ]]; then
  reason=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1] or "{}").get("Error","no answer"))' "$download")
  echo "reloader: the Go module proxy did not give $module@$version: $reason" >&2
  echo "reloader: no Reloader column without it (make bench runs without RELOADER_BIN)" >&2
  exit 2
fi

src=$work/src
cp -r "$dir" "$src"
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
