"""InfluxDB down for a simulated day, then back: everything delivered, memory bounded.

DESIGN.md, "Nothing lost": through InfluxDB down for days (bounded by the queue's limit).
The real stack runs under supervisord against its own VictoriaMetrics, which is stopped
gracefully (SIGINT: it has no WAL) while the radio polls the six default properties every
0.3 s instead of every 30 s, so that one simulated day (2880 polls, 17 280 readings) passes
in about a quarter of an hour; the meter's clock runs ×100 to match.  Then it starts again
on the same port and data.

- While it is down, /health says ``warn`` (200) with ``influxdb:delivery`` naming
  ``influx-unreachable``, the writer's queue holds the backlog and its RSS stays within
  RSS_GROWTH_KB of what it was before (the backlog is on disk, not in memory).
- After it is back, every reading of the radio's journal is in the database with its value,
  nothing else, the queue is empty, nothing was dropped, and /health says ``pass``.

Short form: a quarter of an hour of readings (30 polls); full form: a day (``scripts/test --long``).
"""

from __future__ import annotations

import time

import pytest

from tests.support.fault_stack import (
    FaultStack,
    assert_csv_is,
    assert_db_is,
    counts,
    missing_from_db,
)
from tests.support.influx_fixtures import VictoriaMetrics
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

PROPERTIES = ["D3", "D7", "E1", "E7", "E0", "E3"]  # the default settings.yml
RSS_GROWTH_KB = 20 * 1024


@pytest.mark.parametrize("polls", counts(30, 2880))
def test_influxdb_down_for_a_simulated_day(tmp_path, polls):
    vm = VictoriaMetrics(tmp_path / "vm" / "data").start()
    unitid = f"outage{polls}"
    stack = FaultStack(
        tmp_path / "s",
        settings={
            "unitid": unitid,
            "acquisition": {"interval_seconds": 0.3, "properties": PROPERTIES},
            "storage": {"flush_interval_seconds": 1},
        },
        # Meter time ×100 (0.3 s of polling stands for 30 s); no EA/EB announcements, whose
        # meter timestamps would run more than a day ahead of the writer's clock.
        simulator_args=["--time-scale", "100", "--notify", "off"],
        # Retries back off to 5 s at most instead of 60, so the test does not wait a minute
        # for the first retry after the database is back.
        extra_env={"SMARTMETER_INFLUX_BACKOFF_CAP": "5"},
    ).use_influx(vm)
    delivery = {}
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: stack.verdict() == "pass", 60, "/health pass")
        wait_for(lambda: not missing_from_db(vm, unitid, stack.journal()[:20]), 60, "delivery")
        rss_before = stack.rss_kb("influx_writer")

        vm.stop()
        down_at = time.monotonic()
        wait_for(
            lambda: stack.check("influxdb:delivery").get("cause") == "influx-unreachable",
            60,
            "influxdb:delivery: influx-unreachable",
        )
        code, doc = stack.health()
        assert code == 200 and doc["status"] == "warn", doc["notes"]
        assert doc["checks"]["influxdb:delivery"][0]["status"] == "warn"

        start = len(stack.journal())
        target = start + polls * len(PROPERTIES)
        rss_max = rss_before
        while len(stack.journal()) < target:
            assert time.monotonic() - down_at < 60 + polls * 2, "readings came too slowly"
            rss_max = max(rss_max, stack.rss_kb("influx_writer"))
            time.sleep(1.0)
        wait_for(
            lambda: (
                stack.check("influxdb:delivery").get("counters", {}).get("queue_depth", 0)
                >= polls * len(PROPERTIES)
            ),
            30,
            "the backlog in the queue",
        )
        queued = stack.check("influxdb:delivery")["counters"]["queue_depth"]
        outage = time.monotonic() - down_at
        assert stack.verdict() == "warn"

        vm.start()
        up_at = time.monotonic()
        wait_for(lambda: not missing_from_db(vm, unitid, stack.journal()), 120, "the backlog")
        drained = time.monotonic() - up_at
        wait_for(lambda: stack.verdict() == "pass", 60, "/health pass again")
        wait_for(
            lambda: stack.check("influxdb:delivery").get("counters", {}).get("queue_depth") == 0,
            30,
            "an empty queue",
        )
        delivery = stack.check("influxdb:delivery")
        stack.rpc().stopProcess("radio")
        journal = stack.journal()
        wait_for(lambda: not missing_from_db(vm, unitid, journal), 60, "the last readings")
        assert_db_is(vm, unitid, journal)
    finally:
        stack.stop()
        vm.stop()
    growth = rss_max - rss_before
    print(
        f"outage {outage:.0f} s, {queued} readings queued, writer RSS {rss_before} kB → "
        f"max {rss_max} kB (+{growth} kB), backlog delivered {drained:.1f} s after the restart"
    )
    assert growth < RSS_GROWTH_KB, f"the writer grew by {growth} kB while the database was down"
    assert delivery["status"] == "pass" and delivery["cause"] == "ok"
    assert delivery["counters"]["dropped"] == 0
    assert_csv_is(stack, journal)
