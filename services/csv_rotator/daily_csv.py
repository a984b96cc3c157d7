"""``YYYYMMDD-smartmeter.csv``: ``timestamp,unitid,epc,dataid,value``, header once per file.

The day is the reading's own local date (an EA for 23:30 that arrives after midnight still
goes to yesterday's file), not the time the row is written.

Rows are collected in memory and written in one go by :meth:`DailyCsv.commit`, which fsyncs
each file and returns the sizes it committed.  Those sizes, saved with the cursor, are what
makes the files exactly-once: at start anything past a committed size was written after the
last saved cursor (it will be replayed) or torn by a power cut, so it is cut off.  A file is
recorded in the state (at its current size) before it is first written, so every file a
crash can leave half-written is known at start.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from common.day_files import SUFFIX, file_name
from common.reading import Reading, format_value

log = logging.getLogger("csv_rotator")

HEADER = "timestamp,unitid,epc,dataid,value\n"


def file_for(directory: Path, day: date) -> Path:
    return directory / file_name(day)


def row(reading: Reading, tz: ZoneInfo) -> str:
    ts = reading.time.astimezone(tz).isoformat(timespec="seconds")
    return f"{ts},{reading.unitid},{reading.epc},{reading.dataid},{format_value(reading.value)}\n"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DailyCsv:
    def __init__(self, directory: Path, tz: ZoneInfo) -> None:
        self.directory = directory
        self.tz = tz
        self.pending: dict[str, list[str]] = defaultdict(list)  # file name -> rows
        self.committed: dict[str, int] = {}  # file name -> size known durable

    @property
    def pending_rows(self) -> int:
        return sum(len(rows) for rows in self.pending.values())

    def add(self, reading: Reading) -> None:
        day = reading.time.astimezone(self.tz).date()
        self.pending[file_for(self.directory, day).name].append(row(reading, self.tz))

    def recover(self, committed: dict[str, int]) -> None:
        """Make the files agree with the last saved cursor (see the module docstring)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.committed = dict(committed)
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            size = path.stat().st_size
            name = path.name
            if name in committed:
                keep = committed[name]
                if size > keep:
                    log.info(
                        "%s: cutting %d bytes written after the last cursor", name, size - keep
                    )
                    self._truncate(path, keep)
                elif size < keep:
                    log.error(
                        "%s is %d bytes shorter than committed; was it edited?", name, keep - size
                    )
                    self._cut_torn_tail(path)
                    self.committed[name] = path.stat().st_size
            else:
                self._cut_torn_tail(path)

    def _cut_torn_tail(self, path: Path) -> None:
        """A power cut can leave half a row at the end: keep only whole lines."""
        with path.open("rb+") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size == 0:
                return
            f.seek(max(0, size - 4096))
            tail = f.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            keep = size - len(tail) + cut + 1 if cut >= 0 else 0
            if cut < 0 and size > 4096:
                return  # a 4 KiB line is not ours; leave the file alone rather than guess
            log.warning("%s: removing a torn last line (%d bytes)", path.name, size - keep)
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())

    @staticmethod
    def _truncate(path: Path, size: int) -> None:
        with path.open("rb+") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def write_pending(self) -> dict[str, int]:
        """Append and fsync every pending row; the sizes to commit. Undoes itself on OSError."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sizes = dict(self.committed)
        created = False
        try:
            for name, rows in sorted(self.pending.items()):
                path = self.directory / name
                with path.open("a", encoding="utf-8", newline="") as f:
                    if f.tell() == 0:
                        f.write(HEADER)
                        created = True
                        log.info("writing %s", path)
                    f.write("".join(rows))
                    f.flush()
                    os.fsync(f.fileno())
                    sizes[name] = f.tell()
            if created:
                _fsync_dir(self.directory)
        except OSError:
            self.undo()
            raise
        return sizes

    def unknown_pending_files(self) -> dict[str, int]:
        """Files about to be written whose size the saved state does not know yet."""
        out = {}
        for name in self.pending:
            if name not in self.committed:
                path = self.directory / name
                out[name] = path.stat().st_size if path.exists() else 0
        return out

    def accept(self, sizes: dict[str, int]) -> None:
        """The cursor that goes with ``sizes`` is saved: they are the new committed sizes."""
        self.committed = sizes
        self.pending.clear()

    def undo(self) -> None:
        """Cut every file with pending rows back to its committed size; forget the rows."""
        for name in self.pending:
            path = self.directory / name
            if path.exists():
                try:
                    self._truncate(path, self.committed.get(name, 0))
                except OSError as exc:
                    log.error("cannot cut %s back to its committed size: %s", name, exc)
        self.pending.clear()
