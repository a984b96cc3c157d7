"""What every figure returns, and the little arithmetic they share."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """One row of the table, with what backs it."""

    number: int
    name: str
    measured: str  # the headline, as text (figures and units)
    target: str
    met: bool | None  # None: a report without a target
    details: list[str] = field(default_factory=list)  # markdown lines: tables, notes
    command: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)  # the raw numbers, for --json

    @property
    def verdict(self) -> str:
        return "report" if self.met is None else ("met" if self.met else "MISSED")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    if not s:
        return math.nan
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table, as lines."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.2f} MiB"


def say(text: str) -> None:
    """Progress, on stderr, so stdout stays the table."""
    import sys

    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
