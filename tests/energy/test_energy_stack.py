"""A month on the page through the whole supervised stack: simulator → radio → CSV → health.

The month comes from the meter's own history: ``smartmeterctl backfill --days 31`` makes the
radio read 31 days of half-hours back (E2/E4) and publish them as EA/EB with their own
times, csv_rotator puts them in each day's file, and health, restarted, reads the files.
(The simulator's fast clock cannot stand in here: the radio stamps polled E0/E3 with the
host's time and EA/EB with the meter's, so a meter running ahead would put its half-hours
on days that have not come yet.)  The page in chromium must show, for each day, the kWh
this test sums from the CSV itself (EA at one midnight minus EA at the one before) and a
"meter" bar for every half-hour of a past day.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

import pytest

from services.simulator.meter_model import JST
from tests.energy.test_energy_page import BUDGET, OUTPUT, Dom
from tests.support.browser import Chromium
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

DAYS = 31


def ea_at_midnights(stack: Stack) -> dict[str, dict[str, float]]:
    """{date: {"EA": kWh, "EB": kWh}} at each 00:00, from the CSV alone."""
    out: dict[str, dict[str, float]] = {}
    for row in stack.csv_rows():
        if row["epc"] in ("EA", "EB") and row["timestamp"][11:19] == "00:00:00":
            out.setdefault(row["timestamp"][:10], {})[row["epc"]] = float(row["value"])
    return out


def test_a_month_read_back_from_the_meter_is_on_the_page(tmp_path):
    now = datetime.now(JST)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if not timedelta(minutes=20) < now - midnight < timedelta(hours=23, minutes=30):
        pytest.skip("too close to midnight in Japan: the backfill would pause for it")
    stack = Stack(tmp_path / "s", settings={"acquisition": {
        "interval_seconds": 5, "properties": ["D3", "D7", "E1", "E7", "E0", "E3"],
        "backfill_requests_per_minute": 600}})  # fmt: skip
    try:
        stack.start()
        wait_for(lambda: sum(r["epc"] == "E0" for r in stack.csv_rows()) >= 2, 60, "E0 rows")
        done = stack.ctl("backfill", "--days", str(DAYS), timeout=280)
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(lambda: len(ea_at_midnights(stack)) >= DAYS, 30, "EA at every midnight")
        stack.rpc().stopProcess("health")  # a restart: the book reads the new files
        stack.rpc().startProcess("health")

        def ready() -> dict | None:
            try:
                doc = json.loads(stack.get("/api/energy/summary")[1])
            except (OSError, ValueError):
                return None
            return None if doc["building"] else doc

        wait_for(ready, 60, "the energy book built")
        marks = ea_at_midnights(stack)
        days = json.loads(stack.get(f"/api/energy/days?from={min(marks)}")[1])["days"]
        shown = {d["date"]: d for d in days}
        dates = sorted(marks)
        checked = 0
        for a, b in itertools.pairwise(dates):
            if (datetime.fromisoformat(b) - datetime.fromisoformat(a)).days != 1:
                continue
            want = marks[b]["EA"] - marks[a]["EA"]
            assert shown[a]["import_kwh"] == pytest.approx(want, abs=1e-3), a
            assert shown[a]["export_kwh"] == pytest.approx(marks[b]["EB"] - marks[a]["EB"],
                                                           abs=1e-3), a  # fmt: skip
            checked += 1
        assert checked >= DAYS - 1
        day = (midnight - timedelta(days=2)).date().isoformat()
        hh = json.loads(stack.get(f"/api/energy/halfhours?date={day}")[1])
        assert [s["source"] for s in hh["slots"]] == ["meter"] * 48

        chromium = Chromium(tmp_path / "chromium")
        dom = Dom(chromium.dom(f"{stack.url}/#{day}", "390,844", BUDGET))
        assert dom.slots("halfhours", "imp") == set(range(48))
        assert dom.kwh("yesterday-import") == pytest.approx(
            shown[(midnight - timedelta(days=1)).date().isoformat()]["import_kwh"], abs=1e-3
        )
        for width, height in ((390, 844), (1280, 800)):
            target = OUTPUT / f"stack-{width}.png"
            shot = chromium.screenshot(stack.url + "/", target, f"{width},{height}", BUDGET)
            print(f"screenshot: {shot}")
    finally:
        stack.stop()
