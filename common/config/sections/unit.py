"""unitid and timezone: the name every reading carries, and the local day of the CSV files."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.config.inputs import Checked, Inputs

DEFAULTS: dict[str, Any] = {"unitid": "smartmeter", "timezone": "Asia/Tokyo"}


def check(inputs: Inputs) -> Checked:
    s = inputs.settings
    problems: list[str] = []
    unitid = s["unitid"]
    if not isinstance(unitid, str) or not unitid or "," in unitid or "\n" in unitid:
        problems.append("settings.yml: 'unitid' must be a non-empty name without commas")
        unitid = "smartmeter"

    try:
        tz = ZoneInfo(str(s["timezone"]))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append(
            f"settings.yml: 'timezone' {s['timezone']!r} is not a known time zone; "
            "use a name like Asia/Tokyo"
        )
        tz = ZoneInfo("Asia/Tokyo")
    return {"unitid": unitid, "timezone": tz}, problems
