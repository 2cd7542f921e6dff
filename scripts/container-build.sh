#!/usr/bin/env bash
# Build the project's image, localhost/bosun:ci, with podman on this machine: the steps scripts/container-test.sh and
# the bridge's container tests (tests/container_image.py) share, so that one test run builds it once.
#
#   scripts/container-build.sh DIR   installs what is missing, writes DIR/containers.conf, builds the image and prints
#                                    its id (the last line of stdout); DIR keeps the build's log.
#   . scripts/container-build.sh     defines the steps as functions (container_tools, container_conf, container_image).
#
# No registry is reachable here, so the Debian base is built locally with debootstrap from the mirror this machine's
# apt already uses (BASE_IMAGE overrides it), and kept: later runs reuse it. The workarounds below are for this host
# only (runc instead of crun, ulimits within the host's hard limits, the host's CA bundle mounted into pip's build
# step); the image depends on none of them.

# podman and what it runs: the OCI runtime (runc), user-mode networking (slirp4netns), the init `podman run --init`
# puts in a container as PID 1 (catatonit), and debootstrap for the base.
container_tools() {
  local missing="" tool
  for tool in podman debootstrap runc slirp4netns catatonit; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    printf '%s installing:%s\n' "$(date +%H:%M:%S)" "$missing" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap runc slirp4netns \
      uidmap catatonit >/dev/null
  fi
}

# podman settings for this host only, in DIR/containers.conf; exported as CONTAINERS_CONF.
container_conf() {
  cat > "$1/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=2048:2048"]
netns = "slirp4netns"
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF="$1/containers.conf"
}

# The base (built once, then kept) and the image, built afresh so that it proves the Dockerfile as it is. DIR holds
# the debootstrap tree while the base is made, and the build's log.
container_image() {
  local out="$1" base="${BASE_IMAGE:-}" mirror rootfs
  if [ -z "$base" ]; then
    base=localhost/bosun-base:bookworm
    if ! podman image exists "$base"; then
      mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
      [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
      rootfs="$out/rootfs"
      rm -rf "$rootfs"
      printf '%s debootstrap bookworm (python3) from the host'"'"'s apt mirror\n' "$(date +%H:%M:%S)" >&2
      debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" \
        >"$out/debootstrap.log"
      # A slim base: no package caches, lists, documentation or translations.
      rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
      tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
      rm -rf "$rootfs"
    fi
  fi
  podman rmi localhost/bosun:ci >/dev/null 2>&1 || true  # a killed run's image: it would stay behind, untagged
  printf '%s podman build (base %s)\n' "$(date +%H:%M:%S)" "$base" >&2
  # --layers=false: no intermediate image per step; the build leaves the tagged image only.
  podman build --quiet --layers=false --format docker --ulimit nofile=4096:4096 --build-arg BASE_IMAGE="$base" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -t localhost/bosun:ci . >"$out/build.log"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  [ -n "${1:-}" ] && [ -d "$1" ] || { echo "usage: $0 DIR (an existing directory for the settings and logs)" >&2; exit 2; }
  container_tools
  container_conf "$1"
  container_image "$1"
  podman image inspect --format '{{.Id}}' localhost/bosun:ci
fi
