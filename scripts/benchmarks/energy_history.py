"""Days of CSV history written directly, with the truth they were made from.

For the energy page's tests and the "page" benchmark: the files look as csv_rotator writes
them (``timestamp,unitid,epc,dataid,value``, local time with offset), a day's rows are E7
every 10 s, E8 R/T every 30 s, E0/E3 every 60 s (17,280 rows) plus D3/E1/D7 once, and
optionally EA/EB at every half-hour.  Each half-hour has a constant bought and sold power
(multiples of 60 W, so with E1 = 0.0001 kWh the counter is exact every 6 s), so the
energy of every half-hour is known here without any of the code under test: ``kwh[slot]``.

The counters wrap at 10^D7 raw units (D7 = 7, 1000 kWh), as a real meter's do.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
UNIT = Decimal("0.0001")  # E1 = 0x04
RAW_PER_WH = 10
DIGITS = 7  # D7: the raw counter wraps at 10^7 units = 1000 kWh
MODULUS = 10**DIGITS
UNITID = "smartmeter01"


def _v(raw: int) -> str:
    """A counter value as the radio writes it: raw × unit, shortest float text."""
    f = float(Decimal(raw % MODULUS) * UNIT)
    return str(int(f)) if f == int(f) else repr(f)


@dataclass
class DayTruth:
    day: date
    import_wh_per_min: list[int]  # per half-hour: Wh bought each minute (power / 60)
    export_wh_per_min: list[int]
    start_import: int = 0  # raw counters at 00:00 (not wrapped)
    start_export: int = 0

    def slot_kwh(self, direction: str) -> list[float]:
        per = self.import_wh_per_min if direction == "import" else self.export_wh_per_min
        return [w * 30 / 1000 for w in per]

    def total(self, direction: str) -> float:
        return sum(self.slot_kwh(direction))


@dataclass
class History:
    """``days`` consecutive days from ``start``; mutate the knobs, then :meth:`write`."""

    start: date
    days: int
    tz: ZoneInfo = JST
    seed: int = 19
    start_import_kwh: float = 123.0
    start_export_kwh: float = 45.0
    live_ea: bool = False  # the meter's half-hour values (EA/EB) as they happen
    poll_offset: int = 0  # seconds past the minute of each E0/E3 poll
    off_days: set[date] = field(default_factory=set)  # the logger off all day: no file
    cuts: list[tuple[datetime, datetime]] = field(default_factory=list)  # no rows in [a, b)
    backfilled: list[tuple[datetime, datetime]] = field(default_factory=list)  # EA/EB for
    # the half-hours starting in [a, b) appended at the end of the day's file, as the backfill
    # does after an outage
    truth: list[DayTruth] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for n in range(self.days):
            day = self.start + timedelta(days=n)
            bought, sold = [], []
            for slot in range(48):
                sun = 18 <= slot < 32  # 9:00–16:00
                bought.append(rng.randint(1, 40) if not sun else rng.randint(0, 8))
                sold.append(rng.randint(5, 50) if sun else 0)
            self.truth.append(DayTruth(day, bought, sold))
        self.recount()

    def recount(self) -> None:
        """The counters at each midnight, after a test changed some half-hours' power."""
        imp = round(self.start_import_kwh * 1000 * RAW_PER_WH)
        exp = round(self.start_export_kwh * 1000 * RAW_PER_WH)
        for t in self.truth:
            t.start_import, t.start_export = imp, exp
            imp += sum(b * 30 * RAW_PER_WH for b in t.import_wh_per_min)
            exp += sum(s * 30 * RAW_PER_WH for s in t.export_wh_per_min)

    def day_truth(self, day: date) -> DayTruth:
        return self.truth[(day - self.start).days]

    def counters_at(self, truth: DayTruth, second: int) -> tuple[int, int]:
        """Raw counters ``second`` seconds after the day's midnight (a multiple of 6)."""
        imp, exp = truth.start_import, truth.start_export
        full, rest = divmod(second, 1800)
        imp += sum(w * 30 * RAW_PER_WH for w in truth.import_wh_per_min[:full])
        exp += sum(w * 30 * RAW_PER_WH for w in truth.export_wh_per_min[:full])
        if full < 48:
            imp += truth.import_wh_per_min[full] * RAW_PER_WH * rest // 60
            exp += truth.export_wh_per_min[full] * RAW_PER_WH * rest // 60
        return imp, exp

    def _cut(self, t: datetime) -> bool:
        return any(a <= t < b for a, b in self.cuts)

    def day_text(self, truth: DayTruth) -> str:
        tz = self.tz
        base = datetime.combine(truth.day, time(0), tz)
        rows = ["timestamp,unitid,epc,dataid,value\n"]
        add = rows.append
        for s in range(0, 86400, 10):
            t = base + timedelta(seconds=s)
            if self.cuts and self._cut(t):
                continue
            ts = t.isoformat(timespec="seconds")
            minute, sec = divmod(s, 60)
            slot = minute // 30
            watts = (truth.import_wh_per_min[slot] - truth.export_wh_per_min[slot]) * 60
            add(f"{ts},{UNITID},E7,,{watts}\n")
            if s == 10:
                add(f"{ts},{UNITID},D3,,1\n{ts},{UNITID},E1,,0.0001\n{ts},{UNITID},D7,,{DIGITS}\n")
            if sec == 0 and self.live_ea and minute % 30 == 0:
                imp, exp = self.counters_at(truth, s)
                add(f"{ts},{UNITID},EA,,{_v(imp)}\n{ts},{UNITID},EB,,{_v(exp)}\n")
            if sec == self.poll_offset:
                imp, exp = self.counters_at(truth, s)
                add(f"{ts},{UNITID},E0,,{_v(imp)}\n{ts},{UNITID},E3,,{_v(exp)}\n")
            if sec % 30 == 0:
                amps = abs(watts) / 100
                add(f"{ts},{UNITID},E8,R,{amps:g}\n{ts},{UNITID},E8,T,{amps / 2:g}\n")
        for a, b in self.backfilled:
            for slot in range(48):
                t = base + timedelta(minutes=30 * slot)
                if a <= t < b:
                    imp, exp = self.counters_at(truth, 1800 * slot)
                    ts = t.isoformat(timespec="seconds")
                    rows.append(f"{ts},{UNITID},EA,,{_v(imp)}\n{ts},{UNITID},EB,,{_v(exp)}\n")
        return "".join(rows)

    def write(self, directory: Path, gzip_before: date | None = None) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for truth in self.truth:
            if truth.day in self.off_days:
                continue
            name = directory / f"{truth.day:%Y%m%d}-smartmeter.csv"
            text = self.day_text(truth).encode()
            if gzip_before is not None and truth.day < gzip_before:
                name = name.with_name(name.name + ".gz")
                name.write_bytes(gzip.compress(text, compresslevel=6))
            else:
                name.write_bytes(text)
            out.append(name)
        return out
