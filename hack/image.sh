#!/usr/bin/env bash
# Build the operator's container image from the Dockerfile and print its
# reference as the last line of stdout (everything else goes to stderr).
#
#   hack/image.sh            (make image)
#
# With a working Docker engine it uses `docker build`. Without one (the CI
# machine) it uses buildah, with no registry at all: the Dockerfile's base image
# (python:3.11-slim-bookworm) is made locally from Debian packages with
# mmdebstrap when the local image store does not have it. The host tools come
# from tests/cluster/host-setup.sh (apt, as root). After the build the image must
# print its version while running as uid 65532 without a passwd entry.
#
# Environment:
#   IMAGE=localhost/rollout-operator:dev   the reference to build
#   IMAGE_BUILDER=auto|docker|buildah      auto: docker when its engine answers
#   CONTAINERS_CONF                        podman/buildah config (default: tests/cluster/realnode/containers.conf)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${IMAGE:-localhost/rollout-operator:dev}"
builder="${IMAGE_BUILDER:-auto}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/tests/cluster/realnode/containers.conf}"

log() { echo "image.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The base image of every stage, e.g. python:3.11-slim-bookworm.
base_image() {
  local bases
  bases="$(awk 'toupper($1) == "FROM" { print $2 }' "$repo/Dockerfile" | grep -v -i -x -e builder | sort -u)"
  [[ "$(wc -l <<<"$bases")" == 1 ]] || die "expected one base image in the Dockerfile, got: $bases"
  echo "$bases"
}

# A Debian mirror that this machine's apt already uses (the base image's packages
# come from there, like the host's).
debian_mirror() {
  { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
    | awk '
      $1 == "URIs:" { url = $2 }
      $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ } url = $i }
      url != "" && tolower(url) ~ /debian/ && tolower(url) !~ /security/ { print url; exit }
      { url = "" }'
}

# python:3.11-slim-bookworm without a registry: Debian bookworm's python3 (3.11)
# on a minimal root file system, imported into the local store under the name
# the Dockerfile uses. Like the official image: pip, `python`, no apt lists,
# no docs, C.UTF-8, no EXTERNALLY-MANAGED marker. The merged-/usr hook and
# usr-is-merged keep out the usrmerge package, which would pull in perl (50 MB).
make_base_image() {
  local ref="$1" suite="${1##*-}" tmp mirror start=$SECONDS
  [[ "$ref" == python:3.11-slim-* ]] || die "cannot make $ref locally (only python:3.11-slim-<debian suite>)"
  mirror="$(debian_mirror)"
  [[ -n "$mirror" ]] || die "no Debian mirror in the apt sources; cannot make $ref"
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" RETURN
  log "making base image $ref from Debian $suite ($mirror) with mmdebstrap"
  # shellcheck disable=SC2016 # $1 is mmdebstrap's, expanded by its hook shell
  mmdebstrap --quiet --variant=minbase --mode=root \
    --include=ca-certificates,python3,python3-pip,python3-venv,python-is-python3,usr-is-merged \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='APT::Install-Recommends "false"' --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    --customize-hook='rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED' \
    --customize-hook='ln -sf pip3 "$1"/usr/bin/pip' \
    "$suite" "$tmp/rootfs.tar" "$mirror" >&2
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change 'LABEL org.opencontainers.image.description="local stand-in made by hack/image.sh"' \
    "$tmp/rootfs.tar" "docker.io/library/$ref" >/dev/null
  log "base image $ref made in $((SECONDS - start))s"
}

build_with_docker() {
  docker build -t "$image" "$repo" >&2
}

build_with_buildah() {
  "$repo/tests/cluster/host-setup.sh"
  local base start
  base="$(base_image)"
  podman image exists "docker.io/library/$base" || make_base_image "$base"
  start=$SECONDS
  # --pull=never: the base image is local, no registry is asked. pip reaches
  # PyPI through the host's network; the host's CA bundle is mounted for
  # networks whose proxy re-signs TLS (Debian's pip uses the system bundle).
  buildah bud --quiet --pull=never --layers --network host \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -f "$repo/Dockerfile" -t "$image" "$repo" >&2
  log "built $image in $((SECONDS - start))s"
}

run_image() { # run_image ARG...: the image as a pod runs it (uid 65532, no passwd entry)
  if [[ "$builder" == docker ]]; then
    docker run --rm --network none --read-only --cap-drop=ALL "$image" "$@"
  else
    podman run --rm --network none --passwd=false --read-only --cap-drop=ALL "$image" "$@"
  fi
}

if [[ "$builder" == auto ]]; then
  builder=buildah
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then builder=docker; fi
fi
case "$builder" in
  docker) build_with_docker ;;
  buildah) build_with_buildah ;;
  *) die "IMAGE_BUILDER must be auto, docker or buildah, got '$builder'" ;;
esac

version="$(run_image --version)" || die "the image does not start: '$image --version' failed"
size="$(if [[ "$builder" == docker ]]; then docker image inspect -f '{{.Size}}' "$image"; \
  else podman image inspect -f '{{.Size}}' "$image"; fi)"
log "$version; $((size / 1000000)) MB"
echo "$image"
