#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite: unit, end-to-end with the official
# Python and TypeScript clients, and the official conformance suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
. scripts/node.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
