#!/usr/bin/env bash
# Set up (first run only) and serve the reference server, a team knowledge base, at
# http://127.0.0.1:8000/mcp on the embedded defaults: SQLite in ./data, an in-memory cache.
# Set DATABASE_URL / REDIS_URL to use PostgreSQL / Redis instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
example="${BOSUN_EXAMPLE:-examples/notes/server.py}"
if [ "$example" = examples/notes/server.py ]; then
  .venv/bin/bosun db upgrade "$example"
fi
exec .venv/bin/bosun serve "$example" "$@"
