#!/usr/bin/env bash
# Run the official MCP conformance suite (--suite all) against the example conformance server,
# once per protocol revision, then its pending suite (--suite pending: scenarios not yet on the spec timeline,
# the tasks and skills extensions' among them), then the extension scenarios conformance/floors.txt names. Exits non-zero
# if any check fails, or if fewer checks pass than conformance/floors.txt records (a count may only go up).
# Extension scenarios (skills, tasks, ...) are not on the spec timeline, so `--spec-version` leaves them
# out of `--suite all`; the suite runs each one at 2026-07-28. Only the ones floors.txt lists run (an
# `extension NAME COUNT` line): each must pass every check, and at least COUNT.
#   CONFORMANCE_VERSIONS   revisions to run, and `extensions` for the extension scenarios
#                          (default: 2026-07-28 2025-11-25 2025-06-18 pending extensions)
#   CONFORMANCE_URL        test a server that is already running instead of starting one
#   CONFORMANCE_SERVER     server file to start (default: examples/conformance_server.py)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
. scripts/node.sh
versions="${CONFORMANCE_VERSIONS:-2026-07-28 2025-11-25 2025-06-18 pending extensions}"
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
# One extension scenario per `extension NAME COUNT` line of floors.txt: its checks must all pass, at least COUNT
# of them. Prints one line per scenario and a total line like the revisions' ("Total: N passed, M failed").
run_extensions() {
  local all_passed=0 all_failed=0 outcome=0 name floor log counts passed failed warnings result
  while read -r name floor; do
    log="$log_dir/extension-$name.log"
    if node conformance/node_modules/.bin/conformance server --url "$CONFORMANCE_URL" --scenario "$name" > "$log" 2>&1; then
      result=ok
    else
      result=FAILED
    fi
    counts=$(grep -E '^Passed: [0-9]+/[0-9]+, [0-9]+ failed, [0-9]+ warnings' "$log" | tail -n1)
    passed=$(echo "$counts" | sed -nE 's/^Passed: ([0-9]+)\/.*/\1/p')
    failed=$(echo "$counts" | sed -nE 's/^Passed: [0-9]+\/[0-9]+, ([0-9]+) failed.*/\1/p')
    warnings=$(echo "$counts" | sed -nE 's/.*, ([0-9]+) warnings.*/\1/p')
    if [ -z "$counts" ]; then
      result="FAILED: no results"
      failed=1
    elif [ "${warnings:-0}" -gt 0 ]; then
      result="FAILED: $warnings warnings"
    elif [ "${passed:-0}" -lt "$floor" ]; then
      result="FAILED: $passed checks passed, fewer than the $floor this project has reached (conformance/floors.txt)"
    fi
    all_passed=$((all_passed + ${passed:-0}))
    all_failed=$((all_failed + ${failed:-0}))
    echo "conformance $name: ${counts:-no summary} ($result)"
    if [ "$result" != ok ]; then
      outcome=1
      grep -E 'FAILURE|WARNING|SKIPPED|Error' "$log" | head -n 40 || tail -n 40 "$log"
    fi
  done < <(awk '$1 == "extension" { print $2, $3 }' conformance/floors.txt)
  echo "conformance extensions: Total: $all_passed passed, $all_failed failed ($([ "$outcome" = 0 ] && echo ok || echo FAILED))"
  return "$outcome"
}

status=0
for version in $versions; do
  if [ "$version" = extensions ]; then
    run_extensions || status=1
    continue
  fi
  log="$log_dir/$version.log"
  if [ "$version" = pending ]; then
    selection=(--suite pending)
  else
    selection=(--suite all --spec-version "$version")
  fi
  if node conformance/node_modules/.bin/conformance server --url "$CONFORMANCE_URL" "${selection[@]}" > "$log" 2>&1; then
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
