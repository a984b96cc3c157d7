"""acquisition: what is read from the meter and how often, and the backfill of missed
half-hours.  No property is read faster than the floor that keeps a real meter answering.
"""

from __future__ import annotations

from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.sections.dongle import SIMULATOR, serial_port
from common.config.sections.schedule import ScheduleGroup, schedule_groups
from common.config.values import boolean, epc_list, finite

DEFAULTS: dict[str, Any] = {
    "acquisition": {
        "interval_seconds": 30,
        "properties": ["D3", "D7", "E1", "E7", "E0", "E3"],
        # Groups with their own period, e.g. [{properties: [E7], every_seconds: 30}, ...];
        # empty: the flat form above (properties every interval_seconds).
        "schedule": [],
        # Read half-hours of EA/EB missed during an outage back from the meter's history,
        # at most backfill_requests_per_minute history requests a minute.
        "backfill": True,
        "backfill_requests_per_minute": 6,
    },
}
INTERVAL_FLOOR_SECONDS = 10.0
# The floor protects a real meter; the built-in simulator may be polled fast (tests, benchmarks).
SIMULATOR_INTERVAL_FLOOR_SECONDS = 0.2
BACKFILL_MAX_PER_MINUTE = 60  # one history request a second is already a lot for a meter
SIMULATOR_BACKFILL_MAX_PER_MINUTE = 60000  # the simulator may be read fast (tests)


def interval_floor(port: str) -> float:
    """No property is read more often than this (the simulator may be read faster)."""
    return SIMULATOR_INTERVAL_FLOOR_SECONDS if port == SIMULATOR else INTERVAL_FLOOR_SECONDS


def check(inputs: Inputs) -> Checked:
    acq = inputs.settings["acquisition"]
    problems: list[str] = []
    port = serial_port(inputs.env)
    floor = interval_floor(port)
    interval = acq["interval_seconds"]
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        problems.append(
            f"settings.yml: 'acquisition.interval_seconds' must be a number of seconds, "
            f"not {interval!r}"
        )
        interval = 30
    elif not finite(interval):
        problems.append(
            f"settings.yml: 'acquisition.interval_seconds' must be a finite number of seconds, "
            f"not {interval!r}"
        )
        interval = 30
    elif interval < floor:
        problems.append(
            f"settings.yml: 'acquisition.interval_seconds' is {interval}, below the "
            f"{INTERVAL_FLOOR_SECONDS:g} s floor that keeps the meter answering; "
            f"set {INTERVAL_FLOOR_SECONDS:g} or more"
        )

    raw_props = acq["properties"]
    if not isinstance(raw_props, list) or not raw_props:
        problems.append(
            "settings.yml: 'acquisition.properties' must be a list of EPCs, e.g. [E7, E0, E3]"
        )
        raw_props = []
    properties = epc_list(raw_props, "acquisition.properties", problems)

    given = inputs.given.get("acquisition")
    flat_given = isinstance(given, dict) and "properties" in given
    schedule = schedule_groups(acq.get("schedule"), flat_given, interval, floor, problems)
    if schedule:
        properties = list(dict.fromkeys(e for g in schedule for e in g.properties))
    else:
        schedule = [ScheduleGroup(tuple(properties), float(interval))]

    backfill = boolean(acq["backfill"], "acquisition.backfill", problems)
    pace = _backfill_pace(acq["backfill_requests_per_minute"], port == SIMULATOR, problems)
    fields = {
        "interval_seconds": float(interval),
        "properties": tuple(properties),
        "schedule": tuple(schedule),
        "backfill": backfill,
        "backfill_requests_per_minute": pace,
    }
    return fields, problems


def _backfill_pace(value: Any, simulator: bool, problems: list[str]) -> float:
    key = "acquisition.backfill_requests_per_minute"
    top = SIMULATOR_BACKFILL_MAX_PER_MINUTE if simulator else BACKFILL_MAX_PER_MINUTE
    ok = isinstance(value, int | float) and not isinstance(value, bool) and finite(value)
    if not ok or not 1 <= value <= top:
        problems.append(
            f"settings.yml: '{key}' must be a number of history requests from 1 to {top}, "
            f"not {value!r}; 6 (the default) reads back a day in about a minute"
        )
        return 6.0
    return float(value)
