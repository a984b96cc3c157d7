"""The real stack under supervisord: simulator → radio → ZeroMQ → csv_rotator → daily CSV."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from common.reading import format_value
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

PROPERTIES = ["D3", "D7", "E1", "E7", "E0", "E3", "E8"]


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path / "s", settings={"acquisition": {"properties": PROPERTIES}})
    yield s
    s.stop()


def served_values(stack: Stack) -> list[tuple[str, str, str, datetime]]:
    """(epc, dataid, value text, time) of every value the meter served, in order."""
    out = []
    for entry in stack.served(set(PROPERTIES)):
        for dataid, value in (entry["decoded"] or {}).items():
            if value is not None:
                out.append(
                    (
                        entry["epc"],
                        dataid,
                        format_value(value),
                        datetime.fromisoformat(entry["time"]),
                    )
                )
    return out


def test_csv_rows_are_what_the_meter_served(stack):
    stack.start()
    # The scaling read and the first poll come at once; wait for the second poll too.
    wait_for(lambda: sum(r["epc"] == "E7" for r in stack.csv_rows()) >= 2, 60, "two E7 rows")

    status = stack.ctl("status", "--json")
    states = {p["name"]: p["state"] for p in json.loads(status.stdout)["processes"]}
    # influxdb.enabled is false: influx_writer idles, and says so
    running = ("simulator", "radio", "csv_rotator", "health", "influx_writer")
    assert {states[n] for n in running} == {"RUNNING"}, states

    stack.stop()
    lines = stack.csv_lines()
    assert lines[0] == "timestamp,unitid,epc,dataid,value"
    assert lines.count(lines[0]) == 1, "header written more than once"
    assert len(lines) == len(set(lines)), "duplicate CSV rows"

    rows = stack.csv_rows()
    got = [(r["epc"], r["dataid"], r["value"]) for r in rows]
    served = served_values(stack)
    expected = [(epc, dataid, value) for epc, dataid, value, _ in served]
    # Every row is a value the meter served, in the same order; at most the answer that was
    # in flight when the stack stopped may be missing from the CSV.
    assert got == expected[: len(got)]
    assert len(expected) - len(got) <= len(PROPERTIES) + 1
    assert {"E7", "E0", "E3", "D3", "D7", "E1", "E8"} <= {r["epc"] for r in rows}
    assert {r["dataid"] for r in rows if r["epc"] == "E8"} == {"R", "T"}

    # Timestamps are the moment the meter answered, in Japan time, in the file of that day.
    for row, (_, _, _, when) in zip(rows, served, strict=False):
        ts = datetime.fromisoformat(row["timestamp"])
        assert ts.utcoffset().total_seconds() == 9 * 3600
        assert abs((ts - when).total_seconds()) < 2
    for f in stack.csv_files():
        day = f.name.split("-")[0]
        with f.open() as fh:
            next(fh)
            assert all(line.startswith(f"{day[:4]}-{day[4:6]}-{day[6:]}T") for line in fh)


def test_wrong_password_is_named_in_the_radio_log(tmp_path):
    stack = Stack(tmp_path / "s", extra_env={"SIMULATOR_BROUTE_PASSWORD": "ZZZZZZZZZZZZ"})
    try:
        stack.start()
        wait_for(lambda: "auth-failed" in stack.log("radio"), 30, "auth-failed in radio.log")
        assert stack.csv_rows() == []
        assert "0123456789AB" not in stack.log("radio")
    finally:
        stack.stop()
