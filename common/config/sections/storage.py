"""storage: how often data is flushed to the card, and the radio's journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.values import directory, number

DEFAULTS: dict[str, Any] = {
    "storage": {
        "flush_interval_seconds": 60,
        "journal_path": "",
        "journal_max_readings": 150_000,
        "journal_max_days": 7,
    },
}


@dataclass(frozen=True)
class StorageSettings:
    flush_interval_seconds: float  # the most a power cut may lose
    journal_path: Path
    journal_max_readings: int
    journal_max_days: float


def check(inputs: Inputs) -> Checked:
    st = inputs.settings["storage"]
    problems: list[str] = []
    journal = st["journal_path"]
    storage = StorageSettings(
        flush_interval_seconds=number(
            st["flush_interval_seconds"], "storage.flush_interval_seconds", 0.2, problems
        ),
        journal_path=(
            directory(journal, "storage.journal_path", inputs.paths, problems)
            if journal
            else inputs.paths.runtime_dir / "journal.sqlite"
        ),
        journal_max_readings=int(
            number(
                st["journal_max_readings"],
                "storage.journal_max_readings",
                100,
                problems,
                whole=True,
            )
        ),
        journal_max_days=number(st["journal_max_days"], "storage.journal_max_days", 0.01, problems),
    )
    return {"storage": storage}, problems
