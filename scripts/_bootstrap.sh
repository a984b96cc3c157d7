# Sourced by scripts/demo and scripts/test: make sure uv exists, then sync the project's venv.
# On a fresh Debian/Ubuntu/Raspberry Pi OS only python3 is needed (no pip, no python3-venv):
# scripts/get_uv.py fetches uv from PyPI with the standard library, and uv makes the venv.
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

# The newest python3.X >= 3.11 on PATH (uv finds it too; this is only for the message).
python_311() {
    for p in python3 python3.14 python3.13 python3.12 python3.11; do
        command -v "$p" >/dev/null 2>&1 \
            && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
            && { command -v "$p"; return; }
    done
    return 1
}

if ! UV="$(find_uv)"; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 is not installed; install it with: sudo apt-get install python3" >&2
        exit 1
    fi
    if [ -z "${SSL_CERT_FILE:-}" ] && [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
        "$ROOT/scripts/packages/install" bootstrap || exit 1
    fi
    echo "uv is not installed; fetching it from PyPI into .tools/bin/uv..." >&2
    python3 -I "$ROOT/scripts/get_uv.py" "$ROOT/.tools/bin/uv" || exit 1
    UV="$ROOT/.tools/bin/uv"
fi
export UV

if [ ! -x "$ROOT/.venv/bin/python" ] && ! python_311 >/dev/null; then
    # uv then downloads a Python build (python-build-standalone, from GitHub).
    echo "This system's python3 is older than 3.11, which the logger needs; uv fetches a" \
        "Python 3.11+ build from GitHub now (if that is blocked: sudo apt-get install python3.11)." >&2
fi
if ! "$UV" sync --frozen --quiet "$@"; then
    echo "Could not set up the project's Python environment (.venv); uv's message above says" \
        "why. After fixing it, run the same command again." >&2
    exit 1
fi
