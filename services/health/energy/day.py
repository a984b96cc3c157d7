"""One day of a counter, boiled down to its half-hour boundaries, and the energy between them.

A day is read once (from its CSV file, or from the bus for today) into a :class:`DayRecord`:
for each direction (bought = E0/EA, sold = E3/EB) the counter's value at every half-hour
boundary of the local day where it can be told, plus the day's first and last counter reading.

- The meter's own half-hour value (EA/EB, live or read back by the backfill) is the counter at
  that boundary, exactly; it wins.
- Otherwise the counter is interpolated between the E0/E3 readings on either side of the
  boundary, when they are at most ``MAX_BRACKET`` apart; a longer silence (the logger off, a
  power cut) leaves the boundary unknown.

A half-hour's energy is the counter at its end minus the counter at its start (wrap-aware,
:mod:`common.energy`); it is ``meter`` when both ends are EA/EB, ``counter`` otherwise, and a
gap when either end is unknown.  Midnight belongs to both days: it comes from the next day's
00:00 EA, or is interpolated between the last reading of one day and the first of the next,
so a day needs its neighbours' records (not their files) to be resolved.

A day's total is the sum of its half-hours plus, for each run of gaps whose two ends are
known, the energy across the run (the counter knows it, the half-hours cannot place it).
"""

from __future__ import annotations

import bisect
import math
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from common.echonet import Scaling
from common.energy import kwh_between, scaling_from_values, wrap_kwh

SLOT = 1800  # seconds in a half-hour
MAX_BRACKET = 1800.0  # two readings further apart than this say nothing about the time between
DIRECTIONS = {"import": ("E0", "EA"), "export": ("E3", "EB")}
COUNTER_EPC = {"E0": "E0", "E3": "E3", "EA": "E0", "EB": "E3"}  # the counter each reads
SCALING_EPCS = ("D3", "E1", "D7")
RELEVANT = frozenset({"E0", "E3", "EA", "EB", *SCALING_EPCS})


def midnight(day: date, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tz).timestamp()


def slots_in(day: date, tz: ZoneInfo) -> int:
    """48 in JST; a day with a DST change elsewhere has 46 or 50."""
    return round((midnight(day + timedelta(days=1), tz) - midnight(day, tz)) / SLOT)


class Counter:
    """One direction of one day: the counter at each boundary, and the day's edge readings.

    The boundaries are kept in an ``array('d')`` with NaN for unknown: a year of days is
    365 × 2 × 48 values, 4x smaller than lists of float objects (the benchmark's PSS).
    """

    __slots__ = ("_values", "first", "fixed", "last")

    def __init__(self, bounds: list[float | None], fixed: int = 0,
                 first: tuple[float, float] | None = None,
                 last: tuple[float, float] | None = None) -> None:  # fmt: skip
        self._values = array("d", (math.nan if v is None else v for v in bounds))
        self.fixed = fixed  # bit b set: boundary b is the meter's own half-hour value (EA/EB)
        self.first = first  # (unix time, kWh) of the day's first E0/E3
        self.last = last

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, b: int) -> float | None:
        v = self._values[b]
        return None if math.isnan(v) else v

    def __setitem__(self, b: int, value: float | None) -> None:
        self._values[b] = math.nan if value is None else value

    @property
    def bounds(self) -> list[float | None]:
        """The counter (kWh) at the start of each half-hour of the day; None: unknown."""
        return [None if math.isnan(v) else v for v in self._values]

    def is_fixed(self, b: int) -> bool:
        return bool(self.fixed >> b & 1)

    def set_fixed(self, b: int, value: float) -> None:
        self[b] = value
        self.fixed |= 1 << b


@dataclass
class DayRecord:
    day: date
    start: float  # unix time of local midnight
    counters: dict[str, Counter]
    scaling: tuple[float, float, float] | None = None  # D3, E1, D7 as read; None: not seen
    readings: int = 0  # energy readings this record was made from
    source: list = field(default_factory=list)  # what it was read from (file signatures)

    @property
    def slots(self) -> int:
        return len(self.counters["import"])

    def scale(self, fallback: Scaling) -> Scaling:
        if self.scaling is None:
            return fallback
        return scaling_from_values(*self.scaling)


