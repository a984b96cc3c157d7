"""This logger's version, from its dist-info folder's name on sys.path.

What ``importlib.metadata.version("smartmeter-logger")`` answers, without importing
importlib.metadata: about 40 modules (zipfile, email, csv ...) and several MiB of PSS in every
long-running service that reports its version (docs/benchmarks.md, figure 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

DIST = "smartmeter_logger"


def package_version() -> str:
    for entry in sys.path:
        for found in Path(entry or ".").glob(f"{DIST}-*.dist-info"):
            return found.name.removeprefix(f"{DIST}-").removesuffix(".dist-info")
    return "unknown"
