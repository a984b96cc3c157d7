"""The whole stack under supervisord (simulator → radio → bus → influx_writer) writing to a
real server: InfluxDB gets exactly what the CSV gets, through a kill -9 of the writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.support.influx_fixtures import BUCKET, ORG, TOKEN, victoria_fixture  # noqa: F401
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SELECTOR = 'smartmeter_power_value{unitid="stack"}'


def csv_points(stack: Stack) -> set[tuple[str, str, int, float]]:
    out = set()
    for row in stack.csv_rows():
        second = int(datetime.fromisoformat(row["timestamp"]).timestamp())
        out.add((row["epc"], row["dataid"], second, float(row["value"])))
    return out


def influx_points(victoria) -> set[tuple[str, str, int, float]]:
    out = set()
    for series in victoria.export(SELECTOR):
        m = series["metric"]
        for ts, value in zip(series["timestamps"], series["values"], strict=True):
            out.add((m["epc"], m.get("dataid", ""), ts // 1000, float(value)))
    return out


def test_influxdb_gets_what_the_csv_gets_through_a_writer_kill(tmp_path, victoria):
    stack = Stack(
        tmp_path / "s",
        settings={
            "unitid": "stack",
            "acquisition": {"interval_seconds": 0.5, "properties": ["E7", "E0", "E8"]},
            "storage": {"flush_interval_seconds": 0.5},
            "influxdb": {"enabled": True, "timeout_seconds": 2},
        },
        env_values={
            "INFLUXDB_URL": victoria.url,
            "INFLUXDB_TOKEN": TOKEN,
            "INFLUXDB_ORG": ORG,
            "INFLUXDB_BUCKET": BUCKET,
        },
    )
    try:
        stack.start()
        pid = stack.wait_running("influx_writer")
        victoria.wait_count(20, timeout=60, selector=SELECTOR)
        stack.kill("influx_writer")
        stack.wait_running("influx_writer", not_pid=pid)
        before = victoria.count(SELECTOR)
        victoria.wait_count(before + 20, timeout=60, selector=SELECTOR)
        status = json.loads(stack.ctl("status", "--json").stdout)
        assert {p["name"]: p["state"] for p in status["processes"]}["influx_writer"] == (
            "RUNNING"
        )
    finally:
        stack.stop()
    got, csv = influx_points(victoria), csv_points(stack)
    assert got <= csv  # nothing InfluxDB has that the meter did not serve
    # Both are exactly once; only what was in flight when the stack stopped may differ.
    assert len(csv - got) <= 4, sorted(csv - got)
    assert TOKEN not in stack.log("influx_writer")
    assert all(datetime.fromtimestamp(p[2], UTC).year >= 2025 for p in got)
