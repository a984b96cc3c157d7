"""SKSENDTO: header, a space, DATALEN raw bytes, no line end; EVENT 21 tells the result."""

from __future__ import annotations

import time

from tests.support.radio_harness import Wire

IP = "FE80:0000:0000:0000:021D:1290:1234:5678"
HEADER = f"SKSENDTO 1 {IP} 0E1A 1 000E ".encode()
GET_E7 = bytes.fromhex("1081000105FF010288016201E700")


def test_written_without_line_end():
    with Wire() as w:
        w.dongle.reply(HEADER + GET_E7, b"EVENT 21 " + IP.encode() + b" 00\r\nOK\r\n")
        w.t.sendto(HEADER, GET_E7)
        time.sleep(0.2)
        assert w.dongle.heard == b""  # the rule consumed exactly header + data: nothing more


def test_send_results_are_returned_not_queued():
    with Wire() as w:
        answer = (f"EVENT 21 {IP} 02\r\nEVENT 02 {IP}\r\nEVENT 21 {IP} 01\r\nOK\r\n").encode()
        w.dongle.reply(HEADER + GET_E7, answer)
        events = w.t.sendto(HEADER, GET_E7)
        assert [(e.code, e.param) for e in events] == [(0x21, "02"), (0x02, None), (0x21, "01")]
        assert not w.t.pending


def test_no_event_21_at_all_is_fine():
    with Wire() as w:
        w.dongle.reply(HEADER + GET_E7, b"OK\r\n")
        assert w.t.sendto(HEADER, GET_E7) == []
