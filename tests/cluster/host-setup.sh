#!/usr/bin/env bash
# Host packages for building the image without a Docker engine (podman, buildah,
# mmdebstrap for the base image) and for the local cluster's real node
# (containerd, runc, CNI plugins, iptables). Debian/Ubuntu, as root.
#
# Idempotent and quick when everything is there: it asks apt only for what is
# missing, so CI on a fresh machine gets everything and a second run does
# nothing. On other systems install the same tools yourself; the script only
# checks that they are on PATH.
#
# Usage: host-setup.sh [--check]   (--check: report what is missing, install nothing)
set -euo pipefail

log() { echo "host-setup.sh: $*" >&2; }

# Debian package -> a file it installs that we use, or a command on PATH.
declare -A provides=(
  [iproute2]=ip
  [procps]=sysctl
  [podman]=/usr/bin/podman
  [buildah]=/usr/bin/buildah
  [runc]=/usr/sbin/runc
  [mmdebstrap]=/usr/bin/mmdebstrap
  [containerd]=/usr/bin/containerd
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [ca-certificates]=/etc/ssl/certs/ca-certificates.crt
)

missing=()
for package in "${!provides[@]}"; do
  [[ -e "${provides[$package]}" ]] || command -v "${provides[$package]}" >/dev/null 2>&1 \
    || missing+=("$package")
done
((${#missing[@]})) || exit 0

if [[ "${1:-}" == --check ]]; then
  log "missing: ${missing[*]}"
  exit 1
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  log "missing: ${missing[*]}"
  log "install them as root with apt (this script does when run as root on Debian/Ubuntu)"
  exit 1
fi

start=$SECONDS
log "installing ${missing[*]}"
apt_log="$(mktemp)"
trap 'rm -f "$apt_log"' EXIT
# No recommends: rootful podman/buildah need neither slirp4netns nor fuse-overlayfs,
# and containerd's systemd unit stays unused (the real node starts it by hand).
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
  cat "$apt_log" >&2
  log "apt-get failed"
  exit 1
fi
log "installed in $((SECONDS - start))s"
