"""Backfill: the half-hours of EA/EB the logger has no reading for, read back from the meter.

After any outage (power cut, dongle unplugged, meter out of range, the box off for a week)
the slot ledger knows which half-hours have no EA/EB reading.  While joined, between the
schedule's polls, this asks the meter's own history for them and hands the values to
``Poller._publish`` as EA/EB readings with ``source`` backfill, stamped with the half-hour's
own time and scaled by D3 × E1 exactly as a live EA/EB, so the two cannot be told apart
downstream.

How it asks, politely:

- One request at a time, only when no schedule group is due (E7 keeps its period, give or
  take one history answer), at most ``acquisition.backfill_requests_per_minute`` in any
  minute (``backfill_plan.Pacer``).
- Oldest first.  A whole day is ``SetC E5 = day`` then ``Get E2`` / ``Get E4``; a short run
  (a few half-hours) on a meter with EC is ``SetC ED = (newest, N ≤ 12)`` then ``Get EC``,
  whichever costs fewer requests (``backfill_plan.plan``).
- In the meter's time.  E5 counts days back from the meter's today, so the meter's clock
  (98/97) is read before a read, and its date (98) comes with the last Get of a day: if it
  changed in between, the answer may belong to another day and is thrown away.  No history
  request goes out near the meter's midnight (``backfill_plan.near_midnight``; the notes warn
  about the day boundary): the backfill pauses (``paused-midnight``) and goes on after it.
- Idle it asks nothing: the meter's clock is estimated (its last reading + the time since),
  and only a half-hour missing by that estimate gets the clock read and a plan made.
- A half-hour is not missing before ``LIVE_GRACE`` has passed: its INF is still on the way.
- The meter keeps 99 days: what is older is counted as unrecoverable, logged, and shown.
- FFFFFFFE (no value at the meter) is not published, but recorded, so it is not asked for
  forever; it is shown as ``nodata``.
- Interrupted (session lost, restart, power cut), it starts over from the ledger (made to
  agree with what the writers have by ledger_check.py): only the read in flight is asked
  again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from common.config import Config
from common.echonet import EchonetFormatError, Measurement
from common.reading import Reading
from services.radio.backfill import ledger_check
from services.radio.backfill import request as backfill_request
from services.radio.backfill.minutes import READ_REQUESTS, MinuteBackfill
from services.radio.backfill.plan import (
    BATCH_REQUESTS,
    LIVE_GRACE,
    Batch,
    DayRead,
    Pacer,
    WindowRead,
    midnight,
    near_midnight,
    plan,
    steps,
)
from services.radio.backfill.slot_ledger import EPCS, FILE_NAME, SlotLedger, slot_of, slot_time
from services.radio.bus.journal import Journal
from services.radio.condition import RadioCondition
from services.radio.meter.client import Answer, MeterClient, MeterTimeout
from services.radio.meter.clock import MeterTime, values_of
from services.radio.meter.history import (
    HISTORY_DAYS,
    SlotValue,
    parse_date,
    parse_day,
    parse_window,
)
from services.radio.timing import Timing

log = logging.getLogger("radio.backfill")

EPC_CODE = {"EA": 0xEA, "EB": 0xEB}
FIRST_START_WAIT = 2700.0  # s joined without any EA/EB before the ledger begins by the clock
IDLE_LISTEN = 5.0  # s the poller may listen between looks while nothing is to be read
MAX_TRIES = 3  # a half-hour still unanswered after this many reads is taken as no value
Publish = Callable[[list[Answer], str], None]


@dataclass
class _Running:
    batch: Batch
    steps: list[tuple[Any, ...]]
    step: int = 0
    answers: dict[int, bytes] = field(default_factory=dict)  # EPC → EDT of the Gets so far


class Backfill:
    def __init__(
        self,
        config: Config,
        timing: Timing,
        condition: RadioCondition,
        journal: Journal,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tz = config.timezone
        self.condition = condition
        self.journal = journal
        self.clock = clock
        self.scale = timing.scale
        self.request_path = config.paths.backfill_request
        # Marks stay "recent" (checked against the CSV after a power cut) until the writers
        # have surely flushed them: two flush intervals and a margin.
        keep = 2 * config.storage.flush_interval_seconds + 10.0
        self.ledger = SlotLedger(config.paths.data_dir / FILE_NAME, self.tz, keep).load()
        self.pacer = Pacer(config.backfill_requests_per_minute, 60.0 * timing.scale, clock)
        self.meter_time = MeterTime(self.tz, 10.0 * timing.scale, clock)
        self.recheck = 60.0 * timing.scale  # the longest pause before looking again
        self.state = "idle"
        self.done = 0  # half-hours examined in this run
        self.missing = 0
        self.request_id: str | None = None
        self.by_day = self.by_window = True
        self._running: _Running | None = None
        self._want_clock = False  # read the meter's clock before the next plan
        self._paused_until = 0.0
        self._next_check = 0.0
        self._joined_at = clock()
        self._request: backfill_request.Request | None = None
        self._request_seen = -1e18
        self._failures = 0
        self._reading = False  # a read began: its requests go on without waiting for room
        self._just_read_clock = False
        self._tries: dict[int, int] = {}
        self._not_by_window: set[int] = set()
        csv_dir = config.csv.directory if config.csv.enabled else None
        ledger_check.check(self.ledger, journal, csv_dir, self.tz, config.unitid)
        # Minutes of D0 (minutes.py): only when the settings ask for D0 at all.
        self.minutes: MinuteBackfill | None = None
        if any(0xD0 in g.properties for g in config.schedule):
            self.minutes = MinuteBackfill(config.paths.data_dir, self.tz, keep, timing.scale,
                                          clock, time.time)  # fmt: skip
            self.minutes.check(journal, csv_dir, config.unitid)
        self._report()

    # --- the live side (Poller._publish) ------------------------------------------------------
    def fresh(self, epc: int, when: datetime) -> bool:
        """False if ``when``'s half-hour of EA/EB (minute of D0) already has a reading."""
        name = f"{epc:02X}"
        if epc == 0xD0:
            return self.minutes is None or self.minutes.fresh(when)
        return name not in EPCS or slot_of(when) not in self.ledger.have[name]

    def recording(self, readings: list[Reading]) -> None:
        """Readings are about to be journaled: their EA/EB half-hours are covered.

        The ledger is written first, so it knows every half-hour a writer can get.
        """
        marks = {(r.epc, slot_of(r.time)) for r in readings if r.epc in EPCS}
        new = {m for m in marks if self.ledger.mark(*m)}
        if new:
            self.ledger.save((self.journal.epoch, max(r.seq for r in readings)), new)
        if self.minutes is not None:
            self.minutes.recording(readings)  # written now and then, not now (minutes.py)

    # --- the session side (Poller._serve) -----------------------------------------------------
    def joined(self, get_map: frozenset[int] | None) -> None:
        """A new session: look at once.  What the meter offers comes from its Get map (9F)."""

        def has(epc: int) -> bool:
            return get_map is None or epc in get_map

        self.by_day = has(0xE2) and has(0xE4)
        self.by_window = has(0xEC)
        self.meter_time.has_clock = has(0x97) and has(0x98)
        if not (self.by_day or self.by_window):
            log.warning("the meter has no 30-minute history (E2/E4/EC): gaps cannot be filled")
        self._running = None
        self._reading = False
        self._next_check = 0.0  # look at once (by the clock as estimated: no request yet)
        self._joined_at = self.clock()
        if self.state == "unsupported":
            self.state = "idle"  # this meter may offer what the last one did not
        if self.minutes is not None:
            self.minutes.joined(get_map)

    def close(self) -> None:
        self._save()
        if self.minutes is not None:
            self.minutes.save((self.journal.epoch, self.journal.last_seq), force=True)

    def listen_cap(self) -> float:
        """How long the poller may listen before calling :meth:`step` again: a second while
        there is history to read (the pace is kept to within it), else a few seconds (a
        ``smartmeterctl backfill`` request is seen within them; an idle radio that woke every
        second for nothing cost CPU, docs/benchmarks.md)."""
        busy = (
            self._want_clock
            or self._reading
            or self._running is not None
            or self._request is not None
            or self.state in ("running", "paused-midnight")
            or (self.minutes is not None and self.minutes.state == "running")
        )
        return (1.0 if busy else IDLE_LISTEN) * self.scale

    def step(self, meter: MeterClient, publish: Publish) -> bool:
        """At most one history request; True if one was sent (the schedule goes first)."""
        now = self.clock()
        self._save()
        self._take_request(now)
        if not (self.by_day or self.by_window):
            self._set_state("unsupported")
            return False
        if now < self._paused_until:
            return False
        if not self._due(now):
            return self._minute_step(meter, publish, now)
        # A read goes out in one go (so it cannot drift into the midnight guard): it begins
        # only when the pacer has room for all of it, its clock reading included.
        if self.pacer.wait(1 if self._reading else BATCH_REQUESTS) > 0:
            return False
        self._reading = True
        try:
            sent = self._one(meter, publish)
            # still inside the read: a batch under way, or the clock just read for its plan
            self._reading = self._running is not None or self._just_read_clock
            return sent
        except MeterTimeout as exc:
            self._reading = False
            # The schedule's own Gets judge the meter; this only waits before asking again.
            self._failures += 1
            pause = min(1800.0, 60.0 * 2 ** (self._failures - 1)) * self.scale
            log.warning("history: %s; trying again in %.0f s", exc, pause)
            self._running = None
            self._want_clock = True
            self._paused_until = self.clock() + pause
            return True

    def _minute_step(self, meter: MeterClient, publish: Publish, now: float) -> bool:
        """The half-hours have nothing to read: a minute of D0, if any is missing."""
        minutes = self.minutes
        if minutes is None or not minutes.due(now):
            return False
        if self.pacer.wait(1 if minutes.reading else READ_REQUESTS) > 0:
            return False
        try:
            sent = minutes.step(meter, self.pacer, publish)
        except MeterTimeout as exc:
            self._failures += 1
            pause = min(1800.0, 60.0 * 2 ** (self._failures - 1)) * self.scale
            log.warning("minute history: %s; trying again in %.0f s", exc, pause)
            minutes.interrupted()
            self._paused_until = self.clock() + pause
            return True
        self._failures = 0
        self._report()
        return sent

    def _due(self, now: float) -> bool:
        """Is there anything to ask?  Idle, this costs no request: the meter's clock is
        estimated (its last reading + the time since, or this host's clock at first), and
        only a half-hour missing by that estimate gets the clock read and a plan made."""
        if self._want_clock or self._running is not None or self._request is not None:
            return True
        if self.state in ("running", "paused-midnight"):
            return True  # (a pause is over once _paused_until has passed)
        if self.state != "idle" or now < self._next_check:
            return False
        if self.ledger.since is None:
            # A first start: the ledger begins with the first EA/EB the meter announces (or
            # is polled for).  A meter that sends none: begin by its clock after a while.
            return now - self._joined_at >= FIRST_START_WAIT * self.scale
        missing = self._missing(self.meter_time.now())
        self.missing = len(missing)
        if missing:
            return True
        self._idle_until_next_slot()
        return False

    def _one(self, meter: MeterClient, publish: Publish) -> bool:
        self._just_read_clock = False
        if self._running is None:
            if self._want_clock or self.meter_time.stale():
                self._want_clock = False
                if self.meter_time.has_clock:
                    self.pacer.sent()
                if self.meter_time.read(meter):
                    self._just_read_clock = True  # the plan (and the read) follow at once
                    return True
            batch = self._plan()
            if batch is None:
                return False
            self._running = _Running(batch, steps(batch, self.meter_time.has_clock))
        return self._advance(meter, publish)

    # --- planning -----------------------------------------------------------------------------
    def _naive(self, slot: int) -> datetime:
        return slot_time(slot, self.tz).replace(tzinfo=None)

    def _slot(self, naive: datetime) -> int:
        return slot_of(naive.replace(tzinfo=self.tz))

    def _window(self, meter_now: datetime) -> tuple[int, int]:
        """The slots the meter can be asked for: its 99 days, up to the live grace."""
        oldest = meter_now.date() - timedelta(days=HISTORY_DAYS)
        return self._slot(midnight(oldest)), self._slot(meter_now - LIVE_GRACE)

    def _missing(self, meter_now: datetime) -> dict[int, tuple[str, ...]]:
        return self.ledger.missing(*self._window(meter_now))

    def _plan(self) -> Batch | None:
        meter_now = self.meter_time.now()
        first, last = self._window(meter_now)
        if self.ledger.since is None:  # a first start: nothing up to now is owed
            self.ledger.start(self._slot(meter_now) + 1)
        self._apply_request(meter_now, first, last)
        if self.ledger.prune(first):
            assert self.ledger.lost is not None
            log.warning(
                "%d half-hours (from %s to %s) are older than the meter's %d days of history "
                "and cannot be filled", self.ledger.unrecoverable,
                slot_time(self.ledger.lost[0], self.tz), slot_time(self.ledger.lost[1], self.tz),
                HISTORY_DAYS,
            )  # fmt: skip
        missing = self.ledger.missing(first, last)
        self.missing = len(missing)
        if not missing:
            if self.state != "idle" and self.done:
                log.info("backfill done: %d half-hours read back", self.done)
            self._set_state("idle")
            self._idle_until_next_slot()
            return None
        if self.state == "idle":
            log.info("backfill: %d half-hours to read back from %s", len(missing),
                     slot_time(min(missing), self.tz).isoformat())  # fmt: skip
        pause = near_midnight(meter_now)
        if pause is not None:
            log.info("backfill paused: the meter's clock is %s, near midnight", meter_now)
            self._set_state("paused-midnight")
            self._paused_until = self.clock() + min(pause.total_seconds(), self.recheck)
            self._want_clock = True
            return None
        batch = plan(missing, meter_now.date(), self._naive, self.by_day, self.by_window,
                     self._not_by_window)  # fmt: skip
        self._set_state("running" if batch else "unsupported")
        return batch

    def _idle_until_next_slot(self) -> None:
        """Look again once the next half-hour is past its grace (estimated: no request)."""
        meter_now = self.meter_time.now()
        due = self._naive(self._slot(meter_now) + 1) + LIVE_GRACE
        self._next_check = self.clock() + max(self.recheck, (due - meter_now).total_seconds())

    # --- one request --------------------------------------------------------------------------
    def _advance(self, meter: MeterClient, publish: Publish) -> bool:
        run = self._running
        assert run is not None
        kind, *args = run.steps[run.step]
        self.pacer.sent()
        if kind == "set":
            if not meter.set(args[0], args[1]):
                return self._cannot(run.batch, f"SetC {args[0]:02X} refused")
        else:
            values = values_of(meter.get(args))
            if args[0] not in values:
                return self._cannot(run.batch, f"Get {args[0]:02X} refused")
            run.answers.update(values)
        run.step += 1
        if run.step == len(run.steps):
            self._running = None
            self._finish(run, meter, publish)
            if not self._missing(self.meter_time.now()):
                self._plan()  # all done: say so now, not after another reading of the clock
        return True

    def _cannot(self, batch: Batch, why: str) -> bool:
        log.warning("history: %s; the meter does not offer it", why)
        if isinstance(batch, DayRead):
            self.by_day = False
        else:
            self.by_window = False
        self._running = None
        return True

    def _finish(self, run: _Running, meter: MeterClient, publish: Publish) -> None:
        self._failures = 0
        batch = run.batch
        try:
            if isinstance(batch, DayRead):
                # The meter's date as it answered the last Get (98 came with it): if midnight
                # passed since the clock was read, E5's day was counted from another today.
                after = run.answers.pop(0x98, None)
                if after is None:
                    self.meter_time.has_clock = False
                today = parse_date(after) if after else self.meter_time.host_today()
                if today != batch.today:
                    log.info("the meter's date changed while reading day %d: read again",
                             batch.day)  # fmt: skip
                    self._want_clock = True
                    return
                values = [v for epc, edt in run.answers.items()
                          for v in parse_day(epc, edt, batch.day, batch.on)]  # fmt: skip
            else:
                values = parse_window(run.answers[0xEC], batch.newest, batch.count)
        except EchonetFormatError as exc:
            log.warning("history answer not usable: %s", exc)
            values = []
        self._use(batch, values, meter, publish)

    def _use(self, batch: Batch, values: list[SlotValue], meter: MeterClient,
             publish: Publish) -> None:  # fmt: skip
        found = {(self._slot(v.when), v.epc): v.raw for v in values}
        answers: list[Answer] = []
        coming: set[tuple[str, int]] = set()
        now = datetime.now(self.tz)
        for slot, lacking in batch.slots.items():
            for epc in lacking:
                if (slot, epc) not in found:
                    continue
                raw = found[(slot, epc)]
                if raw is not None:
                    value = Measurement("", meter.scaling.kwh(raw), self._naive(slot))
                    answers.append(Answer(EPC_CODE[epc], [value], now))
                    coming.add((epc, slot))
                elif isinstance(batch, WindowRead) and self.by_day:
                    self._not_by_window.add(slot)  # EC may keep less than E2/E4: ask by day
                else:
                    self.ledger.mark_empty(epc, slot)
        for slot in batch.slots:
            lacking = [
                e for e in EPCS if (e, slot) not in coming and not self.ledger.examined(e, slot)
            ]
            if not lacking:
                self.done += 1
                self._tries.pop(slot, None)
            elif isinstance(batch, DayRead) or slot not in self._not_by_window:
                self._tries[slot] = tries = self._tries.get(slot, 0) + 1
                if tries >= MAX_TRIES:
                    del self._tries[slot]
                    log.warning("%s: no value after %d reads; taken as none",
                                slot_time(slot, self.tz).isoformat(), MAX_TRIES)  # fmt: skip
                    for e in lacking:
                        self.ledger.mark_empty(e, slot)
                    self.done += 1
        if answers:
            publish(answers, "backfill")  # the ledger is written as they are journaled
        self._save()  # (no value at all: nothing was published)
        self._report()

    # --- smartmeterctl backfill ---------------------------------------------------------------
    def _take_request(self, now: float) -> None:
        """``smartmeterctl backfill`` (backfill_request.py): looked for at most once a
        second (every few seconds while idle: :meth:`listen_cap`)."""
        if now - self._request_seen < self.scale:
            return
        self._request_seen = now
        request = backfill_request.take(self.request_path)
        if request is None:
            return
        self._request = request
        self._want_clock = True
        self._paused_until = 0.0
        self._failures = 0
        if not (self.by_day or self.by_window):
            self.request_id = request.ident  # nothing will happen: say so at once
            self._report()

    def _apply_request(self, meter_now: datetime, first: int, last: int) -> None:
        if self._request is None:
            return
        ident, days = self._request.ident, self._request.days
        self._request = None
        start = self.ledger.since if self.ledger.since is not None else first
        if days is not None:
            start = max(first, self._slot(midnight(meter_now.date() - timedelta(days=days))))
            self.ledger.extend(start)
        again = self.ledger.reopen(start, last)
        self._tries.clear()
        self._not_by_window.clear()
        self.done = 0
        self.request_id = ident
        log.info("backfill request %s: from %s; %d half-hours without a value asked again",
                 ident, slot_time(start, self.tz).isoformat(), again)  # fmt: skip

    # --- saving and telling -------------------------------------------------------------------
    def _save(self) -> None:
        self.ledger.save((self.journal.epoch, self.journal.last_seq))
        if self.minutes is not None:
            self.minutes.save((self.journal.epoch, self.journal.last_seq))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            if state == "running" and self.state == "idle" and self._request is None:
                self.done = 0  # a new run (a request has reset it already)
            self.state = state
        self._report()

    def _report(self) -> None:
        if self.state in ("running", "paused-midnight"):
            self.missing = len(self._missing(self.meter_time.now()))
        detail: dict[str, Any] = {
            "state": self.state,
            "missing": self.missing,
            "done": self.done,
            "nodata": self.ledger.nodata(),
            "unrecoverable": self.ledger.unrecoverable,
        }
        if self.request_id is not None:
            detail["request"] = self.request_id
        if self.minutes is not None:
            detail["minutes"] = self.minutes.detail()
        self.condition.detail(backfill=detail)
