"""The kWh a day, a half-hour and a month show are right, in the days that are hard to get right.

Every expected number comes from the history generator's own truth (the constant power of
each half-hour it wrote, scripts/benchmarks/energy_history.py), never from the code under
test: a day crossing the counter's wrap, a power cut, half-hours read back by the backfill,
JST midnight between two files, and a day the logger was off.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from scripts.benchmarks.energy_history import JST, History
from services.health.energy.book import EnergyBook
from services.health.energy.day import slots_in

D0 = date(2026, 3, 1)
TOL = 1e-6


def book_for(h: History, root: Path, now: datetime | None = None) -> EnergyBook:
    h.write(root / "csv")
    clock_at = (now or datetime.combine(h.start + timedelta(days=h.days + 1), datetime.min.time(),
                                        JST) + timedelta(hours=12)).timestamp()  # fmt: skip
    b = EnergyBook(JST, root / "data", root / "csv", clock=lambda: clock_at)
    b.first_build()
    return b


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=JST)


def test_a_day_crossing_the_counter_wrap(tmp_path):
    h = History(D0, 3, start_import_kwh=990.0)
    truth = h.day_truth(D0)
    assert truth.start_import / 1e4 + truth.total("import") > 1000  # it does cross 1000 kWh
    b = book_for(h, tmp_path)
    text = (tmp_path / "csv" / f"{D0:%Y%m%d}-smartmeter.csv").read_text()
    e0 = [float(r.split(",")[4]) for r in text.splitlines() if ",E0," in r]
    assert min(e0) < 50 and max(e0) > 990  # the CSV holds what the meter said: a drop
    e = b.energy(D0)
    assert e.totals["import"] == pytest.approx(truth.total("import"), abs=TOL)
    assert e.complete["import"]
    for got, want in zip(e.slots["import"], truth.slot_kwh("import"), strict=True):
        assert got == pytest.approx(want, abs=TOL)


def test_a_power_cut_leaves_gaps_and_the_total_keeps_the_energy_across_them(tmp_path):
    day = D0 + timedelta(days=1)
    h = History(D0, 3, cuts=[(at(day, 10, 7), at(day, 13, 22))])
    truth = h.day_truth(day)
    e = book_for(h, tmp_path).energy(day)
    gaps = [i for i, s in enumerate(e.sources) if s is None]
    # 10:07 → 13:22: the boundaries 10:30 … 13:00 are unknown, so 10:00–13:30 has no bars
    assert gaps == list(range(20, 27))
    assert all(e.slots["import"][i] is None for i in gaps)
    across = sum(truth.slot_kwh("import")[20:27])
    assert e.unplaced["import"] == pytest.approx(across, abs=TOL)
    assert e.totals["import"] == pytest.approx(truth.total("import"), abs=TOL)
    assert e.totals["export"] == pytest.approx(truth.total("export"), abs=TOL)
    assert e.complete["import"]


def test_backfilled_half_hours_fill_the_gaps_and_say_they_are_the_meters(tmp_path):
    day = D0 + timedelta(days=1)
    h = History(D0, 3, cuts=[(at(day, 10, 7), at(day, 13, 22))],
                backfilled=[(at(day, 10, 0), at(day, 14, 0))])  # fmt: skip
    truth = h.day_truth(day)
    e = book_for(h, tmp_path).energy(day)
    assert all(s is not None for s in e.sources)
    assert [i for i, s in enumerate(e.sources) if s == "meter"] == list(range(20, 27))
    for d in ("import", "export"):
        for got, want in zip(e.slots[d], truth.slot_kwh(d), strict=True):
            assert got == pytest.approx(want, abs=TOL)
        assert e.totals[d] == pytest.approx(truth.total(d), abs=TOL)
    assert e.unplaced["import"] == 0


def test_jst_midnight_splits_the_days_and_is_found_between_two_files(tmp_path):
    # Polls at :30 past each minute: no reading on the dot, midnight is interpolated between
    # 23:59:30 in one file and 00:00:30 in the next.  Constant power across each midnight
    # makes the true counter at midnight the interpolated one, so totals are exact.
    h = History(D0, 4, poll_offset=30)
    for a, b in zip(h.truth, h.truth[1:], strict=False):
        for t, slots in ((a, (46, 47)), (b, (0, 1))):
            for s in slots:
                t.import_wh_per_min[s], t.export_wh_per_min[s] = 12, 0
    h.recount()
    b = book_for(h, tmp_path)
    for day in (D0 + timedelta(days=1), D0 + timedelta(days=2)):
        e = b.energy(day)
        assert e.totals["import"] == pytest.approx(h.day_truth(day).total("import"), abs=TOL)
        assert e.slots["import"][0] == pytest.approx(12 * 30 / 1000, abs=TOL)
        assert e.complete["import"]
    # Japan has no daylight saving time: every day of the year has 48 half-hours.
    assert {slots_in(date(2026, 1, 1) + timedelta(days=n), JST) for n in range(365)} == {48}


def test_a_day_the_logger_was_off_is_a_gap_not_zero(tmp_path):
    off = D0 + timedelta(days=2)
    h = History(D0, 5, off_days={off})
    b = book_for(h, tmp_path)
    e = b.energy(off)
    assert e.totals == {"import": None, "export": None}
    assert all(s is None for s in e.sources)
    before, after = b.energy(off - timedelta(days=1)), b.energy(off + timedelta(days=1))
    # The day before lost its 24:00 value (the 00:00 reading would have been in the missing
    # file): its last half-hour is a gap, the rest is exact.
    t = h.day_truth(off - timedelta(days=1))
    assert before.sources[47] is None and not before.complete["import"]
    assert before.totals["import"] == pytest.approx(t.total("import") - t.slot_kwh("import")[47],
                                                    abs=TOL)  # fmt: skip
    t = h.day_truth(off + timedelta(days=1))
    assert after.totals["import"] == pytest.approx(t.total("import"), abs=TOL)
    assert after.complete["import"]
