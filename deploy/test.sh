#!/usr/bin/env bash
# Runs every test of the project. Creates and uses .venv at the repo root; installs the Debian
# packages of the services some tests start (PostgreSQL, Redis) when they are missing.
set -euo pipefail
. "$(dirname "$0")/venv.sh" test
. "$(dirname "$0")/system_packages.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
