"""The disk queue between the bus and InfluxDB: SQLite in WAL mode, bounded, never wedged.

What is in it is safe against a crash of any process: a group of readings and the bus cursor
that ends it are committed in one transaction, so after kill -9 the writer resumes from the
committed cursor and the radio's journal replays the rest.  ``synchronous=NORMAL`` because a
power cut may lose the last commits (the journal cannot refill those, it is on tmpfs, but the
DESIGN allows one flush interval), and FULL would double the writes to the SD card.

Bounds: the file never grows past ``max_bytes`` (``max_page_count``; the WAL is kept short by
``journal_size_limit`` and a low ``wal_autocheckpoint``) and no row stays longer than
``max_age``; the oldest rows go first and are counted in the same transaction.  A file that
fails ``quick_check`` is renamed aside and a fresh queue is started, never a crash loop.

One connection (in exclusive locking mode), shared by the intake and the drain threads under
a lock: every statement is short (the HTTP call is made without the lock), and one
connection means one place for the size pragmas and the full-disk recovery, and no
busy-waiting between two writers.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from common.bus import Cursor
from services.influx_writer.clock import EARLIEST_PLAUSIBLE, clock_is_sane
from services.influx_writer.quarantine import quarantined, set_aside

log = logging.getLogger("influx_writer.queue")

# Small pages: a group commit dirties a few pages (the last leaf of ``q`` and ``meta``), and
# each costs a page-sized WAL frame on the SD card however few bytes changed in it.
PAGE_SIZE = 1024
WAL_MAX = 256 * 1024
DEADLETTER_KEEP = 1000  # rows kept for a person to read; the counter keeps the total
COUNTERS = ("dropped", "deadletter", "delivered", "rejected")
SCHEMA = """
CREATE TABLE IF NOT EXISTS q (seq INTEGER PRIMARY KEY, line TEXT NOT NULL,
                              ts INTEGER NOT NULL, enq REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deadletter (id INTEGER PRIMARY KEY, line TEXT NOT NULL,
                                       status INTEGER, reason TEXT, at REAL NOT NULL);
"""


class DiskFull(Exception):
    """The filesystem (not the queue's own limit) has no room: nothing was stored."""


class Row(NamedTuple):
    # A tuple, not a dataclass: a backlog is read 500 rows a step, and building them is a
    # measurable share of the drain (docs/benchmarks.md, figure 4).
    seq: int  # the queue's own numbering: never reused, so an ack cannot hit a newer row
    line: str
    ts: int  # the reading's time, ms


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)


@contextmanager
def _full_is_disk_full() -> Iterator[None]:
    # A delete needs room in the WAL too; the caller keeps the rows and tries later.
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_full(exc):
            raise DiskFull(str(exc)) from None
        raise


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or not isinstance(
        exc, sqlite3.OperationalError
    )


class DiskQueue:
    def __init__(self, path: Path, max_bytes: int, max_age_s: float) -> None:
        self.path = path
        # The WAL is outside max_page_count: give it a share of the limit and checkpoint
        # often enough that it stays within it (plus one transaction).
        self.wal_bytes = min(WAL_MAX, max_bytes // 4)
        self.max_pages = max(16, (max_bytes - self.wal_bytes) // PAGE_SIZE)
        self.reserve = 2 * self.wal_bytes  # free space kept for checkpoints on a full disk
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self.quarantined = quarantined(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = self._open()
        self.cursor = Cursor(str(self._meta("epoch", "")), int(self._meta("bus_seq", 0)))
        self.counters = {k: int(self._meta(k, 0)) for k in COUNTERS}
        self._next_seq = int(self._meta("next_seq", 0)) or self._max_seq() + 1
        self.depth = self.db.execute("SELECT COUNT(*) FROM q").fetchone()[0]
        self.disk_limited = False  # the last enqueue dropped rows because the disk is full
        # Rows queued while our clock was unset carry a bogus queueing time; see _enqueue.
        self._bogus_enq = self._exists("SELECT 1 FROM q WHERE enq < ? LIMIT 1", _earliest())

    # --- opening -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only takes effect on a new file
        # Only this process uses the queue: in exclusive mode SQLite keeps the WAL index in
        # memory instead of a mmapped -shm file, whose pages would go to the SD card on every
        # commit (measured: about half of all bytes written).  It also refuses a second writer.
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA max_page_count={self.max_pages}")
        db.execute(f"PRAGMA wal_autocheckpoint={max(8, self.wal_bytes // (PAGE_SIZE + 24))}")
        db.execute(f"PRAGMA journal_size_limit={self.wal_bytes}")
        return db

    def _open(self) -> sqlite3.Connection:
        db = None
        try:
            db = self._connect()
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
            db.executescript(SCHEMA)
            return db
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise  # cannot open (permissions, disk full): the caller retries later
            if db is not None:
                db.close()
            self.quarantined = set_aside(self.path, exc)
        db = self._connect()
        db.executescript(SCHEMA)
        return db

    # --- small helpers -------------------------------------------------------------------
    def _meta(self, key: str, default: object) -> object:
        row = self.db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return row[0] if row else default

    def _exists(self, sql: str, *args: object) -> bool:
        return self.db.execute(sql, args).fetchone() is not None

    def _max_seq(self) -> int:
        return self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM q").fetchone()[0]

    @contextmanager
    def _txn(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _save_meta(self, **values: object) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    # --- intake --------------------------------------------------------------------------
    def enqueue(
        self,
        rows: Sequence[tuple[str, int]],
        cursor: Cursor,
        invalid: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Store ``(line, ts)`` rows and the cursor that follows them, atomically.

        ``invalid`` are readings no server can take, as ``(text, reason)``: they go straight
        to the dead-letter table in the same transaction.

        Returns how many old rows were dropped to make room: over the size or age limit, or
        (``disk_limited``) because the filesystem is full while the queue holds a backlog.
        Raises DiskFull when the filesystem is full and there is nothing to drop: then
        nothing was stored and the cursor is as it was, so the caller rewinds to
        :attr:`cursor` and the journal sends the readings again later.
        """
        with self._lock:
            # Nearly full: stop growing while there is a backlog to make room from, so the
            # last bit of space stays for checkpoints (a WAL-mode database that cannot
            # checkpoint cannot even delete).
            low = self.depth > 0 and self._free_bytes() < self.reserve
            make_room, wrapped = (len(rows) if low else 0), False
            self.disk_limited = low
            while True:
                try:
                    dropped = self._enqueue(rows, cursor, invalid, make_room)
                    if low:
                        self._checkpoint()  # so the WAL starts over instead of growing
                    return dropped
                except sqlite3.OperationalError as exc:
                    if not _is_full(exc):
                        raise
                    # Our own max_page_count, unless the filesystem is what ran out.
                    disk = self._free_bytes() < self.reserve
                    if disk and not wrapped:
                        # The filesystem is full; the WAL may only need to start over at
                        # its beginning, in blocks it already has.
                        wrapped = True
                        self._checkpoint()
                        continue
                    if make_room < self.depth:
                        # Our limit, or a full disk while we hold a backlog: the newest
                        # readings matter more than the oldest (dropped, counted).
                        self.disk_limited = disk
                        make_room = min(self.depth, max(2 * make_room, len(rows), 64))
                        continue
                    raise DiskFull(str(exc)) from None

    def _enqueue(
        self,
        rows: Sequence[tuple[str, int]],
        cursor: Cursor,
        invalid: Sequence[tuple[str, str]],
        make_room: int,
    ) -> int:
        now = time.time()
        sane = clock_is_sane(now)
        with self._txn():
            if invalid:
                self._insert_dead(invalid, None, now)
            if sane and self._bogus_enq:
                # Queued while the clock said 1970: their age is unknown, so it starts now
                # rather than making them look 55 years old the moment NTP answers.
                self.db.execute("UPDATE q SET enq=? WHERE enq < ?", (now, _earliest()))
            dropped = self._drop_aged(now) + self._drop_oldest(make_room)
            seq = self._next_seq
            self.db.executemany(
                "INSERT INTO q VALUES (?, ?, ?, ?)",
                [(seq + i, line, ts, now) for i, (line, ts) in enumerate(rows)],
            )
            counters = dict(self.counters, dropped=self.counters["dropped"] + dropped)
            counters["deadletter"] += len(invalid)
            self._save_meta(
                epoch=cursor.epoch, bus_seq=cursor.seq, next_seq=seq + len(rows), **counters
            )
        self._next_seq = seq + len(rows)
        self.depth += len(rows) - dropped
        self.counters = counters
        self.cursor = Cursor(cursor.epoch, cursor.seq)
        self._bogus_enq = not sane and (self._bogus_enq or bool(rows))
        return dropped

    def _drop_oldest(self, n: int) -> int:
        if n <= 0:
            return 0
        return self.db.execute(
            "DELETE FROM q WHERE seq IN (SELECT seq FROM q ORDER BY seq LIMIT ?)", (n,)
        ).rowcount

    def _drop_aged(self, now: float) -> int:
        # Only a set clock can say what is old; rows are (nearly) in age order, so work from
        # the front a page at a time instead of scanning the whole table.
        if not clock_is_sane(now):
            return 0
        cutoff, total = now - self.max_age_s, 0
        while True:
            n = self.db.execute(
                "DELETE FROM q WHERE seq IN (SELECT seq FROM q ORDER BY seq LIMIT 500) AND enq < ?",
                (cutoff,),
            ).rowcount
            total += n
            if n < 500:
                return total

    def _free_bytes(self) -> int:
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return 1 << 62
        return st.f_bavail * st.f_frsize

    def _checkpoint(self) -> None:
        try:
            # RESTART, not TRUNCATE: the WAL keeps the blocks it has on a full disk.
            self.db.execute("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.OperationalError as exc:
            log.debug("checkpoint failed: %s", exc)

    # --- drain ---------------------------------------------------------------------------
    def peek(
        self, limit: int, lo_ts: int, hi_ts: int, after: int = 0
    ) -> tuple[list[Row], int]:
        """The oldest ``limit`` rows past seq ``after`` whose time lies in [lo_ts, hi_ts], and
        the depth then."""
        with self._lock:
            cur = self.db.execute(
                "SELECT seq, line, ts FROM q WHERE seq > ? AND ts BETWEEN ? AND ? "
                "ORDER BY seq LIMIT ?",
                (after, lo_ts, hi_ts, limit),
            )
            return list(map(Row._make, cur)), self.depth

    def ack(self, rows: Sequence[Row], rejected: int = 0) -> None:
        """The server took these (2xx, or 422 for the ``rejected`` among them): forget them."""
        with self._lock, _full_is_disk_full():
            with self._txn():
                gone = self._delete(rows)
                counters = self._count(delivered=gone - rejected, rejected=rejected)
            self.depth -= gone
            self.counters = counters

    def delivered_directly(self, n: int) -> None:
        """``n`` readings the server took without ever being queued: counted in memory (and
        saved with the next commit), so that delivering them costs the disk nothing."""
        with self._lock:
            self.counters = dict(self.counters, delivered=self.counters["delivered"] + n)

    def dead_letter(self, rows: Sequence[Row], status: int | None, reason: str) -> None:
        """Set aside lines the server refuses for good, with its reason, for a person."""
        with self._lock, _full_is_disk_full():
            with self._txn():
                gone = self._delete(rows)
                now = time.time()
                self._insert_dead([(r.line, reason) for r in rows], status, now)
                counters = self._count(deadletter=gone)
            self.depth -= gone
            self.counters = counters

    def _insert_dead(self, items: Sequence[tuple[str, str]], status: int | None, at: float) -> None:
        self.db.executemany(
            "INSERT INTO deadletter (line, status, reason, at) VALUES (?, ?, ?, ?)",
            [(line, status, reason, at) for line, reason in items],
        )
        self.db.execute(
            "DELETE FROM deadletter WHERE id <= (SELECT MAX(id) FROM deadletter) - ?",
            (DEADLETTER_KEEP,),
        )

    def dead_letters(self) -> list[tuple[str, int | None, str]]:
        with self._lock:
            return self.db.execute(
                "SELECT line, status, reason FROM deadletter ORDER BY id"
            ).fetchall()

    def _delete(self, rows: Sequence[Row]) -> int:
        # Rows may have been dropped (queue full) while the batch was in flight: count what
        # was really deleted, never more.
        if not rows:
            return 0
        first, last = rows[0].seq, rows[-1].seq
        if last - first + 1 == len(rows):  # a run of consecutive seqs: one range delete
            cur = self.db.execute("DELETE FROM q WHERE seq BETWEEN ? AND ?", (first, last))
        else:  # rows held back by the clock sit in between
            cur = self.db.executemany("DELETE FROM q WHERE seq=?", [(r.seq,) for r in rows])
        return cur.rowcount

    def _count(self, **add: int) -> dict[str, int]:
        """Counters plus ``add``, saved in the caller's transaction; kept once it commits."""
        counters = dict(self.counters)
        for k, v in add.items():
            counters[k] += v
        self._save_meta(**counters)
        return counters

    def oldest_enqueued(self) -> float | None:
        with self._lock:
            row = self.db.execute("SELECT enq FROM q ORDER BY seq LIMIT 1").fetchone()
            return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def quarantine(self, exc: Exception) -> None:
        """Set a file found damaged while running aside; the next start begins afresh."""
        with self._lock:
            self.db.close()
            self.quarantined = set_aside(self.path, exc)


def _earliest() -> float:
    return EARLIEST_PLAUSIBLE.timestamp()
