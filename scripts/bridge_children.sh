#!/usr/bin/env bash
# Create .venv-children: the Python MCP servers the bridge tests run as children (mcp-server-time,
# mcp-server-git), pinned in requirements/bridge-children.lock. They are built on mcp 1.x, which the
# dev venv (mcp 2.x) cannot hold beside Bosun, so they get a venv of their own, as checkov does.
# Re-running is cheap: nothing is reinstalled unless the lock changed (the digest stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
venv=.venv-children
digest=$(sha256sum requirements/bridge-children.lock | cut -c1-16)
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$digest" ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements/bridge-children.lock
  echo "$digest" > "$venv/.installed"
fi
