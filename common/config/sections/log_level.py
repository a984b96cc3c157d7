"""logging: how much each service writes to its log."""

from __future__ import annotations

from typing import Any

from common.config.inputs import Checked, Inputs

DEFAULTS: dict[str, Any] = {"logging": {"level": "INFO"}}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check(inputs: Inputs) -> Checked:
    given = inputs.settings["logging"]["level"]
    problems: list[str] = []
    level = str(given).upper()
    if level not in LOG_LEVELS:
        problems.append(
            f"settings.yml: 'logging.level' {given!r} is not one of " + ", ".join(LOG_LEVELS)
        )
        level = "INFO"
    return {"log_level": level}, problems
