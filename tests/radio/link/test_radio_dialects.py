"""Every dongle dialect, detected from the wire, through the real radio.

test_radio_faults.py runs the whole fault matrix on RL7023 Stick-D/IPS and BP35C2; the other
three dialects get a representative subset here: wire noise, the meter going silent, USB
loss, the meter ending the session.  The quick detection-and-readings test runs each
dual-stack dialect under both answers to what SKRESET does to the registers and the echo
flag (unsettled, services/simulator/dongle_memory.py), on a dongle another program left with
echo off and SA2 1.
"""

from __future__ import annotations

import time

import pytest

from tests.support.radio_harness import RadioRig, check_against_served, wait_for

pytestmark = pytest.mark.e2e

DIALECTS = ["rl7023-ips", "bp35a1", "rl7023-dss", "bp35c2", "rs-wsuha-p"]
# What the radio can tell from the wire: RS-WSUHA-P is a BP35C2 inside.
DETECTED = {"rs-wsuha-p": "bp35c2"}
DUAL_STACK = {"rl7023-dss", "bp35c2", "rs-wsuha-p"}
OTHERS = ["bp35a1", "rl7023-dss", "rs-wsuha-p"]
KEEPS = ("--skreset-registers", "keep", "--skreset-echo", "keep")
DETECTION = [(d, ()) for d in DIALECTS] + [(d, KEEPS) for d in DIALECTS if d in DUAL_STACK]


@pytest.fixture
def make_rig(tmp_path):
    rigs: list[RadioRig] = []

    def make(dialect: str, before_radio=None, **kwargs) -> RadioRig:
        rig = RadioRig(tmp_path / f"rig{len(rigs)}", dialect=dialect, **kwargs)
        rigs.append(rig)
        return rig.start(before_radio)

    yield make
    for rig in rigs:
        rig.stop()


def finish(rig: RadioRig) -> dict:
    assert rig.stop_radio() == 0
    rig.wait_cause("stopped", timeout=5)
    check_against_served(rig.seen.since(0), rig.served())
    assert "Traceback" not in rig.log()
    return rig.seen.last_status()


@pytest.mark.parametrize(
    ("dialect", "memory"),
    DETECTION,
    ids=[f"{d}-{'keeps' if m else 'factory'}" for d, m in DETECTION],
)
def test_dialect_is_detected_and_readings_match(make_rig, dialect, memory):
    rig = make_rig(dialect, sim_args=memory, before_radio=RadioRig.leave_dongle_used)
    factory_raw = rig.control.status()["binary_payloads"]
    rig.wait_readings(6)
    status = finish(rig)
    details = status["details"]
    assert details["dialect"] == DETECTED.get(dialect, dialect)
    assert details["meter_serial"] == "SIM000000001" and details["meter_maker"] == "000016"
    if dialect in DUAL_STACK:  # SA2 1: the RSSI token of every ERXUDP
        assert details["rssi_dbm"] < 0 and 0 < details["lqi"] <= 255
    # WOPT is never written: the radio reads raw payloads as they come.
    assert rig.control.status()["binary_payloads"] == factory_raw
    assert "WOPT" not in rig.log()


@pytest.mark.parametrize("dialect", ["bp35c2", "rl7023-ips"])
def test_dongle_model_setting_overrides_detection(make_rig, dialect):
    rig = make_rig(dialect, settings={
        "acquisition": {"interval_seconds": 0.3, "properties": ["E7"]},
        "dongle": {"model": dialect},
    })  # fmt: skip
    rig.wait_readings(3)
    assert "(dongle.model)" in rig.log()
    finish(rig)


def test_wrong_dongle_model_is_named_with_the_fix(make_rig):
    rig = make_rig("rl7023-ips", settings={
        "acquisition": {"interval_seconds": 0.3, "properties": ["E7"]},
        "dongle": {"model": "bp35c2"},  # dual-stack arguments to a single-stack dongle
    })  # fmt: skip
    rig.wait_cause("dongle-not-responding", timeout=20)
    wait_for(lambda: "dongle.model" in rig.seen.last_status().get("message", ""), 10, "the fix")
    assert not rig.seen.since(0)


@pytest.mark.parametrize("dialect", OTHERS)
@pytest.mark.parametrize("fault", ["garbage", "unplug"])
def test_noise_and_usb_loss(make_rig, dialect, fault):
    rig = make_rig(dialect)
    rig.wait_readings(2)
    rig.control.fault(fault)
    time.sleep(1.0)
    off = time.monotonic()
    rig.control.clear(fault)
    first = rig.wait_readings(3, since=off)
    assert first - off < 3.0
    finish(rig)


@pytest.mark.parametrize("dialect", OTHERS)
def test_silent_meter_and_peer_termination(make_rig, dialect):
    rig = make_rig(dialect)
    rig.wait_readings(2)
    on = time.monotonic()
    rig.control.fault("drop-responses")
    rig.wait_cause("meter-not-answering", since=on, timeout=10)
    rig.control.clear("drop-responses")
    rig.wait_readings(2, since=time.monotonic(), timeout=10)
    rig.control.do("peer-term")
    again = time.monotonic()
    first = rig.wait_readings(3, since=again)
    assert first - again < 2.0
    status = finish(rig)
    assert status["counters"]["rejoins"] >= 1
