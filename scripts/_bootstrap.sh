# Sourced by scripts/demo and scripts/test: make sure uv exists, then sync the project's venv.
# On a fresh machine only python3 (3.11 or newer) is needed; uv comes from PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_uv() {
    if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
    for c in "$HOME/.local/bin/uv" "$ROOT/.tools/bin/uv"; do
        [ -x "$c" ] && { echo "$c"; return; }
    done
    return 1
}

if ! UV="$(find_uv)"; then
    echo "uv is not installed; installing it from PyPI..." >&2
    if python3 -m pip --version >/dev/null 2>&1; then
        python3 -m pip install --quiet --user uv 2>/dev/null \
            || python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
            || true
    fi
    if ! UV="$(find_uv)"; then
        python3 -m venv "$ROOT/.tools"
        "$ROOT/.tools/bin/python" -m pip install --quiet uv
        UV="$ROOT/.tools/bin/uv"
    fi
fi
export UV
"$UV" sync --frozen --quiet "$@"
