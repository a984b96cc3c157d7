"""E0 wraps at 10^D7: published as the meter says it, flagged, never taken for a negative use.

The meter's counter has 5 digits of 0.1 kWh here, starting at 9999.9 kWh with a fast clock, so
it passes 99999 → 0 within a second or two.
"""

from __future__ import annotations

import itertools
import time

import pytest

from common.echonet import Scaling
from common.energy import step
from tests.support.radio_harness import RadioRig, check_against_served

pytestmark = pytest.mark.e2e

SIM = ("--digits", "5", "--import-kwh", "9999.8", "--time-scale", "360", "--no-solar",
       "--start", "2026-01-15T19:00:00+09:00")  # fmt: skip


def test_wrap_is_flagged_and_published_as_served(tmp_path):
    rig = RadioRig(tmp_path / "rig", sim_args=SIM, settings={
        "acquisition": {"interval_seconds": 0.3, "properties": ["E7", "E0"]},
    })  # fmt: skip
    try:
        rig.start()
        rig.wait_readings(2)
        time.sleep(3.5)
        assert rig.stop_radio() == 0
        rig.wait_cause("stopped", timeout=5)
    finally:
        rig.stop()
    check_against_served(rig.seen.since(0), rig.served())
    e0 = [r.value for r in rig.seen.since(0) if r.epc == "E0"]
    drops = [(a, b) for a, b in itertools.pairwise(e0) if b < a]
    assert drops and drops[0][0] > 9990 and drops[0][1] < 10, e0
    assert rig.counters()["counter_wraps"] == len(drops)
    assert "wrapped at 10^5" in rig.log()


def test_consumption_across_a_wrap_is_the_way_round_the_dial():
    s = step("E0", previous=99998, current=3, digits=5)
    assert s.wrapped and s.delta == 5
    assert Scaling(unit_kwh=Scaling().unit_kwh, digits=5).kwh(s.delta) == 5


def test_a_big_step_back_is_a_reset_not_a_wrap():
    s = step("E0", previous=50000, current=100, digits=5)
    assert not s.wrapped and s.delta is None


def test_without_digits_a_step_back_gives_no_consumption():
    s = step("E0", previous=99998, current=3, digits=None)
    assert not s.wrapped and s.delta is None
