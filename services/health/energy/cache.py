"""The day cache: ``$DATA/energy-days.jsonl``, one line per closed day, appended.

A year of CSV is read once; after that a restart reads this file (a few hundred kB for a
year) and only the days whose files changed.  One line is appended when a day closes (or
changes later: a backfill, a file copied in), so the SD card sees one small write per day,
never one per view.  The last line for a day wins; the file is rewritten (atomically) at
start when superseded lines make up more than half of it.

The first line names the format and its version; a file of another version, or made for
another time zone, is set aside and rebuilt from the CSV files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any

from services.health.energy.day import Counter, DayRecord

log = logging.getLogger("health.energy")

FORMAT = "smartmeter-energy-days"
VERSION = 1
FILE_NAME = "energy-days.jsonl"


def _counter(c: Counter) -> dict[str, Any]:
    return {"b": c.bounds, "f": c.fixed, "first": c.first, "last": c.last}


def encode(r: DayRecord) -> str:
    doc = {
        "day": r.day.isoformat(),
        "start": r.start,
        "scaling": r.scaling,
        "readings": r.readings,
        "source": r.source,
        **{d: _counter(c) for d, c in r.counters.items()},
    }
    return json.dumps(doc, separators=(",", ":")) + "\n"


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def decode(line: str) -> DayRecord:
    doc = json.loads(line)
    counters = {
        d: Counter(
            [None if v is None else float(v) for v in doc[d]["b"]],
            int(doc[d]["f"]),
            _pair(doc[d]["first"]),
            _pair(doc[d]["last"]),
        )
        for d in ("import", "export")
    }
    scaling = doc["scaling"]
    return DayRecord(
        date.fromisoformat(doc["day"]),
        float(doc["start"]),
        counters,
        None if scaling is None else tuple(float(x) for x in scaling),  # type: ignore[arg-type]
        int(doc["readings"]),
        [tuple(s) for s in doc["source"]],
    )


class DayCache:
    def __init__(self, directory: Path, tz_name: str) -> None:
        self.path = directory / FILE_NAME
        self.tz_name = tz_name
        self._header = json.dumps({"format": FORMAT, "version": VERSION, "tz": tz_name})

    def load(self) -> dict[date, DayRecord]:
        records: dict[date, DayRecord] = {}
        try:
            with self.path.open(encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return records
        except OSError as exc:
            log.warning("cannot read %s (%s); the days are read from the CSV again", self.path, exc)
            return records
        try:
            head = json.loads(lines[0]) if lines else {}
        except ValueError:
            head = {}
        if head != json.loads(self._header):
            log.info("%s is not version %d for %s; rebuilding it", self.path.name, VERSION,
                     self.tz_name)  # fmt: skip
            self._set_aside()
            return records
        for line in lines[1:]:
            try:
                r = decode(line)
            except (ValueError, KeyError, TypeError, IndexError):
                continue  # a line torn by a power cut: that day is read again
            records[r.day] = r
        if len(lines) - 1 > 2 * max(len(records), 16):
            self.rewrite(records)
        return records

    def _set_aside(self) -> None:
        with contextlib.suppress(OSError):
            self.path.replace(self.path.with_name(self.path.name + ".old"))

    def append(self, records: list[DayRecord]) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8") as f:
            if new:
                f.write(self._header + "\n")
            f.write("".join(encode(r) for r in records))
            f.flush()
            os.fsync(f.fileno())

    def rewrite(self, records: dict[date, DayRecord]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(self._header + "\n")
            f.write("".join(encode(records[d]) for d in sorted(records)))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
