"""What every section's check reads, and what it gives back (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from common.paths import Paths

# A check's answer: the Config fields it fills, and its problems (one line each).
Checked = tuple[dict[str, Any], list[str]]


@dataclass(frozen=True)
class Inputs:
    given: dict[str, Any]  # settings.yml as written (any key may be missing or mis-shaped)
    settings: dict[str, Any]  # settings.yml with every key at least at its default
    env: dict[str, str]  # .env merged with the environment: secrets, SERIAL_PORT
    paths: Paths
    need_broute: bool = False  # the caller talks to the meter
    need_influx: bool = False  # the caller writes to InfluxDB


class Section(Protocol):
    """A module in common/config/sections/."""

    DEFAULTS: dict[str, Any]  # its keys of settings.yml with their defaults (may be empty)

    def check(self, inputs: Inputs) -> Checked: ...
