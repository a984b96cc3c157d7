"""A period per group of properties, never faster than the floor, no burst after an outage."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

import pytest

from services.radio.meter.schedule import Schedule
from tests.support.radio_harness import RadioRig, check_against_served

E7, E0, E3, D3 = 0xE7, 0xE0, 0xE3, 0xD3


def test_groups_fall_due_on_their_own_periods():
    s = Schedule([([E7], 10), ([E0, E3], 30)], floor=10)
    s.start(0)
    assert s.due(0) == [E7, E0, E3]
    s.asked(0, [E7, E0, E3])
    assert s.due(5) == [] and s.next_at() == 10
    assert s.due(10) == [E7]
    s.asked(10, [E7])
    s.asked(20, s.due(20))
    assert s.due(30) == [E7, E0, E3]


def test_a_property_in_two_groups_still_respects_the_floor():
    s = Schedule([([E7], 10), ([E7, E0], 15)], floor=10)
    s.start(0)
    s.asked(0, s.due(0))
    s.asked(10, s.due(10))
    assert s.due(15) == [E0]  # E7 was read 5 s ago


def test_no_burst_after_an_outage():
    s = Schedule([([E7], 10)], floor=10)
    s.start(0)
    s.asked(0, s.due(0))
    assert s.due(95) == [E7]  # nine periods missed: asked once
    s.asked(95, [E7])
    assert s.due(100) == [] and s.next_at() == 105


def test_a_held_send_moves_the_floor_with_it():
    s = Schedule([([E7], 10)], floor=10)
    s.start(0)
    s.asked(0, s.due(0), sent_at=9.5)  # held (EVENT 32) until 9.5
    assert s.due(10) == []  # due by the period, but only 0.5 s after the last request
    assert s.next_at() == 19.5
    assert s.due(19.5) == [E7]


def test_periods_below_the_floor_are_raised_to_it():
    s = Schedule([([E7], 1)], floor=10)
    s.start(0)
    s.asked(0, s.due(0))
    assert s.next_at() == 10


def test_what_was_just_read_at_join_waits_a_period():
    s = Schedule([([D3], 3600), ([E7], 10)], floor=10)
    s.start(0, fresh=[D3])
    assert s.due(0) == [E7]


def test_skipped_properties_are_not_asked_and_empty_groups_never_fall_due():
    s = Schedule([([D3], 60), ([E7], 10)], floor=10)
    s.start(0)
    s.skip([D3])
    assert s.due(0) == [E7]
    s.asked(0, [E7])
    assert s.next_at() == 10


@pytest.mark.e2e
def test_radio_reads_each_group_on_its_period(tmp_path):
    rig = RadioRig(tmp_path / "rig", settings={"acquisition": {"schedule": [
        {"properties": ["E7"], "every_seconds": 0.3},
        {"properties": ["E0", "E3"], "every_seconds": 1.2},
        {"properties": ["D3", "D7", "E1"], "every_seconds": 60},
    ]}})  # fmt: skip
    try:
        rig.start()
        rig.wait_readings(1)
        time.sleep(4)
        assert rig.stop_radio() == 0
    finally:
        rig.stop()
    readings = rig.seen.since(0)
    check_against_served(readings, rig.served())
    count = {epc: sum(r.epc == epc for r in readings) for epc in ("E7", "E0", "D3")}
    assert count["D3"] == 1  # read at join, then not for a minute
    assert 3 <= count["E7"] / count["E0"] <= 5, count
    asked = [datetime.fromisoformat(e["time"]) for e in rig.served() if e["epc"] == "E7"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(asked)]
    assert min(gaps) >= 0.2, "E7 asked for faster than the floor"  # the simulator's floor
