"""Minutes of D0 the logger has no reading for, read back from the meter's EE/EF history.

Only on a meter with D0, EE and EF (Release R) and only when ``acquisition`` names D0.  The
minute ledger (``$DATA/radio-minutes.json``, the slot ledger's code with one-minute slots and
one kind, ``D0``) knows which minutes have a reading.  A poll of D0 answers with the
meter's latest whole minute, so every minute before the newest polled one that has no
reading was missed for good by the polls: that is *missing*, back to ``REACH`` (how long
meters keep EE is not in the appendix: a day is asked for, no more).  The meter's own clock
is thus known from D0 itself: no reading of 98/97, no estimate, and nothing is owed before
D0 has been polled in this session.

A read is ``SetC EF = (newest, N ≤ 10)`` then ``Get EE``: both directions of N minutes.  EF
takes absolute times, so unlike E5 there is no day number to go wrong at midnight.  Reads go
newest first: a window the meter has no value for at all means it keeps nothing older
either, so every older missing minute is taken as none at once instead of asked for.  The
half-hours go first (they are the promise; see runner.py), and the pacer is theirs.

The ledger is *not* written before each D0 is journaled (that would be 1 440 writes a
day): it is written at most every ``SAVE_EVERY`` (6 hours: 4 writes a day while D0 flows; an
atomic write costs about 9 KiB of the card, temp file, fsync, rename and the folder's fsync,
as the half-hour ledger's 48 a day show in docs/benchmarks.md) and on shutdown.  What it does
not know after a restart comes from the journal (the radio alone restarted: it keeps days)
or the CSV (a power cut: the minutes after its newest mark; ``ledger_check.check(lazy=True)``),
so a minute is neither lost nor written twice.  Without the CSV a power cut reads back the
minutes since the last write (at most 6 hours: 72 requests), which InfluxDB takes as repeats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from common.echonet import EchonetFormatError, Measurement
from common.echonet_release_r import (
    MINUTE_WINDOW_MAX,
    MinuteValue,
    decode_minute_history,
    encode_minute_window,
)
from common.reading import Reading
from services.radio.backfill import ledger_check
from services.radio.backfill.plan import Pacer
from services.radio.backfill.slot_ledger import SlotLedger
from services.radio.bus.journal import Journal
from services.radio.meter.client import Answer, MeterClient
from services.radio.meter.clock import values_of

log = logging.getLogger("radio.backfill")

FILE_NAME = "radio-minutes.json"
KIND = "D0"
MINUTE = 60
REACH = 1440  # minutes: the oldest minute asked for is a day before the newest polled
SAVE_EVERY = 21600.0  # s between writes of the minute ledger: 4 a day (module docstring)
READ_REQUESTS = 2  # one read: EF, EE
MAX_TRIES = 3  # a window still unusable after this many reads is taken as no value
Publish = Callable[[list[Answer], str], None]


@dataclass
class _Read:
    newest: datetime  # meter local time, naive
    count: int
    step: int = 0  # 0: EF to set, 1: EE to get


class MinuteBackfill:
    def __init__(self, data_dir: Path, tz: tzinfo, keep_recent: float, scale: float,
                 clock: Callable[[], float], wall: Callable[[], float]) -> None:  # fmt: skip
        self.tz = tz
        self.scale = scale
        self.clock = clock
        self.ledger = SlotLedger(data_dir / FILE_NAME, tz, keep_recent, wall,
                                 kinds=(KIND,), slot_seconds=MINUTE).load()  # fmt: skip
        self.offered = True  # the meter lists D0, EE and EF (or did not say)
        self.state = "idle"
        self.done = 0
        self.missing = 0
        self._read: _Read | None = None
        self._newest: int | None = None  # the newest minute a poll of D0 gave, this session
        self._tries: dict[int, int] = {}  # unusable answers per window (by its newest minute)
        self._saved_at = clock()
        self._next_check = 0.0

    def check(self, journal: Journal, csv_dir: Path | None, unitid: str) -> None:
        ledger_check.check(self.ledger, journal, csv_dir, self.tz, unitid, lazy=True)

    # --- the live side ------------------------------------------------------------------------
    def fresh(self, when: datetime) -> bool:
        return self.ledger.slot_of(when) not in self.ledger.have[KIND]

    def recording(self, readings: list[Reading]) -> None:
        for r in readings:
            if r.epc == KIND:
                slot = self.ledger.slot_of(r.time)
                self.ledger.mark(KIND, slot)
                if r.source == "poll" and (self._newest is None or slot > self._newest):
                    self._newest = slot

    def save(self, journal: tuple[str, int], force: bool = False) -> None:
        """Now and then (``SAVE_EVERY``), or ``force`` d (shutdown, a read done)."""
        due = force or self.clock() - self._saved_at >= SAVE_EVERY * self.scale
        if due and self.ledger.save(journal):
            self._saved_at = self.clock()

    def joined(self, get_map: frozenset[int] | None) -> None:
        self.offered = get_map is None or {0xD0, 0xEE, 0xEF} <= get_map
        self._read = None
        self._newest = None
        self._next_check = 0.0
        self.state = "idle" if self.offered else "unsupported"

    @property
    def reading(self) -> bool:
        return self._read is not None

    def interrupted(self) -> None:
        self._read = None

    # --- what is missing ----------------------------------------------------------------------
    def _slot(self, naive: datetime) -> int:
        return self.ledger.slot_of(naive.replace(tzinfo=self.tz))

    def _naive(self, slot: int) -> datetime:
        return self.ledger.slot_time(slot).replace(tzinfo=None)

    def _missing(self, before: int) -> list[int]:
        return sorted(self.ledger.missing(before - REACH, before - 1))

    def due(self, now: float) -> bool:
        """Anything to read?  Without a request; idle it looks once a minute."""
        if not self.offered or self._newest is None:
            return False  # no D0 polled in this session: nothing is known to be missing
        if self._read is not None or self.state == "running":
            return True
        if now < self._next_check:
            return False
        self._next_check = now + MINUTE * self.scale
        self.missing = len(self._missing(self._newest))
        if self.missing:
            self._begin()  # running until a plan (by the meter's clock) finds nothing
        return self.missing > 0

    def _begin(self) -> None:
        if self.state != "running":
            log.info("minute backfill: %d minutes of D0 to read back", self.missing)
            self.state, self.done = "running", 0

    # --- one request --------------------------------------------------------------------------
    def step(self, meter: MeterClient, pacer: Pacer, publish: Publish) -> bool:
        """At most one request (EF or EE); True if one went."""
        if self._read is None:
            self._read = self._plan()
            if self._read is None:
                return False
        read = self._read
        pacer.sent()
        if read.step == 0:
            if not meter.set(0xEF, encode_minute_window(read.newest, read.count)):
                return self._cannot("SetC EF refused")
            read.step = 1
            return True
        values = values_of(meter.get([0xEE]))
        self._read = None
        if 0xEE not in values:
            return self._cannot("Get EE refused")
        self._use(read, values[0xEE], meter, publish)
        return True

    def _plan(self) -> _Read | None:
        assert self._newest is not None
        if self.ledger.prune(self._newest - REACH):
            log.warning("%d minutes of D0 are older than a day and are not read back",
                        self.ledger.unrecoverable)  # fmt: skip
        missing = self._missing(self._newest)
        self.missing = len(missing)
        if not missing:
            if self.state == "running":
                log.info("minute backfill done: %d minutes read back", self.done)
            self.state = "idle"
            return None
        self._begin()
        newest = missing[-1]
        run = [s for s in missing if s > newest - MINUTE_WINDOW_MAX]
        return _Read(self._naive(newest), newest - run[0] + 1)

    def _cannot(self, why: str) -> bool:
        log.warning("minute history: %s; the meter does not offer it", why)
        self.offered = False
        self.state = "unsupported"
        self._read = None
        return True

    def _use(self, read: _Read, edt: bytes, meter: MeterClient, publish: Publish) -> None:
        try:
            shown, values = decode_minute_history(edt)
            if shown != read.newest or len(values) != read.count:
                raise EchonetFormatError(f"EPC EE: shows {shown} × {len(values)}, "
                                         f"{read.newest} × {read.count} was set")  # fmt: skip
        except EchonetFormatError as exc:
            newest = self._slot(read.newest)
            self._tries[newest] = tries = self._tries.get(newest, 0) + 1
            log.warning("minute history not usable (%d of %d): %s", tries, MAX_TRIES, exc)
            if tries >= MAX_TRIES:
                del self._tries[newest]
                for slot in range(newest - read.count + 1, newest + 1):
                    self.ledger.mark_empty(KIND, slot)
            return
        answers = [self._answer(v, meter) for v in values
                   if v.forward is not None or v.reverse is not None]  # fmt: skip
        for v in values:
            if v.forward is None and v.reverse is None:
                self.ledger.mark_empty(KIND, self._slot(v.when))
        self.done += len(values)
        if not answers:
            # Nothing in the whole window: the meter keeps no minutes this old.
            oldest = self._slot(values[-1].when)
            older = self._missing(oldest)
            for slot in older:
                self.ledger.mark_empty(KIND, slot)
            if older:
                log.info("the meter keeps no 1-minute history before %s: %d minutes taken "
                         "as none", values[-1].when, len(older))  # fmt: skip
            self.done += len(older)
            return
        publish(answers, "backfill")

    def _answer(self, v: MinuteValue, meter: MeterClient) -> Answer:
        at = datetime.now(self.tz)
        ms = [Measurement(name, None if raw is None else meter.scaling.kwh(raw), v.when)
              for name, raw in (("forward", v.forward), ("reverse", v.reverse))]  # fmt: skip
        return Answer(0xD0, ms, at)

    def detail(self) -> dict[str, Any]:
        return {"state": self.state, "missing": self.missing, "done": self.done,
                "nodata": self.ledger.nodata(),
                "unrecoverable": self.ledger.unrecoverable}  # fmt: skip
