"""acquisition.schedule: groups of properties, each read with its own period."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from common.config.values import epc_list, finite


@dataclass(frozen=True)
class ScheduleGroup:
    """Properties read together every ``every_seconds`` (acquisition.schedule)."""

    properties: tuple[int, ...]
    every_seconds: float


SCHEDULE_ENTRY_KEYS = ("properties", "every_seconds")


def schedule_groups(
    raw: Any, flat_given: bool, interval: Any, floor: float, problems: list[str]
) -> list[ScheduleGroup]:
    """The groups of acquisition.schedule (none when it is empty or not given)."""
    key = "acquisition.schedule"
    example = "e.g. [{properties: [E7], every_seconds: 30}, {properties: [E0], every_seconds: 300}]"
    if raw is None or raw == []:
        return []
    if not isinstance(raw, list):
        problems.append(f"settings.yml: '{key}' must be a list of groups, {example}")
        return []
    if flat_given:
        problems.append(
            f"settings.yml: both 'acquisition.properties' and '{key}' are set; keep one "
            "(the schedule lists its own properties)"
        )
    default_every = interval if isinstance(interval, int | float) else 30
    groups: list[ScheduleGroup] = []
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"settings.yml: '{where}' must be a group: properties:, every_seconds:")
            continue
        for name in entry:
            if name not in SCHEDULE_ENTRY_KEYS:
                close = difflib.get_close_matches(str(name), SCHEDULE_ENTRY_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "remove it"
                problems.append(f"settings.yml: unknown setting '{where}.{name}'; {hint}")
        props = entry.get("properties")
        if not isinstance(props, list) or not props:
            problems.append(f"settings.yml: '{where}.properties' must be a list of EPCs, e.g. [E7]")
            continue
        epcs = epc_list(props, f"{where}.properties", problems)
        every = entry.get("every_seconds", default_every)
        if isinstance(every, bool) or not isinstance(every, int | float) or not finite(every):
            problems.append(
                f"settings.yml: '{where}.every_seconds' must be a number of seconds, not {every!r}"
            )
            continue
        if every < floor:
            problems.append(
                f"settings.yml: '{where}.every_seconds' is {every}, below the {floor:g} s "
                f"floor that keeps the meter answering; set {floor:g} or more"
            )
            continue
        if epcs:
            groups.append(ScheduleGroup(tuple(epcs), float(every)))
    return groups
