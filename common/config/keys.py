"""Which keys settings.yml may hold: unknown ones are named (typos, the previous logger's),
and every key left out takes its default.
"""

from __future__ import annotations

import difflib
from typing import Any

from common.config.previous_logger import previous_logger_problem


def unknown_keys(data: dict[str, Any], shape: dict[str, Any], prefix: str = "") -> list[str]:
    """A line for every key of ``data`` that ``shape`` does not have, at any depth."""
    problems = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if value is None and isinstance(shape.get(key), dict):
            continue  # "csv:" with every key commented out: all defaults
        previous = previous_logger_problem(name) if key not in shape else None
        if previous:
            problems.append(previous)
        elif key not in shape:
            close = difflib.get_close_matches(str(key), list(shape), n=1)
            hint = f"did you mean '{prefix}{close[0]}'?" if close else "remove it"
            problems.append(f"settings.yml: unknown setting '{name}'; {hint}")
        elif isinstance(shape[key], dict):
            if not isinstance(value, dict):
                problems.append(f"settings.yml: '{name}' must be a section (key: value lines)")
            else:
                problems += unknown_keys(value, shape[key], f"{name}.")
    return problems


def merged(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """settings.yml with every key it leaves out (or gives a wrong shape) at its default."""
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        given = data.get(key, default)
        if isinstance(default, dict):
            given = {**default, **(given if isinstance(given, dict) else {})}
        out[key] = given
    return out
