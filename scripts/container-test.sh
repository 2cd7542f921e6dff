#!/usr/bin/env bash
# Build the image and run it for real on this machine, the way a cluster would run it:
# read-only root, non-root, every capability dropped, no new privileges, slirp4netns networking.
# Then: the image's HEALTHCHECK passes, an MCP client lists and calls tools through it, /metrics
# scrapes, and SIGTERM stops it cleanly within the grace period.
#
# The image is built by scripts/container-build.sh (a Debian base made locally with debootstrap, since
# no registry is reachable here; this host's podman workarounds), which the bridge's container tests
# share: a test run builds it once.
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
  [ "$built_here" = 0 ] || podman rmi localhost/bosun:ci >/dev/null 2>&1 || true
  podman image prune -f --filter until=1h >/dev/null 2>&1 || true
  rm -rf "$out/rootfs"
  if [ "$status" -ne 0 ] || [ "$keep_out" = 1 ]; then
    log "working files kept in $out"
  else
    rm -rf "$out"
  fi
}
built_here=0
trap finish EXIT

# The build's steps are shared with the bridge's container tests (scripts/container-build.sh). A test run that has
# built the image already (tests/container_image.py) names it in BOSUN_CI_IMAGE: it is used as it is, and left for
# the run to remove.
# shellcheck source=scripts/container-build.sh
. scripts/container-build.sh
container_tools
container_conf "$out"
if [ -n "${BOSUN_CI_IMAGE:-}" ] && [ "$(podman image inspect --format '{{.Id}}' localhost/bosun:ci 2>/dev/null)" = "$BOSUN_CI_IMAGE" ]; then
  log "image localhost/bosun:ci: this test run's build"
else
  built_here=1
  container_image "$out"
fi
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
