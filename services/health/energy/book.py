"""The energy book: every day's record, kept current from the bus, cached across restarts.

- **Closed days** (before yesterday, and yesterday once ``CLOSE_DELAY`` past midnight has
  let the CSV writer flush its last rows) are read once from their CSV files into records
  and appended to the day cache (:mod:`cache`); at start only the days whose files changed
  since (a signature of name, size and mtime) are read again.
- **Open days** (today, and yesterday just after midnight) are kept as their raw energy
  readings: today's CSV file at start, then every reading from the bus (health already
  subscribes to them, with the journal's replay behind it), so a view is never a file read.
- An EA/EB reading for a closed day (the backfill reading back half-hours after an outage)
  is merged into that day's record at once and the record is appended to the cache within
  ``SAVE_DELAY``.
- With CSV off, the bus is the only source: closed days come from what the journal replays
  (a record is replaced only by one built from more readings).

A view resolves records (:func:`day.resolve`); closed days are resolved once and remembered.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from common.echonet import Scaling
from common.energy import scaling_from_values
from common.reading import Reading
from services.health.energy import csv_files
from services.health.energy.cache import DayCache
from services.health.energy.day import (
    DIRECTIONS,
    RELEVANT,
    SCALING_EPCS,
    DayEnergy,
    DayRecord,
    DayTotals,
    build,
    resolve,
)

log = logging.getLogger("health.energy")

CLOSE_DELAY = 600.0  # seconds after midnight before yesterday's file is taken as final
MAX_WAIT = 3600.0
SAVE_DELAY = 60.0  # merged backfill readings are saved at most this often
WARM_DAYS = 400  # days resolved before the book says it is ready
BATCH = 31  # days per cache append during the first build (a kill keeps what is done)


class EnergyBook:
    def __init__(self, tz: ZoneInfo, data_dir: Path, csv_dir: Path | None,
                 clock=time.time) -> None:  # fmt: skip
        self.tz = tz
        self.csv_dir = csv_dir
        self.cache = DayCache(data_dir, str(tz))
        self.clock = clock
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.records: dict[date, DayRecord] = {}
        self.live: dict[date, dict[tuple[str, float], float]] = {}
        self.late: dict[date, dict[tuple[str, float], float]] = {}  # CSV off: replayed days
        self.early: list[Reading] = []  # arrived while the first build ran
        self.unsaved: set[date] = set()
        self.scaling_values: dict[str, float] = {}
        self.building = True
        self.built_days = 0
        self.build_seconds: float | None = None
        self._resolved: dict[date, DayTotals] = {}  # closed days whose neighbours are too
        self._live_records: dict[date, tuple[int, DayRecord]] = {}
        self._live_version: dict[date, int] = {}
        self._stopped = False
        self.save_failed = False

    # --- time -------------------------------------------------------------------------------
    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.tz).date()

    def first_open_day(self) -> date:
        now = datetime.fromtimestamp(self.clock(), self.tz)
        since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = now.date()
        return today - timedelta(days=1) if since_midnight.total_seconds() < CLOSE_DELAY else today

    def fallback_scaling(self) -> Scaling:
        v = self.scaling_values
        if len(v) < 3:
            return Scaling()
        return scaling_from_values(v.get("D3"), v.get("E1"), v.get("D7"))

    # --- readings from the bus ------------------------------------------------------------
    def on_reading(self, r: Reading) -> None:
        if r.epc not in RELEVANT:
            return
        with self.lock:
            if self.building:
                self.early.append(r)
                return
            self._take(r)

    def _take(self, r: Reading) -> None:
        when = r.time
        if r.epc in SCALING_EPCS:
            self.scaling_values[r.epc] = r.value
        day = when.astimezone(self.tz).date()
        t = when.timestamp()
        if day >= self.first_open_day():
            self.live.setdefault(day, {})[r.epc, t] = r.value
            self._live_version[day] = self._live_version.get(day, 0) + 1
            return
        record = self.records.get(day)
        if r.epc in ("EA", "EB") and record is not None:
            direction = "import" if r.epc == "EA" else "export"
            b = round((t - record.start) / 1800)
            c = record.counters[direction]
            if 0 <= b < record.slots and not (c.is_fixed(b) and c[b] == r.value):
                c.set_fixed(b, r.value)
                self._changed(day)
                self.unsaved.add(day)
                self.wake.notify()
        elif self.csv_dir is None or record is None:
            self.late.setdefault(day, {})[r.epc, t] = r.value
            self.wake.notify()

    def _changed(self, day: date) -> None:
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            self._resolved.pop(d, None)

    # --- the background work ----------------------------------------------------------------
    def start(self, stop: threading.Event) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(stop,), name="energy", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        with self.lock:
            self._stopped = True
            self.wake.notify()

    def run(self, stop: threading.Event) -> None:
        try:
            self.first_build()
        except Exception:  # a bug must not leave the page saying "reading…" for good
            log.exception("energy: the first read of the CSV files failed")
            with self.lock:
                self.building = False
        while not stop.is_set():
            with self.lock:
                if self._stopped:
                    return
                self.wake.wait(self._next_wait())
            if stop.is_set():
                return
            try:
                self.maintain()
            except Exception:  # the next wake tries again; the HTTP side is unaffected
                log.exception("energy: keeping the days current failed")

    def _next_wait(self) -> float:
        now = self.clock()
        today = self.today()
        close_at = datetime.combine(today + timedelta(days=1), datetime.min.time(), self.tz)
        wait = close_at.timestamp() + CLOSE_DELAY - now
        if min(self.live, default=today) < self.first_open_day():
            wait = 0.0
        elif self.first_open_day() < today:  # yesterday closes CLOSE_DELAY after midnight
            wait = min(wait, datetime.combine(today, datetime.min.time(), self.tz).timestamp()
                       + CLOSE_DELAY - now)  # fmt: skip
        if self.unsaved or self.late:
            wait = min(wait, SAVE_DELAY)
        # At most an hour: a Pi has no RTC, and a clock set by NTP after the wait was computed
        # must not keep a day open for a day.
        return max(1.0, min(wait, MAX_WAIT))

    def first_build(self) -> None:
        t0 = time.perf_counter()
        records = self.cache.load()
        with self.lock:
            self.records = records
        self.scan()
        # Resolve what the page shows first (13 months of days), so the first view after a
        # start costs what any view costs.
        today = self.today()
        for n in range(WARM_DAYS):
            self.day_totals(today - timedelta(days=n + 2))
        with self.lock:
            self.building = False
            early, self.early = self.early, []
            for r in early:
                self._take(r)
            self.build_seconds = time.perf_counter() - t0
        log.info("energy: %d days ready in %.1f s (%d read from CSV)", len(self.records),
                 self.build_seconds, self.built_days)  # fmt: skip

    def scan(self) -> None:
        """Read every closed day whose files changed; load the open days' files."""
        if self.csv_dir is None:
            return
        files = csv_files.list_days(self.csv_dir)
        open_from = self.first_open_day()
        todo: list[DayRecord] = []
        for day in sorted(files):
            sig = csv_files.signature(files[day])
            if day >= open_from:
                rows = csv_files.energy_rows(files[day])
                with self.lock:
                    live = self.live.setdefault(day, {})
                    for epc, t, value in rows:
                        live.setdefault((epc, t), value)
                    self._note_scaling(rows)
                    self._live_version[day] = self._live_version.get(day, 0) + 1
                continue
            known = self.records.get(day)
            if known is not None and [tuple(s) for s in known.source] == sig:
                continue
            record = self._from_files(day, files[day], sig)
            todo.append(record)
            with self.lock:
                self.records[day] = record
                self._changed(day)
            self.built_days += 1
            if len(todo) >= BATCH:
                self._save(todo)
                todo = []
        self._save(todo)

    def _save(self, records: list[DayRecord]) -> None:
        """Append to the day cache; a cache that cannot be written costs speed at the next
        start (the days are read from CSV again), never the page."""
        try:
            self.cache.append(records)
        except OSError as exc:
            if not self.save_failed:
                log.error("cannot write the energy day cache %s (%s); the days are kept in "
                          "memory and read from CSV again at the next start",
                          self.cache.path, exc.strerror or exc)  # fmt: skip
            self.save_failed = True
        else:
            self.save_failed = False

    def _note_scaling(self, rows: list[tuple[str, float, float]]) -> None:
        for epc, _, value in rows:
            if epc in SCALING_EPCS:
                self.scaling_values[epc] = value

    def _from_files(self, day: date, paths: list[Path], sig: list) -> DayRecord:
        rows = csv_files.energy_rows(paths)
        with self.lock:
            self._note_scaling(rows)
            fallback = self.fallback_scaling()
        record = build(day, self.tz, rows, fallback)
        record.source = sig
        return record

    def maintain(self) -> None:
        """Close the days that ended, save merged backfills, take replayed days (CSV off)."""
        open_from = self.first_open_day()
        with self.lock:
            closing = sorted(d for d in self.live if d < open_from)
            late, self.late = self.late, {}
        save: list[DayRecord] = []
        if closing and self.csv_dir is not None:
            self.scan()  # the closed days' files, and any file copied in meanwhile
        for day in closing:
            with self.lock:
                rows = self.live.pop(day, {})
                self._live_records.pop(day, None)
                if self.csv_dir is None or day not in self.records:
                    late.setdefault(day, {}).update(rows)
        for day, rows in sorted(late.items()):
            with self.lock:
                fallback = self.fallback_scaling()
            record = build(day, self.tz, [(e, t, v) for (e, t), v in rows.items()], fallback)
            with self.lock:
                old = self.records.get(day)
                # a replay after a restart brings the same day again: keep what is saved
                # unless this one knows more
                if old is None or record.readings > old.readings:
                    self.records[day] = record
                    self._changed(day)
                    self.unsaved.add(day)
        with self.lock:
            save = [self.records[d] for d in sorted(self.unsaved) if d in self.records]
            self.unsaved.clear()
        self._save(save)

    # --- views ----------------------------------------------------------------------------
    def _record(self, day: date) -> DayRecord | None:
        rows = self.live.get(day)
        if rows is None:
            return self.records.get(day)
        version = self._live_version.get(day, 0)
        memo = self._live_records.get(day)
        if memo is None or memo[0] != version:
            record = build(day, self.tz, [(e, t, v) for (e, t), v in rows.items()],
                           self.fallback_scaling())  # fmt: skip
            self._live_records[day] = (version, record)
            return record
        return memo[1]

    def energy(self, day: date) -> DayEnergy:
        """The day's half-hours and totals (resolved now: a few hundred µs)."""
        with self.lock:
            return self._energy(day)

    def _energy(self, day: date) -> DayEnergy:
        before, after = day - timedelta(days=1), day + timedelta(days=1)
        now = self.clock() if day == self.today() else None
        return resolve(self._record(day), self._record(before),
                       None if now is not None else self._record(after),
                       day, self.tz, self.fallback_scaling(), now)  # fmt: skip

    def day_totals(self, day: date) -> DayTotals:
        """The day's totals; remembered once the day and both its neighbours are closed."""
        with self.lock:
            memo = self._resolved.get(day)
            if memo is not None:
                return memo
            result = DayTotals.of(self._energy(day))
            if day + timedelta(days=1) < self.first_open_day():
                self._resolved[day] = result
            return result

    def totals(self, day: date) -> dict[str, float | None]:
        t = self.day_totals(day)
        return {"import": t.import_kwh, "export": t.export_kwh}

    def days_with_records(self) -> list[date]:
        with self.lock:
            return sorted(set(self.records) | set(self.live))


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def month_totals(book: EnergyBook, month: date, until: date) -> dict:
    """Sum of the month's days up to ``until`` (today for this month)."""
    out: dict[str, float | None] = {d: None for d in DIRECTIONS}
    days = with_data = 0
    day = month
    end = min(next_month(month), until + timedelta(days=1))
    while day < end:
        days += 1
        totals = book.totals(day)
        if any(v is not None for v in totals.values()):
            with_data += 1
        for d, v in totals.items():
            if v is not None:
                out[d] = (out[d] or 0.0) + v
        day += timedelta(days=1)
    return {"totals": out, "days": days, "days_with_data": with_data}
