"""The bus side: readings → line protocol → InfluxDB, or the disk queue, in groups.

A reading counts as handled once the server took it, or its line and the bus cursor after
it are committed to the queue in one transaction.  Groups go every
``storage.flush_interval_seconds`` or every ``batch_size`` readings, not per reading: the SD
card is spared, and what a crash loses in between is still in the radio's journal, which the
subscriber replays from the handled cursor.

While the server takes writes and the queue is empty, a group is handed to the drain thread
to be sent at once and never touches the disk (:class:`~services.influx_writer.drain.Offer`);
the handled cursor then lives in the runtime dir, next to the journal it points into (both
tmpfs on the appliance: after a power cut neither exists, and the subscriber starts on the
new journal anyway).  The next group waits until the server answered the last one, so the
cursor never runs ahead of a reading that is neither delivered nor queued.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from datetime import tzinfo
from pathlib import Path

from common.bus import CatchUpSubscriber, Cursor
from common.reading import Reading
from services.influx_writer.clock import sendable_window
from services.influx_writer.drain import DELIVERED, FAILED, Drainer, Offer
from services.influx_writer.health import Health
from services.influx_writer.line_protocol import Unrenderable, render
from services.influx_writer.queue import DiskFull, DiskQueue, Row

log = logging.getLogger("influx_writer.intake")

DISK_RETRY = 5.0  # after a full disk, wait this long before taking readings again
SETTLE_POLL = 0.05  # how often to look whether the server answered an offer
SETTLE_MS = int(SETTLE_POLL * 1000)


def load_handled(path: Path | None, queued: Cursor) -> Cursor:
    """Where to resume: the handled cursor kept in the runtime dir, if it belongs to the same
    journal as the queue's and is not behind it; else the queue's (after a reboot, or a
    queue that was set aside as damaged: then the journal is read again, which only
    resends)."""
    if path is not None:
        kept = Cursor.load(path)
        if kept is not None and kept.epoch == queued.epoch and kept.seq >= queued.seq:
            return kept
    return Cursor(queued.epoch, queued.seq)


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
        direct: Drainer | None = None,
        handled: Cursor | None = None,
        cursor_file: Path | None = None,
    ) -> None:
        self.queue, self.sub, self.health = queue, sub, health
        self.flush_every, self.batch_size, self.tz = flush_every, batch_size, tz
        self.committed = committed  # set after every commit: wakes an idle drain loop
        # (line, ts, epoch, seq) of readings received but not yet committed.
        self.pending: list[tuple[str, int, str, int]] = []
        self.invalid: list[tuple[str, str]] = []
        self.disk_retry_at = 0.0
        self.direct = direct  # the drain, to hand groups to while the way is clear
        self.offer: Offer | None = None
        self.cursor_file = cursor_file  # the handled cursor, in the runtime dir
        # Everything up to here was delivered or is queued.
        c = handled or queue.cursor
        self.handled = Cursor(c.epoch, c.seq)

    def run(self, stop: threading.Event, wake: int | None = None) -> None:
        """Until ``stop``; ``wake`` (readable on stop) lets the bus wait be long."""
        next_flush = time.monotonic() + self.flush_every
        while not stop.is_set():
            now = time.monotonic()
            if now < self.disk_retry_at:
                stop.wait(self.disk_retry_at - now)
                continue
            # Wait for a message, a stop, or the next commit when there is something to
            # commit; not every 500 ms for nothing (docs/benchmarks.md, figure 3).
            if wake is None:
                wait_ms: int | None = 500
            elif self.pending or self.invalid or self.sub.cursor != self.handled:
                wait_ms = max(0, math.ceil((next_flush - now) * 1000))
            else:
                wait_ms = None
            if self.offer is not None:
                wait_ms = min(wait_ms if wait_ms is not None else 1 << 30, SETTLE_MS)
            for reading in self.sub.poll(wait_ms, wake=wake):
                self._take(reading)
            self._settle()
            now = time.monotonic()
            if len(self.pending) >= self.batch_size or now >= next_flush:
                # Not now if the server has not answered the last group yet: soon.
                next_flush = now + (self.flush_every if self.flush() else SETTLE_POLL)
        # The last group goes to the queue, after the answer to one in flight (if it comes).
        deadline = time.monotonic() + (self.direct.settings.timeout_seconds + 1
                                       if self.direct else 0)  # fmt: skip
        while self._settle() and time.monotonic() < deadline:
            time.sleep(SETTLE_POLL)
        self.flush(direct=False)

    def _take(self, reading: Reading) -> None:
        try:
            line, ts = render(reading, self.tz)
        except (Unrenderable, ValueError, OverflowError) as exc:
            self.invalid.append((reading.encode().decode(), str(exc)))
            log.warning("reading seq %d cannot be written to InfluxDB: %s", reading.seq, exc)
            return
        self.pending.append((line, ts, reading.epoch, reading.seq))

    def _settle(self) -> bool:
        """Take in the server's answer to the group in flight; True while there is none."""
        offer = self.offer
        if offer is None:
            return False
        if offer.result is None:
            return True
        self.offer = None
        if self.direct is not None:
            self.direct.offer = None  # the drain may take the next one
        if offer.result == FAILED:
            self._stall("queue-error", "could not queue readings InfluxDB did not take; they "
                        "come again from the radio's journal")  # fmt: skip
            return False
        self._handled(offer.cursor)
        if offer.result == DELIVERED:
            # Nothing waits for the disk now: a disk-full or queue-full shown earlier is over
            # for these readings (the queue clears it the same way when it takes a group).
            self.health.clear("storage", "readings are handled again")
        else:
            self._dropped(offer.dropped)
        return False

    def _handled(self, cursor: Cursor) -> None:
        self.handled = Cursor(cursor.epoch, cursor.seq)
        if self.cursor_file is None:
            return
        try:  # tmpfs: costs the SD card nothing
            self.handled.save(self.cursor_file)
        except OSError as exc:
            log.debug("cannot keep the cursor in %s: %s", self.cursor_file, exc)

    def _offer(self) -> bool:
        """Hand what is pending to the drain to send at once, if the way is clear."""
        d, cursor = self.direct, self.sub.cursor
        if d is None or self.invalid or len(self.pending) > self.batch_size or not d.ready():
            return False
        if cursor.epoch != self.queue.cursor.epoch:
            return False  # a new journal: the queue learns its epoch once, with a commit
        lo, hi = sendable_window()
        if any(not lo <= p[1] <= hi for p in self.pending):
            return False  # held back by the clock: that is the queue's job
        if not self.pending:
            self._handled(cursor)  # only the cursor moved (duplicates, a gap)
            return True
        rows = [Row(0, line, ts) for line, ts, _epoch, _seq in self.pending]
        self.offer = d.hand_over(rows, Cursor(cursor.epoch, cursor.seq))
        self.pending = []
        return True

    def flush(self, direct: bool = True) -> bool:
        """Send or commit what is pending (in chunks of ``batch_size``, each with its cursor);
        False if it has to wait for the answer to the group in flight."""
        if self._settle():
            return False
        if not self.pending and not self.invalid and self.sub.cursor == self.handled:
            return True
        if direct and self._offer():
            return True
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
            return True
        except sqlite3.OperationalError as exc:
            self._stall(
                "queue-error",
                f"cannot write the queue {self.queue.path} ({exc}); readings stay in the "
                "radio's journal and are queued when this works again",
            )
            return True
        self._handled(self.queue.cursor)
        self.committed.set()
        return True

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
        self.sub.cursor = Cursor(self.handled.epoch, self.handled.seq)
        self.sub.need_catch_up = True
