"""csv: the daily CSV files, their folder, and when past days are gzipped or removed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.values import boolean, directory, number

DEFAULTS: dict[str, Any] = {
    "csv": {"enabled": True, "directory": "logs", "gzip_after_days": 0, "retention_days": 0},
}


@dataclass(frozen=True)
class CsvSettings:
    enabled: bool
    directory: Path
    gzip_after_days: int  # 0: never compress past days
    retention_days: int  # 0: keep every day


def check(inputs: Inputs) -> Checked:
    section = inputs.settings["csv"]
    problems: list[str] = []
    csv = CsvSettings(
        enabled=boolean(section["enabled"], "csv.enabled", problems),
        directory=directory(section["directory"], "csv.directory", inputs.paths, problems),
        gzip_after_days=int(
            number(section["gzip_after_days"], "csv.gzip_after_days", 0, problems, whole=True)
        ),
        retention_days=int(
            number(section["retention_days"], "csv.retention_days", 0, problems, whole=True)
        ),
    )
    return {"csv": csv}, problems
