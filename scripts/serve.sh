#!/usr/bin/env bash
# Set up (first run only) and serve the example server on http://127.0.0.1:8000/mcp.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
exec .venv/bin/bosun serve "${BOSUN_EXAMPLE:-examples/hello.py}" "$@"
