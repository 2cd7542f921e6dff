#!/usr/bin/env bash
# Create .venv-tasks-client: FastMCP's client with fastmcp-tasks, pinned in requirements/tasks-client.lock, which
# tests/test_tasks_client.py runs (tests/tasks_client.py) to drive Bosun's durable tasks as a real client would.
# fastmcp-tasks wants a redis-py other than the 8.1.0 Bosun's locks pin, so it gets a venv of its own, as the
# bridge's children do (scripts/bridge_children.sh). Two steps, as the lock's header explains: every pin but
# fastmcp-tasks through pip's resolver, then fastmcp-tasks alone with --no-deps (its exact fastmcp-slim pin names
# an older FastMCP than the client's; everything else it needs is in the lock).
# Re-running is cheap: nothing is reinstalled unless the lock changed (the digest stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
venv=.venv-tasks-client
lock=requirements/tasks-client.lock
digest=$(sha256sum "$lock" | cut -c1-16)
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$digest" ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  echo '*' > "$venv/.gitignore"  # as Python 3.13's venv writes itself: git never lists the venv
  grep -v '^fastmcp-tasks==' "$lock" > "$venv/resolved.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$venv/resolved.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$(grep '^fastmcp-tasks==' "$lock")"
  echo "$digest" > "$venv/.installed"
fi
