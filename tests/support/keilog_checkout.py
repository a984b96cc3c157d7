"""Where the keilog checkout for the keilog driver's tests is, and which commit it holds.

CI cannot reach GitHub, so the checkout is optional: ``$KEILOG_CHECKOUT``, else ``keilog/``
next to the project (where ``scripts/get-keilog`` puts it).  The tests that need it are
skipped without it; with it, the commit is printed in the test output (``tests/conftest.py``)
so a result says which keilog it was measured against.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CHECKOUT = Path(os.environ.get("KEILOG_CHECKOUT") or PROJECT / "keilog")
# The commit services/radio/link/keilog_driver.py was read against (scripts/get-keilog's REF).
READ_AGAINST = "127d414ae9a5c3eecbb0b450ac21a49dddff15f7"


def present() -> bool:
    return (CHECKOUT / "keilib" / "broute.py").is_file()


def commit() -> str:
    """The checkout's HEAD (``+dirty`` with local changes), or why it cannot be told."""
    try:
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def describe() -> str:
    if not present():
        return f"keilog: no checkout at {CHECKOUT} (set KEILOG_CHECKOUT); keilog tests skipped"
    head = commit()
    note = "the commit the driver was read against" if head == READ_AGAINST else (
        f"not {READ_AGAINST[:7]}, the commit the driver was read against"
    )  # fmt: skip
    return f"keilog: {CHECKOUT} at {head} ({note})"


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True,
                          timeout=10, check=True)  # fmt: skip
    return done.stdout.strip()
