"""``YYYYMMDD-smartmeter.csv``: ``timestamp,unitid,epc,dataid,value``, header once per file.

The day is the reading's own local date (an EA for 23:30 that arrives after midnight still
goes to yesterday's file), not the time the row is written.
"""

from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from common.reading import Reading, format_value

log = logging.getLogger("csv_rotator")

HEADER = "timestamp,unitid,epc,dataid,value\n"
SUFFIX = "-smartmeter.csv"


def file_for(directory: Path, day: date) -> Path:
    return directory / f"{day:%Y%m%d}{SUFFIX}"


def row(reading: Reading, tz: ZoneInfo) -> str:
    ts = reading.time.astimezone(tz).isoformat(timespec="seconds")
    return f"{ts},{reading.unitid},{reading.epc},{reading.dataid},{format_value(reading.value)}\n"


class DailyCsv:
    def __init__(self, directory: Path, tz: ZoneInfo) -> None:
        self.directory = directory
        self.tz = tz
        self._files: dict[date, IO[str]] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def _open(self, day: date) -> IO[str]:
        f = self._files.get(day)
        if f is None:
            path = file_for(self.directory, day)
            f = path.open("a", encoding="utf-8", newline="")
            if f.tell() == 0:
                f.write(HEADER)
            self._files[day] = f
            # Keep at most today and yesterday open: late EA/EB rows belong to yesterday.
            for old in sorted(self._files)[:-2]:
                self._close(old)
            log.info("writing %s", path)
        return f

    def write(self, reading: Reading) -> None:
        day = reading.time.astimezone(self.tz).date()
        self._open(day).write(row(reading, self.tz))

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()

    def _close(self, day: date) -> None:
        f = self._files.pop(day)
        f.flush()
        os.fsync(f.fileno())
        f.close()

    def close(self) -> None:
        for day in list(self._files):
            self._close(day)