def _interpolate(epc: int, a: tuple[float, float], b: tuple[float, float], at: float,
                 scaling: Scaling) -> float | None:  # fmt: skip
    """The counter at ``at`` between readings ``a`` and ``b`` (wrap-aware)."""
    if at == a[0]:
        return a[1]
    if at == b[0]:
        return b[1]
    if b[0] - a[0] > MAX_BRACKET:
        return None
    delta = kwh_between(epc, a[1], b[1], scaling)
    if delta is None:
        return None
    value = a[1] + delta * (at - a[0]) / (b[0] - a[0])
    top = wrap_kwh(scaling)
    return value - top if top is not None and value >= top else value


def build(day: date, tz: ZoneInfo, rows: list[tuple[str, float, float]],
          scaling: Scaling) -> DayRecord:  # fmt: skip
    """A record from ``rows`` of ``(epc, unix time, value)`` (any order, duplicates allowed)."""
    start = midnight(day, tz)
    n = slots_in(day, tz)
    seen: dict[str, float] = {}
    series: dict[str, dict[float, float]] = {e: {} for e in ("E0", "E3", "EA", "EB")}
    for epc, t, value in rows:
        if epc in series:
            series[epc][t] = value
        elif epc in SCALING_EPCS:
            seen[epc] = value
    scale_seen = None
    if seen:
        scale_seen = (seen.get("D3", 0.0), seen.get("E1", 0.0), seen.get("D7", 0.0))
        scaling = scaling_from_values(*scale_seen) if len(seen) == 3 else scaling
    counters = {}
    for direction, (counter_epc, fixed_epc) in DIRECTIONS.items():
        c = Counter([None] * n)
        points = sorted(series[counter_epc].items())
        if points:
            c.first, c.last = points[0], points[-1]
            times = [p[0] for p in points]
            for b in range(n):
                at = start + b * SLOT
                i = bisect.bisect_right(times, at)  # points[i-1] <= at < points[i]
                if i > 0 and points[i - 1][0] == at:
                    c[b] = points[i - 1][1]
                elif 0 < i < len(points):
                    c[b] = _interpolate(
                        COUNTER_EPC[counter_epc], points[i - 1], points[i], at, scaling
                    )
        for t, value in series[fixed_epc].items():
            b = round((t - start) / SLOT)
            if 0 <= b < n and abs(t - (start + b * SLOT)) < 60:
                c.set_fixed(b, value)
        counters[direction] = c
    count = sum(len(s) for s in series.values())
    return DayRecord(day, start, counters, scale_seen, count)


@dataclass(frozen=True)
class DayEnergy:
    """A resolved day: what the page and the API show."""

    day: date
    slots: dict[str, list[float | None]]  # direction -> kWh per half-hour (None: gap)
    sources: list[str | None]  # per half-hour: "meter" (EA/EB at both ends), "counter", None
    totals: dict[str, float | None]  # direction -> kWh for the day (None: no data at all)
    unplaced: dict[str, float]  # direction -> kWh across gaps, in the total, in no bar
    complete: dict[str, bool]  # direction -> the total covers the whole day
    ended: int  # half-hours that have ended (all of a past day; today's up to now)
    current: int | None = None  # today: the half-hour in progress, its bar so far


@dataclass(frozen=True, slots=True)
class DayTotals:
    """What the daily and monthly views need of a day (kept for every closed day)."""

    day: date
    import_kwh: float | None
    export_kwh: float | None
    complete: bool  # both totals cover the whole day
    gaps: int  # half-hours without a bar

    @classmethod
    def of(cls, e: DayEnergy) -> DayTotals:
        return cls(e.day, e.totals["import"], e.totals["export"],
                   e.complete["import"] and e.complete["export"],
                   sum(1 for s in e.sources[: e.ended] if s is None))  # fmt: skip


def _midnight_value(direction: str, before: DayRecord | None, after: DayRecord | None,
                    scaling: Scaling) -> tuple[float | None, bool]:  # fmt: skip
    """The counter at the midnight between ``before`` and ``after`` (either may be None)."""
    if after is not None and after.counters[direction][0] is not None:
        c = after.counters[direction]  # EA/EB at 00:00, or an E0/E3 read on the dot
        return c[0], c.is_fixed(0)
    if before is None or after is None:
        return None, False
    a, b = before.counters[direction].last, after.counters[direction].first
    if a is None or b is None:
        return None, False
    epc = COUNTER_EPC[DIRECTIONS[direction][0]]
    return _interpolate(epc, a, b, after.start, scaling), False


