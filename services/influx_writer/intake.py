"""The bus side: readings → line protocol → the disk queue, in group commits.

A reading counts as handled once its line and the bus cursor after it are committed in one
transaction.  Commits come every ``storage.flush_interval_seconds`` or every ``batch_size``
readings, not per reading: the SD card is spared, and what a crash loses in between is
still in the radio's journal, which the subscriber replays from the committed cursor.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import tzinfo

from common.bus import CatchUpSubscriber, Cursor
from common.reading import Reading
from services.influx_writer.health import Health
from services.influx_writer.line_protocol import Unrenderable, render
from services.influx_writer.queue import DiskFull, DiskQueue

log = logging.getLogger("influx_writer.intake")

DISK_RETRY = 5.0  # after a full disk, wait this long before taking readings again


class Intake:
    def __init__(
        self,
        queue: DiskQueue,
        sub: CatchUpSubscriber,
        health: Health,
        *,
        flush_every: float,
        batch_size: int,
        tz: tzinfo,
        committed: threading.Event,
    ) -> None:
        self.queue, self.sub, self.health = queue, sub, health
        self.flush_every, self.batch_size, self.tz = flush_every, batch_size, tz
        self.committed = committed  # set after every commit: wakes an idle drain loop
        # (line, ts, epoch, seq) of readings received but not yet committed.
        self.pending: list[tuple[str, int, str, int]] = []
        self.invalid: list[tuple[str, str]] = []
        self.disk_retry_at = 0.0

    def run(self, stop: threading.Event) -> None:
        next_flush = time.monotonic() + self.flush_every
        while not stop.is_set():
            if time.monotonic() < self.disk_retry_at:
                stop.wait(0.5)
                continue
            for reading in self.sub.poll(500):
                self._take(reading)
            now = time.monotonic()
            if len(self.pending) >= self.batch_size or now >= next_flush:
                self.flush()
                next_flush = now + self.flush_every
        self.flush()

    def _take(self, reading: Reading) -> None:
        try:
            line, ts = render(reading, self.tz)
        except (Unrenderable, ValueError, OverflowError) as exc:
            self.invalid.append((reading.encode().decode(), str(exc)))
            log.warning("reading seq %d cannot be written to InfluxDB: %s", reading.seq, exc)
            return
        self.pending.append((line, ts, reading.epoch, reading.seq))

    def flush(self) -> None:
        """Commit what is pending, in chunks of ``batch_size``, each with its cursor."""
        if not self.pending and not self.invalid and self.sub.cursor == self.queue.cursor:
            return
        try:
            while True:
                chunk = self.pending[: self.batch_size]
                rest = self.pending[self.batch_size :]
                # The last chunk ends at the subscriber's cursor, which may be past the last
                # reading (duplicates skipped, a gap the journal no longer held).
                cursor = Cursor(chunk[-1][2], chunk[-1][3]) if rest else self.sub.cursor
                dropped = self.queue.enqueue([(c[0], c[1]) for c in chunk], cursor, self.invalid)
                self.pending, self.invalid = rest, []
                self._dropped(dropped)
                if not rest:
                    break
        except DiskFull as exc:
            self._stall(
                "disk-full",
                f"the disk holding {self.queue.path.parent} is full ({exc}); readings stay in "
                "the radio's journal and are queued when there is room again",
            )
            return
        except sqlite3.OperationalError as exc:
            self._stall(
                "queue-error",
                f"cannot write the queue {self.queue.path} ({exc}); readings stay in the "
                "radio's journal and are queued when this works again",
            )
            return
        self.committed.set()

    def _dropped(self, dropped: int) -> None:
        total = self.queue.counters["dropped"]
        if not dropped:
            self.health.clear("storage", "the queue takes readings again")
        elif self.queue.disk_limited:
            message = (
                f"the disk holding {self.queue.path.parent} is full while InfluxDB does not "
                f"take the readings; the oldest queued are dropped ({total} so far). "
                "Free some space"
            )
            self.health.problem("storage", "fail", "disk-full", message)
        else:
            message = (
                "the queue reached its limit (influxdb.queue_max_mb / queue_max_days) while "
                f"InfluxDB did not take the readings; the oldest are dropped ({total} so far)"
            )
            self.health.problem("storage", "fail", "queue-full", message)

    def _stall(self, cause: str, message: str) -> None:
        """Forget what is not committed, and ask the journal for it again in a while."""
        self.health.problem("storage", "fail", cause, message)
        self.disk_retry_at = time.monotonic() + DISK_RETRY
        self.pending, self.invalid = [], []
        self.sub.cursor = Cursor(self.queue.cursor.epoch, self.queue.cursor.seq)
        self.sub.need_catch_up = True
