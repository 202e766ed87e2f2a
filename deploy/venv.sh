# Sourced by the other scripts: creates .venv at the repo root and installs the project into it.
# Usage: . deploy/venv.sh [extra]   (extra: "test" adds the test dependencies)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    "$PYTHON" -m venv "$ROOT/.venv"
fi
VENV="$ROOT/.venv"
spec="$ROOT"
[ -n "${1:-}" ] && spec="$ROOT[$1]"
stamp="$VENV/.installed-${1:-base}"
# Reinstall only when the project's dependency list changed.
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import ls_storage" && touch "$stamp"
fi
export ADB_LOG_FILE=""
