#!/usr/bin/env bash
# Create the peers' virtual environments (pinned) and make sure wrk is there. Bosun and the bare
# handler run from the project's own .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
for peer in sdk fastmcp; do
  venv="bench/.venvs/$peer"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "bench/requirements-$peer.txt"
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
