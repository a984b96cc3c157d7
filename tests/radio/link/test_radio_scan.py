"""The active scan, as a wire transcript: what the dongle prints, which PAN the radio picks."""

from __future__ import annotations

import threading

import pytest

from services.radio.condition import RadioFault
from services.radio.link.dialect import DIALECTS
from services.radio.link.scan import PanDescriptor, active_scan, choose
from services.radio.timing import Timing
from tests.support.radio_harness import Wire

ME = "FE80:0000:0000:0000:021D:1290:12AB:CDEF"
FAST = Timing().scaled(0.01)


def pan(channel: str, pan_id: str, mac: str, lqi: str, pair: str, side: bool = False) -> bytes:
    lines = ["EVENT 20 FE80:0000:0000:0000:021D:1290:1234:5678", "EPANDESC",
             f"  Channel:{channel}", "  Channel Page:09", f"  Pan ID:{pan_id}", f"  Addr:{mac}",
             f"  LQI:{lqi}", *(["  Side:0"] if side else []), f"  PairID:{pair}"]  # fmt: skip
    return "".join(line + "\r\n" for line in lines).encode()


OURS = pan("21", "8CF5", "001D129012345678", "60", "CCDDEEFF")
NEIGHBOUR = pan("2F", "1234", "001D1290ABCDEF01", "F0", "0BADBEEF")
DONE = f"EVENT 22 {ME}\r\n".encode()


def test_ours_by_pair_id_even_when_a_neighbour_is_heard_better():
    with Wire() as w:
        w.dongle.reply(b"SKSCAN 2 FFFFFFFF 6\r\n", b"OK\r\n" + NEIGHBOUR + OURS + DONE)
        found = active_scan(w.t, DIALECTS["rl7023-ips"], "CCDDEEFF", FAST)
    assert (found.channel, found.pan_id, found.lqi) == (0x21, 0x8CF5, 0x60)


def test_descriptions_after_event_22_are_waited_for():
    late = OURS.replace(b"EVENT 20 FE80:0000:0000:0000:021D:1290:1234:5678\r\n", b"")
    beacon = b"EVENT 20 FE80:0000:0000:0000:021D:1290:1234:5678\r\n"
    with Wire() as w:
        w.dongle.reply(b"SKSCAN 2 FFFFFFFF 6\r\n", b"OK\r\n" + beacon + DONE)
        threading.Timer(0.3, lambda: w.dongle.say(late)).start()
        found = active_scan(w.t, DIALECTS["rl7023-ips"], "CCDDEEFF", FAST)
    assert found.pan_id == 0x8CF5


def test_durations_grow_six_seven_eight_then_no_meter_found():
    with Wire() as w:
        for d in (6, 7, 8):
            w.dongle.reply(f"SKSCAN 2 FFFFFFFF {d}\r\n".encode(), b"OK\r\n" + NEIGHBOUR + DONE)
        with pytest.raises(RadioFault) as info:
            active_scan(w.t, DIALECTS["rl7023-ips"], "CCDDEEFF", FAST)
    assert info.value.cause == "no-meter-found"
    assert "1 other meter" in str(info.value) or "other meter(s)" in str(info.value)


def test_dual_stack_scan_has_a_side_argument_and_side_line():
    ours = pan("21", "8CF5", "001D129012345678", "E1", "CCDDEEFF", side=True)
    with Wire(dual_stack=True) as w:
        w.dongle.reply(
            b"SKSCAN 2 FFFFFFFF 6 0\r\n", b"OK\r\n" + ours + DONE.replace(b"\r\n", b" 0\r\n")
        )
        found = active_scan(w.t, DIALECTS["bp35c2"], "CCDDEEFF", FAST)
    assert found.pan_id == 0x8CF5


def test_wrong_argument_count_names_dongle_model():
    with Wire() as w:
        w.dongle.reply(b"SKSCAN 2 FFFFFFFF 6 0\r\n", b"FAIL ER05\r\n")
        with pytest.raises(RadioFault) as info:
            active_scan(w.t, DIALECTS["bp35c2"], "CCDDEEFF", FAST)
    assert info.value.cause == "dongle-not-responding" and "dongle.model" in str(info.value)


def test_a_pan_without_pair_id_only_when_none_matches():
    bare = PanDescriptor(0x21, 1, "A", 0x10, None)
    other = PanDescriptor(0x22, 2, "B", 0xF0, "0BADBEEF")
    ours = PanDescriptor(0x23, 3, "C", 0x20, "CCDDEEFF")
    assert choose([bare, other, ours], "ccddeeff") == ours
    assert choose([bare, other], "CCDDEEFF") == bare
    assert choose([other], "CCDDEEFF") is None
