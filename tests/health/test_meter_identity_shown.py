"""Which meter the logger reads: `smartmeterctl status` and the health page show its maker
and, on a Release R meter, its B-route ID (C0) as the radio masked it; never more of it."""

from __future__ import annotations

from services.ctl.status_report import Report, render
from services.health.page import _meter_line

MASKED = "000016-" + "*" * 20 + "3432"


def health(details: dict) -> dict:
    check = {"status": "pass", "cause": "joined", "output": "", "details": details}
    return {"status": "pass", "checks": {"radio:link": [check]}}


def test_status_shows_the_maker_and_the_masked_b_route_id():
    text = render(Report(0, health=health({"meter_maker": "000016", "meter_id": MASKED})))
    assert f"  meter          maker 000016, B-route ID {MASKED}" in text.splitlines()


def test_a_first_generation_meter_shows_its_maker_only():
    text = render(Report(0, health=health({"meter_maker": "000016", "meter_id": None})))
    assert "  meter          maker 000016" in text.splitlines()
    assert "B-route ID" not in text


def test_status_says_minutes_are_being_read_back():
    backfill = {"state": "idle", "minutes": {"state": "running", "missing": 42}}
    text = render(Report(0, health=health({"backfill": backfill})))
    assert "  backfill       42 minutes of D0 to read back" in text.splitlines()


def test_the_page_shows_the_masked_id():
    line = _meter_line(health({"meter_maker": "000016", "meter_id": MASKED}))
    assert f"<span id='meter-id'>{MASKED}</span>" in line and "000016" in line
    assert _meter_line(health({})) == ""
