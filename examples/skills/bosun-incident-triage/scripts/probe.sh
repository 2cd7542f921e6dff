#!/bin/sh
# Print the status and body of a Bosun server's three probes: probe.sh http://127.0.0.1:8000
set -u
base="${1:?usage: probe.sh BASE_URL}"
for probe in health ready startup; do
  body=$(curl -sS -m 5 -w '\n%{http_code}' "$base/$probe" 2>&1) || true
  status=$(printf '%s\n' "$body" | tail -n 1)
  printf '/%s %s\n%s\n\n' "$probe" "$status" "$(printf '%s\n' "$body" | sed '$d')"
done
