"""EA/EB that the meter announces (INF, INFC) become readings with the meter's own time.

An INFC is answered with an INFC_Res the meter accepts (same TID, EOJs swapped, PDC 0).  A
half-hour announced and also polled is published once.
"""

from __future__ import annotations

import time

import pytest

from tests.support.radio_harness import RadioRig, check_against_served, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def make_rig(tmp_path):
    rigs: list[RadioRig] = []

    def make(dialect: str = "rl7023-ips", **kwargs) -> RadioRig:
        rig = RadioRig(tmp_path / f"rig{len(rigs)}", dialect=dialect, **kwargs)
        rigs.append(rig)
        return rig.start()

    yield make
    for rig in rigs:
        rig.stop()


def notified(rig: RadioRig) -> list:
    return [r for r in rig.seen.since(0) if r.source == "notify"]


@pytest.mark.parametrize("dialect", ["rl7023-ips", "bp35c2"])
@pytest.mark.parametrize("mode", ["inf", "infc"])
def test_announced_energy_is_published_with_the_meters_time(make_rig, dialect, mode):
    rig = make_rig(dialect)
    rig.wait_readings(2)
    rig.control.set(notify=mode)
    assert rig.control.do("notify")["sent"]
    wait_for(lambda: len(notified(rig)) >= 2, 5, "EA and EB from the notification")
    if mode == "infc":
        wait_for(lambda: rig.control.status()["infc"][-1]["answered"], 5, "the INFC_Res")
        assert rig.control.status()["infc"][-1]["valid"]
    assert rig.stop_radio() == 0
    check_against_served(rig.seen.since(0), rig.served())
    ea = next(r for r in notified(rig) if r.epc == "EA")
    assert ea.ts.endswith(":00.000+09:00") and ea.ts[14:16] in ("00", "30")


def test_many_half_hours_announced_and_polled_are_each_published_once(make_rig):
    # One meter half-hour per real second; EA is polled every 0.3 s as well.
    rig = make_rig(
        sim_args=("--time-scale", "1800", "--notify", "infc", "--notify-delay", "60"),
        settings={"acquisition": {"interval_seconds": 0.3, "properties": ["E7", "EA"]}},
    )
    rig.wait_readings(2)
    time.sleep(3.5)
    assert rig.stop_radio() == 0
    check_against_served(rig.seen.since(0), rig.served())
    half_hours = {r.ts for r in rig.seen.since(0) if r.epc == "EA"}
    assert len(half_hours) >= 4
    infc = rig.control.status()["infc"]
    assert infc and all(record["answered"] and record["valid"] for record in infc[:-1])
