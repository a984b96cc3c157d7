"""The day cache: a closed day is read once, survives a restart, and changes only when its
data does (a backfill on the bus, a file that grew); today comes from the bus; with CSV off
the journal's replay is the source."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from common.reading import Reading
from scripts.benchmarks.energy_history import JST, History
from services.health.energy.book import EnergyBook
from services.health.energy.cache import FILE_NAME

D0 = date(2026, 5, 1)
NOW = datetime(2026, 5, 8, 12, 0, tzinfo=JST)  # history of May 1–7, today is the 8th
TOL = 1e-6


def make(root: Path, csv: bool = True, now: datetime = NOW) -> EnergyBook:
    return EnergyBook(JST, root / "data", root / "csv" if csv else None,
                      clock=lambda: now.timestamp())  # fmt: skip


def reading(seq: int, when: datetime, epc: str, value: float, source: str = "poll") -> Reading:
    return Reading(seq, "e1", when.isoformat(), "smartmeter01", epc, "", value, source)


def test_a_restart_reads_no_csv_and_a_changed_file_is_read_again(tmp_path):
    h = History(D0, 7)
    h.write(tmp_path / "csv", gzip_before=D0 + timedelta(days=3))  # old days gzipped
    first = make(tmp_path)
    first.first_build()
    assert first.built_days == 7
    cache = tmp_path / "data" / FILE_NAME
    lines = cache.read_text().splitlines()
    assert json.loads(lines[0])["version"] == 1 and len(lines) == 8
    second = make(tmp_path)
    second.first_build()
    assert second.built_days == 0
    for n in range(6):  # the 7th's 24:00 is in today's (empty) file
        day = D0 + timedelta(days=n)
        assert second.totals(day)["import"] == pytest.approx(h.day_truth(day).total("import"),
                                                             abs=TOL)  # fmt: skip
    # A day's file grows (rows written late): that day alone is read again at start.
    (tmp_path / "csv" / "20260506-smartmeter.csv").open("a").write(
        "2026-05-06T23:59:59+09:00,smartmeter01,E7,,100\n"
    )
    third = make(tmp_path)
    third.first_build()
    assert third.built_days == 1


def test_a_cache_of_another_version_or_torn_is_rebuilt_not_believed(tmp_path):
    h = History(D0, 7)
    h.write(tmp_path / "csv")
    make(tmp_path).first_build()
    cache = tmp_path / "data" / FILE_NAME
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    torn = make(tmp_path)
    torn.first_build()
    assert torn.built_days == 1  # the torn day only
    head = json.loads(lines[0]) | {"version": 99}
    cache.write_text(json.dumps(head) + "\n" + "\n".join(lines[1:]) + "\n")
    other = make(tmp_path)
    other.first_build()
    assert other.built_days == 7


def test_a_backfilled_half_hour_on_the_bus_fills_a_closed_day_and_is_saved(tmp_path):
    day = D0 + timedelta(days=3)
    cut = (datetime(2026, 5, 4, 10, 7, tzinfo=JST), datetime(2026, 5, 4, 11, 22, tzinfo=JST))
    h = History(D0, 7, cuts=[cut])
    h.write(tmp_path / "csv")
    b = make(tmp_path)
    b.first_build()
    assert [i for i, s in enumerate(b.energy(day).sources) if s is None] == [20, 21, 22]
    truth = h.day_truth(day)
    for n, slot in enumerate((21, 22)):  # the backfill reads 10:30 and 11:00 back
        imp, exp = h.counters_at(truth, slot * 1800)
        when = datetime(2026, 5, 4, 10, 30, tzinfo=JST) + timedelta(minutes=30 * n)
        b.on_reading(reading(10 + 2 * n, when, "EA", imp / 1e4, "backfill"))
        b.on_reading(reading(11 + 2 * n, when, "EB", exp / 1e4, "backfill"))
    e = b.energy(day)
    assert e.sources[20:23] == ["counter", "meter", "counter"]
    for i in (20, 21, 22):
        assert e.slots["import"][i] == pytest.approx(truth.slot_kwh("import")[i], abs=TOL)
    size = (tmp_path / "data" / FILE_NAME).stat().st_size
    b.maintain()
    assert (tmp_path / "data" / FILE_NAME).stat().st_size > size  # one line appended
    again = make(tmp_path)
    again.first_build()
    # the CSV file did not change, so the cached (merged) record is kept
    assert again.energy(day).sources[21] == "meter"


def test_today_comes_from_the_bus_and_counts_up_to_the_last_reading(tmp_path):
    h = History(D0, 7)
    h.write(tmp_path / "csv")
    b = make(tmp_path)
    b.first_build()
    today = NOW.date()
    base = datetime(2026, 5, 8, tzinfo=JST)
    start = h.counters_at(h.truth[-1], 86400)[0]  # the counter at midnight
    watts = 1200  # 20 Wh a minute
    for m in range(0, 11 * 60 + 46, 1):  # up to 11:45
        raw = start + 20 * 10 * m
        b.on_reading(reading(m, base + timedelta(minutes=m), "E0", raw / 1e4))
    assert b.totals(today)["import"] == pytest.approx(11.75 * watts / 1000, abs=TOL)
    e = b.energy(today)
    assert e.sources[:24] == ["counter"] * 24 and e.sources[24:] == [None] * 24
    assert e.current == 23  # 11:30-12:00, in progress: its 15 minutes so far
    assert e.slots["import"][23] == pytest.approx(15 * 20 / 1000, abs=TOL)
    for m in range(11 * 60 + 46, 12 * 60 + 1, 1):
        raw = start + 20 * 10 * m
        b.on_reading(reading(m, base + timedelta(minutes=m), "E0", raw / 1e4))
    assert b.totals(today)["import"] == pytest.approx(12 * watts / 1000, abs=TOL)
    # and yesterday's last half-hour is closed by today's 00:00 reading
    yesterday = b.energy(today - timedelta(days=1))
    assert yesterday.complete["import"]
    assert yesterday.totals["import"] == pytest.approx(h.truth[-1].total("import"), abs=TOL)


def test_with_csv_off_the_days_come_from_the_journals_replay(tmp_path):
    h = History(D0, 3)
    h.write(tmp_path / "replay")  # what the journal holds, sent as readings
    b = make(tmp_path, csv=False, now=datetime(2026, 5, 4, 12, 0, tzinfo=JST))
    b.first_build()
    seq = 0
    for path in sorted((tmp_path / "replay").iterdir()):
        for row in path.read_text().splitlines()[1:]:
            ts, unit, epc, dataid, value = row.split(",")
            seq += 1
            b.on_reading(Reading(seq, "e1", ts, unit, epc, dataid, float(value)))
    b.maintain()
    for n in range(2):  # the last day's 24:00 is the next (absent) day's: compare the first two
        day = D0 + timedelta(days=n)
        assert b.totals(day)["import"] == pytest.approx(h.day_truth(day).total("import"), abs=TOL)
    cache = tmp_path / "data" / FILE_NAME
    lines = cache.read_text().splitlines()
    restarted = make(tmp_path, csv=False, now=datetime(2026, 5, 4, 12, 0, tzinfo=JST))
    restarted.first_build()
    seq = 0
    for path in sorted((tmp_path / "replay").iterdir())[:1]:  # the journal replays a day again
        for row in path.read_text().splitlines()[1:]:
            ts, unit, epc, dataid, value = row.split(",")
            seq += 1
            restarted.on_reading(Reading(seq, "e2", ts, unit, epc, dataid, float(value)))
    restarted.maintain()
    assert cache.read_text().splitlines() == lines  # nothing new: nothing written
    assert restarted.totals(D0)["import"] == pytest.approx(h.day_truth(D0).total("import"),
                                                           abs=TOL)  # fmt: skip


def test_at_midnight_today_becomes_a_closed_day_read_once_from_its_file(tmp_path):
    h = History(D0, 8)  # May 1–8; the 8th is "today" until the clock moves
    h.write(tmp_path / "csv")
    clock = {"now": datetime(2026, 5, 8, 23, 59, tzinfo=JST).timestamp()}
    b = EnergyBook(JST, tmp_path / "data", tmp_path / "csv", clock=lambda: clock["now"])
    b.first_build()
    today = date(2026, 5, 8)
    assert today in b.live and today not in b.records
    lines = (tmp_path / "data" / FILE_NAME).read_text().splitlines()
    clock["now"] = datetime(2026, 5, 9, 0, 5, tzinfo=JST).timestamp()
    assert today in b.live  # not yet: the CSV writer may still flush the last rows
    b.maintain()
    assert today in b.live
    clock["now"] = datetime(2026, 5, 9, 0, 11, tzinfo=JST).timestamp()
    assert b._next_wait() == 1.0  # a day to close: at once
    b.maintain()
    assert today not in b.live and today in b.records
    after = (tmp_path / "data" / FILE_NAME).read_text().splitlines()
    assert len(after) == len(lines) + 1  # one line for the closed day, nothing else
    # the 8th's 24:00 is in the 9th's file, which does not exist: its last half-hour is a gap
    truth = h.day_truth(today)
    assert b.totals(today)["import"] == pytest.approx(
        truth.total("import") - truth.slot_kwh("import")[47], abs=TOL
    )
    b.maintain()
    assert (tmp_path / "data" / FILE_NAME).read_text().splitlines() == after


def test_a_data_dir_that_cannot_be_written_costs_the_cache_not_the_page(tmp_path):
    h = History(D0, 3)
    h.write(tmp_path / "csv")
    (tmp_path / "data").write_text("a file where the data directory should be")
    b = make(tmp_path)
    b.first_build()
    assert b.save_failed and not b.building
    assert b.totals(D0)["import"] == pytest.approx(h.day_truth(D0).total("import"), abs=TOL)
