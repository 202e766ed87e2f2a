#!/usr/bin/env bash
# Runs every test of the project. Creates and uses .venv at the repo root.
set -euo pipefail
. "$(dirname "$0")/venv.sh" test
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
