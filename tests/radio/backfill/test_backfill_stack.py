"""Backfill through the whole stack: `smartmeterctl backfill` → radio → csv_rotator → day files.

The simulator runs in real time here (the stack starts it without options), so a forced
read of yesterday and today puts rows into two day files; every half-hour must be there
once, with the meter's own value, in the file of its own day.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest

from services.simulator.meter_model import JST
from tests.support.backfill_meter import half_hours, truth
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e


def test_a_forced_read_puts_each_half_hour_once_into_its_days_csv(tmp_path):
    now = datetime.now(JST)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if not timedelta(minutes=20) < now - midnight < timedelta(hours=23, minutes=40):
        pytest.skip("too close to midnight in Japan: the backfill would pause for it")
    stack = Stack(tmp_path / "s", settings={"acquisition": {
        "interval_seconds": 5, "properties": ["E7", "EA", "EB"],
        "backfill_requests_per_minute": 600}})  # fmt: skip
    try:
        stack.start()
        wait_for(lambda: sum(r["epc"] == "E7" for r in stack.csv_rows()) >= 2, 60, "E7 rows")
        done = stack.ctl("backfill", "--days", "1", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "half-hours read back" in done.stdout
        status = json.loads(stack.ctl("status", "--json").stdout)
        details = status["health"]["checks"]["radio:link"][0]["details"]
        assert details["backfill"]["state"] == "idle" and details["backfill"]["missing"] == 0
        last = datetime.now(JST) - timedelta(minutes=30)
        stack.stop()

        assert not stack.runtime_dir.joinpath("backfill-request.json").exists()
        files = {f.name[:8]: f.read_text().splitlines() for f in stack.csv_files()}
        yesterday = f"{midnight - timedelta(days=1):%Y%m%d}"
        assert yesterday in files, sorted(files)
        served = truth(stack.served({"E2", "E4", "EC", "EA", "EB"}))
        seen: Counter = Counter()
        for day, lines in files.items():
            assert len(lines) == len(set(lines)), f"{day}: duplicate rows"
            for line in lines[1:]:
                ts, _, epc, _, value = line.split(",")
                when = datetime.fromisoformat(ts)
                assert f"{when:%Y%m%d}" == day, line
                if epc in ("EA", "EB"):
                    seen[(epc, when)] += 1
                    assert float(value) == served[(epc, when)], line
        for when in half_hours(midnight - timedelta(days=1), last):
            for epc in ("EA", "EB"):
                assert seen[(epc, when)] == 1, f"{epc} {when} in the CSV {seen[(epc, when)]} times"
    finally:
        stack.stop()
