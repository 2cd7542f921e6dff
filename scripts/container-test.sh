#!/usr/bin/env bash
# Build the image and run it for real on this machine, the way a cluster would run it:
# read-only root, non-root, every capability dropped, no new privileges, slirp4netns networking.
# Then: the image's HEALTHCHECK passes, an MCP client lists and calls tools through it, /metrics
# scrapes, and SIGTERM stops it cleanly within the grace period.
#
# No registry is reachable here, so the Debian base is built locally with debootstrap from the
# mirror this machine's apt already uses (BASE_IMAGE overrides it). The workarounds below are for
# this host only (runc instead of crun, ulimits within the host's hard limits, the host's CA bundle
# mounted into pip's build step); the image depends on none of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
# Working files (podman settings, logs, the API key file): a fresh directory, removed at the end unless the run
# failed (then its logs stay for reading) or CONTAINER_TEST_DIR names one to keep.
if [ -n "${CONTAINER_TEST_DIR:-}" ]; then
  out="$CONTAINER_TEST_DIR"; keep_out=1
  mkdir -p "$out"
else
  out=$(mktemp -d /var/tmp/bosun-container-test.XXXXXX); keep_out=0
fi
# Afterwards nothing of the run stays but the cached base: not the container, not the image it built (built
# afresh each run, so the test proves the Dockerfile as it is), not its working files. Untagged images of builds
# over an hour old go too (a run killed before its clean-up leaves some).
finish() {
  status=$?
  podman rm -f bosun-ci >/dev/null 2>&1 || true
  podman rmi localhost/bosun:ci >/dev/null 2>&1 || true
  podman image prune -f --filter until=1h >/dev/null 2>&1 || true
  rm -rf "$out/rootfs"
  if [ "$status" -ne 0 ] || [ "$keep_out" = 1 ]; then
    log "working files kept in $out"
  else
    rm -rf "$out"
  fi
}
trap finish EXIT

missing=""
for tool in podman debootstrap runc slirp4netns; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  log "installing:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap runc slirp4netns uidmap >/dev/null
fi

# podman settings for this host only.
cat > "$out/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=2048:2048"]
netns = "slirp4netns"
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$out/containers.conf"

base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
  base=localhost/bosun-base:bookworm
  if ! podman image exists "$base"; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
    rootfs="$out/rootfs"
    rm -rf "$rootfs"
    log "debootstrap bookworm (python3) from the host's apt mirror"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" >"$out/debootstrap.log"
    # A slim base: no package caches, lists, documentation or translations.
    rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
      "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
    tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf "$rootfs"
  fi
fi

podman rmi localhost/bosun:ci >/dev/null 2>&1 || true  # a killed run's image: it would stay behind, untagged

log "podman build (base $base)"
# --layers=false: no intermediate image per step; the build leaves the tagged image only, which finish removes.
podman build --quiet --layers=false --format docker --ulimit nofile=4096:4096 --build-arg BASE_IMAGE="$base" \
  -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  -t localhost/bosun:ci . >"$out/build.log"
size=$(podman image inspect localhost/bosun:ci --format '{{.Size}}')
log "image size: $((size / 1000000)) MB"

port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metrics_port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The container listens on 0.0.0.0, so it must authenticate: an API key, its hash mounted as a secret file.
created=$(.venv/bin/bosun apikey create container-test --scopes "mcp notes:write" 2>/dev/null)
api_key=$(printf '%s\n' "$created" | awk '/^key:/ {print $2}')
printf '%s\n' "$created" | sed -n 's/^line: //p' > "$out/api_keys"
chmod 0444 "$out/api_keys"
podman rm -f bosun-ci >/dev/null 2>&1 || true
podman run -d --name bosun-ci --read-only --tmpfs /tmp:rw,size=64m,mode=1777 --cap-drop ALL \
  --security-opt no-new-privileges --network slirp4netns:port_handler=slirp4netns -p "127.0.0.1:$port:8000" \
  -p "127.0.0.1:$metrics_port:9100" -e BOSUN_METRICS_PORT=9100 \
  -v "$out/api_keys:/run/secrets/bosun/api_keys:ro" -e BOSUN_AUTH_API_KEYS_FILE=/run/secrets/bosun/api_keys \
  localhost/bosun:ci >/dev/null
log "container on port $port; checking it"
BOSUN_TEST_API_KEY="$api_key" BOSUN_TEST_METRICS_URL="http://127.0.0.1:$metrics_port/metrics" .venv/bin/python tests/container_probe.py "http://127.0.0.1:$port" bosun-ci "$size"
