#!/usr/bin/env bash
# Run the official MCP conformance suite (--suite all) against the example conformance server,
# once per protocol revision. Exits non-zero if any check fails at any revision, or if fewer checks
# pass than conformance/floors.txt records for that revision (a count may only go up).
#   CONFORMANCE_VERSIONS   revisions to run (default: 2026-07-28 2025-11-25 2025-06-18)
#   CONFORMANCE_URL        test a server that is already running instead of starting one
#   CONFORMANCE_SERVER     server file to start (default: examples/conformance_server.py)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
. scripts/node.sh
versions="${CONFORMANCE_VERSIONS:-2026-07-28 2025-11-25 2025-06-18}"
log_dir="conformance/results"
mkdir -p "$log_dir"
server_pid=""
if [ -z "${CONFORMANCE_URL:-}" ]; then
  port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BOSUN_DRAIN_SECONDS=0 .venv/bin/bosun serve "${CONFORMANCE_SERVER:-examples/conformance_server.py}" --port "$port" --log-level warning \
    > "$log_dir/server.log" 2>&1 &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
  CONFORMANCE_URL="http://127.0.0.1:$port/mcp"
  .venv/bin/python - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("conformance server did not start")
PY
fi
status=0
for version in $versions; do
  log="$log_dir/$version.log"
  if node conformance/node_modules/.bin/conformance server --url "$CONFORMANCE_URL" --suite all \
      --spec-version "$version" > "$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  total=$(grep -E '^Total:' "$log" | tail -n1)
  passed=$(echo "$total" | sed -nE 's/^Total: ([0-9]+) passed.*/\1/p')
  floor=$(awk -v v="$version" '$1 == v { print $2 }' conformance/floors.txt)
  if [ -n "$floor" ] && [ "${passed:-0}" -lt "$floor" ]; then
    result="FAILED: $passed checks passed, fewer than the $floor this project has reached (conformance/floors.txt)"
    status=1
  fi
  echo "conformance $version: ${total:-no summary} ($result)"
  if [ "$result" != ok ]; then
    sed -n '/=== SUMMARY ===/,$p' "$log" | grep -v '✓' || tail -n 40 "$log"
  fi
done
exit "$status"
