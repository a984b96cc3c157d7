"""The CSV day files' names, as csv_rotator writes them and health and the radio read them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from common.day_files import day_of, file_name
from services.csv_rotator.housekeeping import tidy


@given(st.dates(min_value=date(1000, 1, 1)))
def test_a_day_and_its_file_name_go_both_ways(day: date):
    assert day_of(file_name(day)) == day
    assert day_of(file_name(day) + ".gz") == day


@given(st.text())
def test_any_other_name_is_no_day(name: str):
    day = day_of(name)
    assert day is None or name in (file_name(day), file_name(day) + ".gz")


def test_not_a_day_file():
    for name in ("20261301-smartmeter.csv", "20261207-smartmeter.csv.gz.tmp", "x.csv",
                 "20261207-smartmeter.csv.bak", "2026127-smartmeter.csv"):  # fmt: skip
        assert day_of(name) is None, name


def test_housekeeping_compresses_and_deletes_by_the_day_in_the_name(tmp_path: Path):
    today = date(2026, 12, 7)
    for d in (1, 2, 3, 5, 6, 7):
        (tmp_path / file_name(date(2026, 12, d))).write_text("timestamp,unitid,epc,dataid,value\n")
    (tmp_path / "notes.csv").write_text("mine\n")
    tidy(tmp_path, today, gzip_after_days=2, retention_days=5, busy=set())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "20261202-smartmeter.csv.gz",  # 5 days old: kept, compressed
        "20261203-smartmeter.csv.gz",
        "20261205-smartmeter.csv",  # 2 days old: not yet
        "20261206-smartmeter.csv",  # yesterday and today: never touched
        "20261207-smartmeter.csv",
        "notes.csv",  # not a day file
    ]
