#!/usr/bin/env bash
# Starts Label Studio with the ApertureDB storage plugin. Without APERTUREDB_HOST it also starts the
# ApertureDB test server, empty, loads sample images with their boxes and polygons into it with the SDK's
# CSV loaders (as ApertureDB's guide loads data), and creates a ready demo project.
# Creates and uses .venv at the repo root. Stop it with Ctrl-C.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
cd "$ROOT"
STATE="${LS_STORAGE_DEMO_DIR:-$ROOT/.demo}"
mkdir -p "$STATE"
HOST="${LABEL_STUDIO_HOST:-127.0.0.1}"
PORT="${LABEL_STUDIO_PORT:-8080}"
USERNAME="${LABEL_STUDIO_USERNAME:-demo@example.com}"
PASSWORD="${LABEL_STUDIO_PASSWORD:-demo12345}"
TOKEN="${LABEL_STUDIO_USER_TOKEN:-lsstoragedemotoken0123456789}"
export DJANGO_SETTINGS_MODULE=ls_storage.settings
export LABEL_STUDIO_BASE_DATA_DIR="${LABEL_STUDIO_BASE_DATA_DIR:-$STATE/label-studio}"

pids=()
stop_started() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_started EXIT INT TERM

wait_for() {  # wait_for DESCRIPTION COMMAND...
    local what="$1"; shift
    for _ in $(seq 1 240); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    echo "$what did not come up; see the logs in $STATE" >&2
    exit 1
}

if [ -z "${APERTUREDB_HOST:-}" ]; then
    "$VENV/bin/python" -m ls_storage.testing.demo_images "$STATE/images" >/dev/null
    export APERTUREDB_HOST=localhost APERTUREDB_PORT="${APERTUREDB_PORT:-55555}" APERTUREDB_USER=admin \
        APERTUREDB_PASSWORD=admin APERTUREDB_CA_CERT="$STATE/certs/ca.pem"
    "$VENV/bin/python" -m ls_storage.testing.server --port "$APERTUREDB_PORT" --cert-dir "$STATE/certs" \
        >"$STATE/aperturedb.log" 2>&1 &
    pids+=($!)
    wait_for "The ApertureDB test server" grep -q listening "$STATE/aperturedb.log"
    echo "ApertureDB test server: localhost:$APERTUREDB_PORT (TLS, CA $APERTUREDB_CA_CERT, admin/admin)"
    "$VENV/bin/python" -m ls_storage.testing.sdk_loading "$STATE/images" --dataset demo --csv-dir "$STATE/csv" \
        2>"$STATE/sdk-loading.log" || { echo "Loading the demo failed; see $STATE/sdk-loading.log" >&2; exit 1; }
fi

"$VENV/bin/label-studio" start --no-browser --internal-host "$HOST" --port "$PORT" --username "$USERNAME" \
    --password "$PASSWORD" --user-token "$TOKEN" --enable-legacy-api-token >"$STATE/label-studio.log" 2>&1 &
pids+=($!)
wait_for "Label Studio" "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$PORT/health')"
"$VENV/bin/python" deploy/demo_project.py "http://$HOST:$PORT" "$TOKEN"
echo "Label Studio with ApertureDB storage: http://$HOST:$PORT  (login $USERNAME / $PASSWORD)"
wait "${pids[-1]}"
