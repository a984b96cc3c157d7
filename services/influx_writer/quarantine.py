"""Setting a damaged queue file aside, and counting how often that happened.

The count lives in a small file next to the queue, not in it: the damaged file takes its own
counters with it, and health should still say that a queue was lost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("influx_writer.queue")


def _count_file(db: Path) -> Path:
    return db.with_name(db.name + ".quarantined.json")


def quarantined(db: Path) -> int:
    """How many times the queue at ``db`` was found damaged and set aside."""
    try:
        return int(json.loads(_count_file(db).read_text())["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def set_aside(db: Path, why: Exception) -> int:
    """Rename the database and its -wal/-shm to ``*.corrupt-<UTC>``; the new count."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{db}{suffix}")
        if p.exists():
            p.rename(f"{p}.corrupt-{stamp}")
    count = quarantined(db) + 1
    path = _count_file(db)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w") as f:
            json.dump({"count": count, "last": stamp}, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:  # a full disk must not stop the fresh start
        log.error("cannot record the quarantine count in %s: %s", path, exc)
    log.error(
        "the queue %s is damaged (%s); moved aside as *.corrupt-%s and started afresh; "
        "the radio's journal refills what it still holds",
        db, why, stamp,
    )  # fmt: skip
    return count
