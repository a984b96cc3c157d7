"""Checks of one value that several sections share: a number, a switch, a folder, EPCs.

Each appends its problem (one line naming the key) and returns a value to go on with, so
one pass finds every problem in the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from common.echonet import EPC_NAMES, MEASURABLE_EPCS, parse_epc
from common.paths import Paths


def finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def number(value: Any, key: str, minimum: float, problems: list[str], whole: bool = False) -> float:
    kind = "a whole number" if whole else "a number"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and finite(value)
    if not ok or (whole and value != int(value)):
        problems.append(f"settings.yml: '{key}' must be {kind}, not {value!r}")
        return minimum
    if value < minimum:
        problems.append(f"settings.yml: '{key}' is {value}; it must be at least {minimum:g}")
        return minimum
    return float(value)


def boolean(value: Any, key: str, problems: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    problems.append(f"settings.yml: '{key}' must be true or false, not {value!r}")
    return False


def directory(value: Any, key: str, paths: Paths, problems: list[str]) -> Path:
    fallback = paths.home / "logs"
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        problems.append(f"settings.yml: '{key}' must be a folder name, not {value!r}")
        return fallback
    try:
        return paths.resolve(value.strip())
    except RuntimeError:  # ~name of a user that does not exist
        problems.append(f"settings.yml: '{key}' {value!r}: no such user's home folder")
        return fallback


def epc_list(raw: list[Any], key: str, problems: list[str]) -> list[int]:
    """The EPCs this logger can record, each once, in the order given."""
    allowed = ", ".join(f"{e:02X}" for e in sorted(MEASURABLE_EPCS))
    out: list[int] = []
    for item in raw:
        if isinstance(item, int) and not isinstance(item, bool):
            epc = item  # YAML reads a bare 0xE7 as the integer 231
        else:
            try:
                epc = parse_epc(str(item))
            except ValueError:
                epc = -1
        if epc not in MEASURABLE_EPCS:
            problems.append(
                f"settings.yml: '{key}' has {item!r}, which is not a "
                f"property this logger can record; use some of {allowed}"
            )
        elif epc not in out:
            out.append(epc)
    return out


def epc_label(epc: int) -> str:
    return f"{epc:02X} ({EPC_NAMES.get(epc, 'unknown')})"
