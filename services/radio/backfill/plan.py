"""What the backfill asks the meter for next, and how often it may ask.

``plan`` picks, for the oldest day with missing half-hours, whichever read costs fewer
requests: the whole day (``SetC E5``, ``Get E2``/``E4``, the meter's date with the last) or, on a
meter with EC, a window of up to 12 half-hours (``SetC ED``, ``Get EC``).  ``Pacer`` keeps
to ``acquisition.backfill_requests_per_minute``; ``near_midnight`` keeps history reads away
from the meter's day boundary, where E5's day numbers shift.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.radio.backfill.slot_ledger import EPCS
from services.radio.meter.history import (
    EPC_DAY,
    HISTORY_DAYS,
    WINDOW_MAX,
    day_setting,
    window_setting,
)

LIVE_GRACE = timedelta(minutes=15)  # EA/EB come by INF within 5 min after :00/:30
MIDNIGHT_GUARD = timedelta(minutes=5)  # no history request this close to the meter's midnight
BATCH_SPAN = timedelta(minutes=2)  # nor a read begun that might still run into the guard
BATCH_REQUESTS = 4  # the most one read takes: the clock, E5, E2, E4 (+ the date)


class Pacer:
    """At most ``per_minute`` requests in any ``window`` seconds (a minute; scaled in tests)."""

    def __init__(
        self, per_minute: float, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = max(1, int(per_minute))
        self.window = window * self.limit / per_minute  # 0.5 a minute: 1 in 2 minutes
        self.clock = clock
        self._sent: deque[float] = deque()

    def wait(self, n: int = 1) -> float:
        """Seconds until ``n`` requests may go one after another (0: now)."""
        now = self.clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        n = min(n, self.limit)
        if len(self._sent) + n <= self.limit:
            return 0.0
        return self._sent[len(self._sent) + n - self.limit - 1] + self.window - now

    def sent(self) -> None:
        self._sent.append(self.clock())


@dataclass(frozen=True)
class DayRead:
    """SetC E5 = ``day`` (``on``, counted from the meter's ``today``), Get E2 and/or E4."""

    today: date
    day: int
    slots: dict[int, tuple[str, ...]]  # the missing half-hours it is for, and which of EA/EB

    @property
    def on(self) -> date:
        return self.today - timedelta(days=self.day)

    @property
    def epcs(self) -> tuple[str, ...]:
        return tuple(e for e in EPCS if any(e in lacking for lacking in self.slots.values()))


@dataclass(frozen=True)
class WindowRead:
    """SetC ED = (``newest``, ``count``), Get EC (forward and reverse together)."""

    newest: datetime  # meter local time, naive
    count: int
    slots: dict[int, tuple[str, ...]]


Batch = DayRead | WindowRead


def plan(
    missing: dict[int, tuple[str, ...]],
    today: date,
    naive: Callable[[int], datetime],
    by_day: bool,
    by_window: bool,
    not_by_window: frozenset[int] | set[int] = frozenset(),
) -> Batch | None:
    """The next read for the oldest missing day: whichever of E2/E4 or EC asks less."""
    if not missing:
        return None
    oldest = naive(min(missing)).date()
    slots = {s: lacking for s, lacking in missing.items() if naive(s).date() == oldest}
    day = DayRead(today, (today - oldest).days, slots)
    day_ok = by_day and 0 <= day.day <= HISTORY_DAYS
    windows = _windows(sorted(s for s in slots if s not in not_by_window))
    # Requests, each read after a reading of the meter's clock: a day is E5 + one Get per
    # EPC; a window is ED + EC.  A tie goes to the windows (no day numbers to go wrong).
    cheaper = 3 * len(windows) <= 2 + len(day.epcs)
    if by_window and windows and (not day_ok or (cheaper and not set(slots) & not_by_window)):
        first = windows[0]
        return WindowRead(naive(first[-1]), first[-1] - first[0] + 1,
                          {s: slots[s] for s in first})  # fmt: skip
    return day if day_ok else None


def _windows(slots: list[int]) -> list[list[int]]:
    """Cover ascending ``slots`` with runs of at most WINDOW_MAX consecutive half-hours."""
    out: list[list[int]] = []
    for s in slots:
        if out and s - out[-1][0] < WINDOW_MAX:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def near_midnight(meter_now: datetime) -> timedelta | None:
    """How long to wait before a read begins, if ``meter_now`` is too close to midnight.

    A read (its requests go one after another) must end before the guard begins: it may
    not start later than ``BATCH_SPAN`` before it.
    """
    start = midnight(meter_now.date())
    after = meter_now - start
    if after < MIDNIGHT_GUARD:
        return MIDNIGHT_GUARD - after
    before = start + timedelta(days=1) - meter_now
    if before <= MIDNIGHT_GUARD + BATCH_SPAN:
        return before + MIDNIGHT_GUARD
    return None


def steps(batch: Batch, with_date: bool = True) -> list[tuple[Any, ...]]:
    """The requests of one read, in order: ("set", EPC, EDT) and ("get", EPC, ...).

    The last Get of a day also asks for the meter's date (98), to tell whether midnight
    passed while the day was read.
    """
    if isinstance(batch, DayRead):
        gets = [("get", EPC_DAY[e]) for e in batch.epcs]
        if with_date:
            gets[-1] = (*gets[-1], 0x98)
        return [("set", 0xE5, day_setting(batch.day)), *gets]
    return [("set", 0xED, window_setting(batch.newest, batch.count)), ("get", 0xEC)]


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())
