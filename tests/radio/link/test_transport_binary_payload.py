"""An ERXUDP's DATA is read by DATALEN, so raw payloads containing CR LF come out whole."""

from __future__ import annotations

import pytest

from services.radio.link.sk_reader import ErxUdp
from tests.support.radio_harness import Wire

METER = "FE80:0000:0000:0000:021D:1290:1234:5678"
ME = "FE80:0000:0000:0000:021D:1290:12AB:CDEF"
# TID 0D0A and an E7 of 0x0A0D0D0A: CR LF inside the frame, twice.
FRAME = bytes.fromhex("10810D0A02880105FF017201E7040A0D0D0A")


def erxudp(fields: str, data: bytes) -> bytes:
    head = f"ERXUDP {METER} {ME} 0E1A 0E1A 001D129012345678 {fields} {len(data):04X} "
    return head.encode() + data + b"\r\n"


@pytest.mark.parametrize(
    ("dual", "fields", "side", "lqi"),
    [(False, "1", None, None), (True, "1 0", 0, None), (True, "E1 1 0", 0, 0xE1)],
    ids=["single-stack", "dual-stack", "dual-stack-rssi"],
)
def test_raw_payload_with_crlf_inside_is_taken_whole(dual, fields, side, lqi):
    with Wire(dual_stack=dual) as w:
        w.dongle.say(erxudp(fields, FRAME) + b"EVENT 21 " + METER.encode() + b" 00\r\n")
        item = w.t.next_event(2)
        assert isinstance(item, ErxUdp)
        assert item.data == FRAME
        assert (item.side, item.lqi, item.secured, item.rport) == (side, lqi, True, 0x0E1A)
        assert w.t.next_event(2).code == 0x21  # the line after the payload is intact


def test_hex_payload_is_decoded():
    with Wire() as w:
        head = f"ERXUDP {METER} {ME} 0E1A 0E1A 001D129012345678 1 {len(FRAME):04X} "
        w.dongle.say(head.encode() + FRAME.hex().upper().encode() + b"\r\n")
        item = w.t.next_event(2)
        assert isinstance(item, ErxUdp) and item.data == FRAME


def test_rssi_in_dbm_is_understood():
    with Wire(dual_stack=True) as w:
        w.dongle.say(erxudp("-45 1 0", FRAME))
        item = w.t.next_event(2)
        assert isinstance(item, ErxUdp)
        assert item.rssi_dbm == -45 and item.lqi is None and item.data == FRAME


def test_payload_arriving_in_pieces():
    with Wire() as w:
        wire = erxudp("1", FRAME)
        w.dongle.say(wire[:60])
        assert w.t.next_event(0.3) is None
        w.dongle.say(wire[60:-3])
        assert w.t.next_event(0.3) is None
        w.dongle.say(wire[-3:])
        item = w.t.next_event(2)
        assert isinstance(item, ErxUdp) and item.data == FRAME
