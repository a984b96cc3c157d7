"""The drain loop: oldest queued lines → InfluxDB, deleted only after the server took them.

Runs in its own thread so the bus intake never waits for HTTP.  Each step sends one batch
and returns how long to wait before the next; all waiting uses the monotonic clock, so a
clock set by NTP neither stretches nor cuts a backoff.  What each answer means (the table
in reference/reliability.md §2): 2xx deletes the batch; 400 is bisected until the poison
lines are found and set aside; 401/403/404 keep everything and wait for a person; 413 sends
less at a time; 422 deletes the batch and counts what the server dropped; 429, 5xx and
network trouble retry later, honouring Retry-After.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from common.bus import Cursor
from common.config import InfluxSettings
from services.influx_writer import sender as s
from services.influx_writer.clock import EARLIEST_PLAUSIBLE, sendable_window
from services.influx_writer.health import Health
from services.influx_writer.queue import DiskFull, DiskQueue, Row
from services.influx_writer.sender import Outcome, Sender

log = logging.getLogger("influx_writer.drain")

# Nothing to send: look again after this long, or at once when the intake commits.  Long:
# what an idle drain finds is only ever new because of a commit (which wakes it) or the
# clock (held readings become sendable); waking every second cost CPU (docs/benchmarks.md).
IDLE = 30.0
BISECT_BUDGET = 64  # requests spent finding poison lines in one batch before waiting
NUMBERS_EVERY = 2.0  # refresh the counters health shows at most this often
QUEUE_RETRY = 5.0  # after the queue itself failed (a full disk)
REJECT_NOTICE = 3600.0  # how long health shows influx-rejecting after a line was refused


DELIVERED, QUEUED, FAILED = "delivered", "queued", "failed"


@dataclass
class Offer:
    """A group of readings the intake hands over to be sent at once, never written to disk.

    While the server takes writes and nothing waits in the queue, writing each group to the
    queue only to delete it a moment later was half of everything the logger wrote to the SD
    card (docs/benchmarks.md, figure 1).  So the group goes straight out; only if the server
    does not take it is it queued (``result`` QUEUED) and retried from there; FAILED means
    even that failed (a full disk) and the intake rewinds to the journal.
    """

    rows: list[Row]
    cursor: Cursor  # the bus cursor after these readings
    result: str | None = None  # set by the drain thread: DELIVERED, QUEUED or FAILED
    dropped: int = 0  # rows the queue dropped to take these (QUEUED)


class Backoff:
    """Exponential, capped, with jitter so a fleet of loggers does not retry in step."""

    def __init__(self, base: float = 1.0, cap: float = 60.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures = min(self.failures + 1, 30)
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class Drainer:
    def __init__(
        self,
        queue: DiskQueue,
        sender: Sender,
        health: Health,
        settings: InfluxSettings,
        backoff: Backoff | None = None,
        after_write: Callable[[], None] | None = None,
    ) -> None:
        self.queue, self.sender, self.health, self.settings = queue, sender, health, settings
        self.backoff = backoff or Backoff()
        self.limit = settings.batch_size  # lowered on 413
        self.after_write = after_write  # a fault-injection point for tests only
        self.held = 0
        self.wake = threading.Event()
        self.offer: Offer | None = None  # handed over by the intake; it clears it when settled
        self.idle = False  # the last look found nothing to send and no trouble
        # Draining a backlog, a batch the server took is deleted from the queue while the
        # next one travels: the two cost about the same, one after the other they halved
        # the drain (docs/benchmarks.md, figure 4).
        self._acks: ThreadPoolExecutor | None = None
        self._acking: Future[None] | None = None
        self._after = 0  # rows up to this seq are being deleted in the background
        self._overlap = False

    # --- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        next_numbers = 0.0
        while not stop.is_set():
            # Cleared before looking at the queue, so a commit made while we look is not
            # missed (the idle wait is long).
            self.wake.clear()
            offer = self.offer
            if offer is not None and offer.result is None:
                self._direct(offer)
                continue
            delay = self.step(overlap=True)
            self.idle = delay == IDLE
            # At most every NUMBERS_EVERY while busy, and before every idle wait (which is
            # long), so what health shows is never older than the last change.
            if self.idle or time.monotonic() >= next_numbers:
                self.numbers()
                next_numbers = time.monotonic() + NUMBERS_EVERY
            if delay > 0:
                # Woken early by new rows only when idle; a backoff is waited out in full.
                if delay == IDLE:
                    self.wake.wait(delay)
                else:
                    stop.wait(delay)
        try:
            self._settle_ack()
        except (DiskFull, sqlite3.OperationalError) as exc:
            log.warning("the last delivered batch stays queued (%s); it is sent again", exc)
        if self._acks is not None:
            self._acks.shutdown()

    # --- readings straight from the intake ---------------------------------------------
    def ready(self) -> bool:
        """Whether an offer may be made: idle, the queue has nothing to send, none pending."""
        return self.idle and self.offer is None

    def hand_over(self, rows: list[Row], cursor: Cursor) -> Offer:
        offer = Offer(rows, cursor)
        self.offer = offer
        self.wake.set()
        return offer

    def _direct(self, offer: Offer) -> None:
        self.idle = False
        with contextlib.suppress(DiskFull, sqlite3.OperationalError):
            self._settle_ack()  # if it failed, those rows are still queued and go again
        out = self._send(offer.rows)
        if out.kind == s.OK:
            self.queue.delivered_directly(len(offer.rows))
            self.health.delivered()
            self.backoff.reset()
            offer.result = DELIVERED
            self.idle = True
            return
        # Anything else: queue it; the next step sends it from the queue and handles the
        # answer as for any batch (backoff, bisect, a person's attention).
        try:
            offer.dropped = self.queue.enqueue([(r.line, r.ts) for r in offer.rows], offer.cursor)
            offer.result = QUEUED
        except (DiskFull, sqlite3.OperationalError) as exc:
            log.warning("could not queue %d readings (%s); they come again from the journal",
                        len(offer.rows), exc)  # fmt: skip
            offer.result = FAILED

    def step(self, overlap: bool = False) -> float:
        """Send one batch; the seconds to wait before the next step.

        ``overlap`` (the loop's way): a full batch the server took is deleted from the queue
        in the background while the next step sends the next one.
        """
        self._overlap = overlap
        lo, hi = sendable_window()
        rows, _depth = self.queue.peek(self.limit, lo, hi, after=self._after)
        try:
            if len(rows) < self.limit:  # every sendable row is here: the rest are held back
                self._settle_ack()
                self._clock(self.queue.depth - len(rows))
            if not rows:
                return IDLE
            return self._deliver(rows)
        except DiskFull as exc:
            # The delete after a 2xx needs room too; the batch is resent later (harmless).
            self.health.problem("storage", "fail", "disk-full", f"the queue cannot commit: {exc}")
            return QUEUE_RETRY
        except sqlite3.OperationalError as exc:  # damage (DatabaseError) is the caller's
            self.health.problem("storage", "fail", "queue-error", f"the queue failed: {exc}")
            return QUEUE_RETRY

    def _clock(self, held: int) -> None:
        self.held = held
        if held:
            self.health.problem(
                "clock", "warn", "clock-implausible",
                f"{held} readings carry a time before {EARLIEST_PLAUSIBLE:%Y-%m-%d} or more than "
                "a day ahead of this clock and are not sent (is NTP working?). Those ahead go "
                "once the clock is right; those stamped before were taken while the clock was "
                "unset and leave the queue after influxdb.queue_max_days",
            )  # fmt: skip
        else:
            self.health.clear("clock")

    # --- one batch -----------------------------------------------------------------------
    def _deliver(self, rows: list[Row]) -> float:
        out = self._send(rows)
        if out.kind == s.OK:
            return self._accepted(rows)
        self._settle_ack()
        if out.kind == s.PARTIAL:
            self.queue.ack(rows, rejected=out.rejected)
            self._refused(out, out.rejected)
            self.health.delivered()
            self.backoff.reset()
            return 0
        if out.kind == s.TOO_LARGE and len(rows) > 1:
            self.limit = max(1, len(rows) // 2)
            log.warning("the server refused %d lines as too large (413); sending %d at a time",
                        len(rows), self.limit)  # fmt: skip
            return 0
        if out.kind == s.BAD_LINES:
            return self._bisect(rows, out)
        return self._failed(out)

    def _send(self, rows: list[Row]) -> Outcome:
        out = self.sender.send([r.line for r in rows])
        if out.kind == s.OK and self.after_write is not None:
            self.after_write()
        return out

    def _accepted(self, rows: list[Row]) -> float:
        self._settle_ack()
        if self._overlap and len(rows) == self.limit:  # a full batch: probably more to come
            if self._acks is None:
                self._acks = ThreadPoolExecutor(1, thread_name_prefix="ack")
            self._acking = self._acks.submit(self.queue.ack, rows)
            self._after = rows[-1].seq
        else:
            self.queue.ack(rows)
        self.health.delivered()
        self.backoff.reset()
        return 0

    def _settle_ack(self) -> None:
        """Wait for the background delete; its failure is the step's (the rows stay queued
        and go again: harmless)."""
        acking, self._acking = self._acking, None
        if acking is not None:
            self._after = 0
            acking.result()

    def _failed(self, out: Outcome) -> float:
        """Keep every row and wait: the problem is not in the lines."""
        bucket, org = self.settings.bucket, self.settings.org
        if out.kind == s.AUTH:
            level, cause, what = "fail", "influx-auth", "refused the token"
            fix = f"Put a token with write access to bucket '{bucket}' in INFLUXDB_TOKEN"
        elif out.kind == s.MISSING:
            level, cause = "fail", "influx-bucket-missing"
            what = f"has no bucket '{bucket}' in org '{org}'"
            fix = "Create it, or fix INFLUXDB_ORG / INFLUXDB_BUCKET"
        elif out.kind == s.RETRY:
            level, cause, what = "warn", "influx-unreachable", "is not taking writes"
            fix = "They are sent when it is back"
        else:  # a lone line too large, a 400 no line is to blame for, any other 4xx
            level, cause, what = "fail", "influx-rejecting", "refuses our writes"
            fix = "Check that INFLUXDB_URL points at InfluxDB v2"
        detail = f"{out.status}: {out.reason}" if out.status else out.reason
        self.health.problem(
            "delivery", level, cause,
            f"InfluxDB at {self.sender.where} {what} ({detail}); {self.queue.depth} readings "
            f"are kept in the queue. {fix} (docs/influxdb.md)",
        )  # fmt: skip
        if out.kind == s.RETRY and out.retry_after is not None:
            self.backoff.next()  # keep growing, in case the server stops sending it
            # Never sooner than the first backoff step: "Retry-After: 0" is not a licence to spin.
            return max(out.retry_after, self.backoff.base) * random.uniform(1.0, 1.1)
        return self.backoff.next()

    def _refused(self, out: Outcome, n: int) -> None:
        c = self.queue.counters
        self.health.problem(
            "rejects", "warn", "influx-rejecting",
            f"InfluxDB refused {n} points for good ({out.status}: {out.reason}); "
            f"{c['deadletter']} set aside in the queue's dead-letter table and {c['rejected']} "
            "dropped by the server so far",
            hold=REJECT_NOTICE,
        )  # fmt: skip

    def _bisect(self, rows: list[Row], first: Outcome) -> float:
        """Halve a 400 batch until the lines the server refuses are alone.

        A line is set aside only if the server took other lines meanwhile: a 400 that every
        line gets is about the request (a proxy, the wrong kind of server), not the data,
        and then everything is kept.
        """
        parts = [rows[: len(rows) // 2], rows[len(rows) // 2 :]] if len(rows) > 1 else []
        budget, accepted = BISECT_BUDGET, 0
        poison: list[tuple[Row, Outcome]] = []
        last = first
        while parts and budget > 0:
            part = parts.pop(0)
            out, budget = self._send(part), budget - 1
            if out.kind == s.OK:
                self.queue.ack(part)
                accepted += len(part)
            elif out.kind == s.PARTIAL:
                self.queue.ack(part, rejected=out.rejected)
                accepted += len(part) - out.rejected
            elif out.kind == s.BAD_LINES and len(part) > 1:
                mid = len(part) // 2
                parts[:0] = [part[:mid], part[mid:]]
            elif out.kind == s.BAD_LINES:
                poison.append((part[0], out))
            else:
                last = out  # the server went away or changed its mind: stop here
                break
            if out.kind == s.BAD_LINES:
                last = out
        if accepted and poison:
            for row, out in poison:
                self.queue.dead_letter([row], out.status, out.reason)
            self._refused(poison[0][1], len(poison))
        if accepted:
            self.health.delivered()
            self.backoff.reset()
            return 0
        if last.kind == s.BAD_LINES:
            last = Outcome(s.REFUSED, last.status, last.reason)
        return self._failed(last)

    def numbers(self) -> None:
        q = self.queue
        self.health.numbers(q.depth, q.counters, q.oldest_enqueued(), self.held, q.quarantined)
