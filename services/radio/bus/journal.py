"""The radio's journal: every reading, numbered, stored before it is published.

Subscribers that missed something (not running, slow, a dropped PUB message) ask the radio's
replay socket for everything after their last ``seq`` and get it from here.  The journal
lives in the runtime dir by default (tmpfs on the appliance: no SD wear; it covers process
restarts, not power cuts).  ``epoch`` names one journal: a recreated journal (reboot, a
corrupt file) has a new epoch, so subscribers know their old ``seq`` means nothing here.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from common.reading import Reading

log = logging.getLogger("radio.journal")

# A wall clock before this has not been set yet (no reading can be older than the software).
CLOCK_UNSET_BEFORE = 1735689600.0  # 2025-01-01T00:00:00Z

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY, at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Page:
    """An answer to "everything after ``since``"."""

    epoch: str
    first: int  # oldest seq still held (last + 1 when empty)
    last: int  # newest seq
    bodies: list[str]
    gap: tuple[int, int] | None  # seqs (from, to) the asker missed that are no longer held


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class Journal:
    def __init__(self, path: Path, max_readings: int = 150_000, max_days: float = 7.0) -> None:
        self.path = path
        self.max_readings = max_readings
        self.max_age = max_days * 86400
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = self._open()
        self.epoch = self._meta("epoch")
        self.last_seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM readings").fetchone()[0]
        self.last_seq = max(self.last_seq, int(self._meta("last_seq", "0")))
        self.dropped = int(self._meta("dropped", "0"))
        log.info("journal %s: epoch %s, last seq %d", path, self.epoch, self.last_seq)

    def _open(self) -> sqlite3.Connection:
        try:
            db = _connect(self.path)
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            # Never crash-loop on a bad file: set it aside and start a new epoch.
            stamp = time.strftime("%Y%m%dT%H%M%S")
            log.error("journal %s is unreadable (%s); moved aside, starting afresh", self.path, exc)
            for suffix in ("", "-wal", "-shm"):
                p = Path(f"{self.path}{suffix}")
                if p.exists():
                    p.rename(f"{p}.corrupt-{stamp}")
            db = _connect(self.path)
            db.executescript(SCHEMA)
        if db.execute("SELECT v FROM meta WHERE k='epoch'").fetchone() is None:
            db.execute("INSERT INTO meta VALUES ('epoch', ?)", (uuid.uuid4().hex[:12],))
        return db

    def _meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return row[0] if row else default

    def append(self, readings: Iterable[Reading]) -> None:
        """Store readings (their seq already assigned by :meth:`next_seq`) in one commit."""
        rows = [(r.seq, time.time(), r.encode().decode()) for r in readings]
        if not rows:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO readings VALUES (?, ?, ?)", rows)
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(self.last_seq),)
            )
            self._trim()

    def next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq

    def _trim(self) -> None:
        cutoff_seq = self.last_seq - self.max_readings
        cutoff_at = time.time() - self.max_age
        # Rows journaled while the clock was unset (a Pi without RTC, before NTP) carry a
        # time near 1970: their age is unknown, not decades, so only the count limit trims
        # them.  Aged out when NTP set the clock, a subscriber that had not caught up yet
        # would lose them.
        cur = self.db.execute(
            "DELETE FROM readings WHERE seq <= ? OR (at < ? AND at >= ?)",
            (cutoff_seq, cutoff_at, CLOCK_UNSET_BEFORE),
        )
        if cur.rowcount > 0:
            self.dropped += cur.rowcount
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('dropped', ?)", (str(self.dropped),)
            )
            log.info("journal retention dropped %d old readings", cur.rowcount)

    def close(self) -> None:
        self.db.close()


class JournalReader:
    """A read-only view for the replay thread (its own SQLite connection)."""

    def __init__(self, path: Path) -> None:
        self.db = _connect(path)

    def page(self, since: int, limit: int) -> Page:
        db = self.db
        epoch = db.execute("SELECT v FROM meta WHERE k='epoch'").fetchone()[0]
        first, last = db.execute("SELECT MIN(seq), MAX(seq) FROM readings").fetchone()
        stored_last = db.execute("SELECT v FROM meta WHERE k='last_seq'").fetchone()
        last = max(last or 0, int(stored_last[0]) if stored_last else 0)
        first = first if first is not None else last + 1
        gap = (since + 1, first - 1) if since + 1 < first else None
        bodies = [
            row[0]
            for row in db.execute(
                "SELECT body FROM readings WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit)
            )
        ]
        return Page(epoch, first, last, bodies, gap)

    def close(self) -> None:
        self.db.close()
