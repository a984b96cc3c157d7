"""The format version of every file of state the services keep across a restart.

An update must never leave state the running release cannot read.  The rule: a release
reads every format up to its own; a release that *changes* a format bumps its number here,
reads the old format too, and writes the new one only after the update was confirmed good
(the updater then records the new numbers in ``state-formats.json`` in the data folder).
Until then the previous release can still take over.  See docs/image.md ("Updating").

    queue    influx_writer's SQLite queue (influx_queue.sqlite)
    ledger   the radio's backfill ledger of half-hours (radio-slots.json)
    cursors  csv_rotator's state (csv_rotator.state.json) and the radio's PAN cache
    settings settings.yml and smartmeter.env
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

FORMATS: dict[str, int] = {"queue": 1, "ledger": 1, "cursors": 1, "settings": 1}
FILE_NAME = "state-formats.json"


def recorded(data_dir: Path) -> dict[str, int]:
    """The formats the state in ``data_dir`` is in (1 for state older than this record)."""
    try:
        data = json.loads((data_dir / FILE_NAME).read_text())
        return {k: int(data.get(k, 1)) for k in FORMATS} | {
            k: int(v) for k, v in data.items() if k not in FORMATS
        }
    except (OSError, ValueError, AttributeError):
        return {k: 1 for k in FORMATS}


def record(data_dir: Path, formats: dict[str, int]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{FILE_NAME}.tmp"
    tmp.write_text(json.dumps(formats, sort_keys=True) + "\n")
    os.replace(tmp, data_dir / FILE_NAME)


def readable_by(release_formats: dict[str, int], data_dir: Path) -> list[str]:
    """What in ``data_dir`` a release with ``release_formats`` could not read (empty: all)."""
    have = recorded(data_dir)
    return [f"{k} format {v} (that release reads up to {release_formats.get(k, 1)})"
            for k, v in sorted(have.items()) if v > release_formats.get(k, 1)]  # fmt: skip


# (state, format) -> what turns the previous format into that one, run by the updater in
# the new release once the update is confirmed (``python -m services.updater migrate``).
# A migration must be safe while the services run; none exists yet.
MIGRATIONS: dict[tuple[str, int], Callable[[Path], None]] = {}


def migrate(data_dir: Path) -> list[str]:
    """Bring the state in ``data_dir`` up to this release's formats; what was done."""
    have, done = recorded(data_dir), []
    for name, want in FORMATS.items():
        for step in range(have.get(name, 1) + 1, want + 1):
            fn = MIGRATIONS.get((name, step))
            if fn is not None:
                fn(data_dir)
            done.append(f"{name} format {step - 1} -> {step}")
    if done or not (data_dir / FILE_NAME).exists():
        record(data_dir, {**have, **FORMATS})
    return done
