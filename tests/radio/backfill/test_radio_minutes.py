"""1-minute energy end to end: the real radio against the real simulator's meter.

A second-generation meter (``--generation 2``) has D0 and EE/EF; D0 is polled only every
three meter minutes, so two minutes in three come from EE (10 a request) by the backfill,
and a radio killed for twenty meter minutes leaves a gap read back the same way.  Every
minute must come out once, each direction, with the meter's own value and time.  A
first-generation meter named D0 gets one warning and is never asked for D0, C0, EE or EF.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from common.reading import Reading
from services.simulator.meter_model import JST
from tests.support.radio_harness import RadioRig, check_against_served, wait_for

pytestmark = pytest.mark.e2e

START = datetime(2025, 11, 26, 12, 0, tzinfo=JST)
SCALE = 60  # a meter minute a second
SETTINGS = {"acquisition": {"schedule": [
    {"properties": ["E7"], "every_seconds": 0.5},
    {"properties": ["D0"], "every_seconds": 3.0},  # three meter minutes
]}}  # fmt: skip


def rig_for(tmp_path, *sim: str) -> RadioRig:
    return RadioRig(
        tmp_path / "rig",
        settings=SETTINGS,
        sim_args=("--time-scale", str(SCALE), "--start", START.isoformat(), *sim),
    )


def minutes(rig: RadioRig) -> list[Reading]:
    return [r for r in rig.seen.since(0) if r.epc == "D0"]


def truth(served: list[dict[str, Any]]) -> dict[tuple[str, datetime], float]:
    """(forward|reverse, minute) → kWh, from every D0 and EE the meter served."""
    out: dict[tuple[str, datetime], float] = {}
    for e in served:
        if e["epc"] == "D0":
            for name, kwh in e["decoded"].items():
                out[(name, datetime.fromisoformat(e["value_time"]))] = kwh
        elif e["epc"] == "EE":
            for key, kwh in e["decoded"].items():
                when, kind = key.split("/")
                if kwh is not None:
                    name = "forward" if kind == "normal" else "reverse"
                    out[(name, datetime.fromisoformat(when))] = kwh
    return out


def check_minutes(rig: RadioRig, first: datetime, last: datetime) -> list[Reading]:
    readings = minutes(rig)
    seen = Counter((r.dataid, r.time) for r in readings)
    assert not [k for k, n in seen.items() if n > 1], "a minute published twice"
    t = first
    while t <= last:
        for name in ("forward", "reverse"):
            assert seen[(name, t)] == 1, f"D0 {name} {t.isoformat()} missing"
        t += timedelta(minutes=1)
    served = truth(rig.served())
    for r in readings:
        assert r.value == served[(r.dataid, r.time)], f"{r} is not what the meter keeps"
        assert r.time.second == 0
    return readings


def minute_status(rig: RadioRig) -> dict[str, Any]:
    details = rig.seen.last_status().get("details", {})
    return dict((details.get("backfill") or {}).get("minutes") or {})


def caught_up(rig: RadioRig, first: datetime, upto: datetime) -> bool:
    have = {(r.dataid, r.time) for r in minutes(rig)}
    every = int((upto - first).total_seconds() // 60) + 1
    wanted = {(d, first + timedelta(minutes=i)) for i in range(every)
              for d in ("forward", "reverse")}  # fmt: skip
    return wanted <= have and minute_status(rig).get("state") == "idle"


def test_one_minute_energy_every_minute_once_through_a_kill(tmp_path):
    rig = rig_for(tmp_path, "--generation", "2")
    try:
        rig.start()
        wait_for(lambda: minutes(rig), 20, "a first D0")
        first = min(r.time for r in minutes(rig))
        target = first + timedelta(minutes=12)
        wait_for(lambda: caught_up(rig, first, target), 40, "twelve minutes filled")
        details = rig.seen.last_status()["details"]
        assert details["meter_id"] == "000016-" + "*" * 20 + "3432"  # C0, masked
        assert details["meter_key"].startswith("c0-")
        assert {r.source for r in minutes(rig)} == {"poll", "backfill"}

        # Killed: twenty meter minutes without a radio; the journal is the same one.
        assert rig.radio is not None
        rig.radio.send_signal(signal.SIGKILL)
        rig.radio.wait()
        time.sleep(20 / SCALE * 60)
        rig.start_radio()
        back = datetime.fromisoformat(rig.control.status()["meter_time"])
        target = back.replace(second=0, microsecond=0) - timedelta(minutes=3)
        wait_for(lambda: caught_up(rig, first, target), 60, "the gap read back")
        assert rig.stop_radio() == 0
        readings = check_minutes(rig, first, target)
        assert len(readings) >= 2 * 30
        check_against_served(rig.seen.since(0), rig.served())
        served = rig.served()
        assert sum(e["epc"] == "C0" for e in served) == 2  # once per join
        windows = Counter(e["value_time"] for e in served if e["epc"] == "EE")
        assert all(n == 1 for n in windows.values()), windows  # no window asked twice
        assert (rig.paths.data_dir / "radio-minutes.json").exists()
        assert "SIMROUTEB042" not in rig.log() and "53494D524F55544542303432" not in rig.log()
    finally:
        rig.stop()


def test_a_first_generation_meter_is_never_asked_for_release_r(tmp_path):
    rig = rig_for(tmp_path)
    try:
        rig.start()
        rig.wait_readings(10)
        time.sleep(2)
        assert rig.stop_radio() == 0
        log = rig.log()
        assert log.count("is not in its Get map: D0") == 1
        assert {r.epc for r in rig.seen.since(0)} <= {"E7", "D3", "D7", "E1", "EA", "EB"}
        asked = {e["epc"] for e in rig.served()}
        assert not asked & {"C0", "D0", "EE", "EF"}, asked
        details = rig.seen.last_status()["details"]
        assert details.get("meter_id") is None and details["meter_key"].startswith("sn-")
        assert "D0" in details["unsupported"]
        assert not (rig.paths.data_dir / "radio-minutes.json").exists()
    finally:
        rig.stop()


@pytest.mark.parametrize("dialect", ["rl7023-ips", "bp35a1", "rl7023-dss", "bp35c2", "rs-wsuha-p"])
def test_c0_and_d0_through_every_dialect(tmp_path, dialect):
    rig = RadioRig(tmp_path / "rig", dialect=dialect, settings=SETTINGS,
                   sim_args=("--time-scale", str(SCALE), "--start", START.isoformat(),
                             "--generation", "2"))  # fmt: skip
    try:
        rig.start()
        wait_for(lambda: len(minutes(rig)) >= 4, 20, "two minutes of D0")
        details = rig.seen.last_status()["details"]
        assert details["meter_id"] == "000016-" + "*" * 20 + "3432"
        assert rig.stop_radio() == 0
        served = truth(rig.served())
        for r in minutes(rig):
            assert r.value == served[(r.dataid, r.time)], r
    finally:
        rig.stop()
