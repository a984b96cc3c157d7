"""``influxdb.enabled`` on its own: the previous single-module loader checked it right after the
storage keys, before the rest of the influxdb section, and its problem keeps that place in the
list (the rest of the section is checked in ``influxdb``, which reads the same value quietly).
"""

from __future__ import annotations

from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.values import boolean

DEFAULTS: dict[str, Any] = {}  # the key's default lives with its section, in influxdb.py


def check(inputs: Inputs) -> Checked:
    problems: list[str] = []
    boolean(inputs.settings["influxdb"].get("enabled", False), "influxdb.enabled", problems)
    return {}, problems