def resolve(record: DayRecord | None, before: DayRecord | None, after: DayRecord | None,
            day: date, tz: ZoneInfo, fallback: Scaling,
            now: float | None = None) -> DayEnergy:  # fmt: skip
    """Half-hour energies and totals for ``record``'s day, given the neighbouring days'
    records.  ``now`` (for today): the counter's last reading counts, later slots are empty."""
    n = record.slots if record else slots_in(day, tz)
    if record is None:
        empty: list[float | None] = [None] * n
        return DayEnergy(day, {d: list(empty) for d in DIRECTIONS}, list(empty),
                         {d: None for d in DIRECTIONS}, {d: 0.0 for d in DIRECTIONS},
                         {d: False for d in DIRECTIONS}, _ended(day, tz, n, now))  # fmt: skip
    scaling = record.scale(fallback)
    slots: dict[str, list[float | None]] = {}
    sources: list[str | None] = [None] * n
    totals: dict[str, float | None] = {}
    unplaced: dict[str, float] = {}
    complete: dict[str, bool] = {}
    current = None
    for direction in DIRECTIONS:
        epc = COUNTER_EPC[DIRECTIONS[direction][0]]
        c = record.counters[direction]
        bounds = list(c.bounds)
        fixed = [c.is_fixed(b) for b in range(n)]
        head, head_fixed = _midnight_value(direction, before, record, scaling)
        if bounds[0] is None or (head_fixed and not fixed[0]):
            bounds[0], fixed[0] = head, head_fixed
        tail, tail_fixed = _midnight_value(direction, record, after, scaling)
        bounds.append(tail)
        fixed.append(tail_fixed)
        energy: list[float | None] = [None] * n
        for b in range(n):
            x, y = bounds[b], bounds[b + 1]
            if x is not None and y is not None:
                energy[b] = kwh_between(epc, x, y, scaling)
                if energy[b] is not None:
                    kind = "meter" if fixed[b] and fixed[b + 1] else "counter"
                    sources[b] = "counter" if sources[b] == "counter" else kind
        placed = sum(e for e in energy if e is not None)
        across = 0.0
        whole = bounds[0] is not None and bounds[n] is not None
        b = 0
        while b < n:
            if energy[b] is not None:
                b += 1
                continue
            end = b
            while end < n and energy[end] is None:
                end += 1
            x, y = bounds[b], bounds[end]
            run = kwh_between(epc, x, y, scaling) if x is not None and y is not None else None
            if run is None:
                whole = False
            else:
                across += run
            b = end
        if now is not None and c.last is not None:
            # today: the energy from the last known boundary to the latest reading; no
            # half-hour from k on is known yet (none has ended with a reading after it)
            k = max((i for i in range(n) if bounds[i] is not None and record.start + i * SLOT
                     <= c.last[0]), default=None)  # fmt: skip
            if k is not None:
                so_far = kwh_between(epc, bounds[k], c.last[1], scaling)  # type: ignore[arg-type]
                in_slot = c.last[0] < record.start + (k + 1) * SLOT
                if in_slot and energy[k] is None and so_far is not None:
                    energy[k], current = so_far, k  # the half-hour in progress, so far
                    sources[k] = sources[k] or "counter"
                    placed += so_far
                else:  # readings stopped earlier: known, but not placeable
                    across += so_far or 0.0
        has_data = c.first is not None or c.fixed != 0
        slots[direction] = energy
        totals[direction] = placed + across if has_data else None
        unplaced[direction] = across
        complete[direction] = has_data and whole
    return DayEnergy(day, slots, sources, totals, unplaced, complete,
                     _ended(day, tz, n, now), current)  # fmt: skip


def _ended(day: date, tz: ZoneInfo, n: int, now: float | None) -> int:
    if now is None:
        return n
    return max(0, min(n, int((now - midnight(day, tz)) // SLOT)))
