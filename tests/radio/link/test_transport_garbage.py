"""Line noise (a replug, a glitch) before or glued to real output is dropped, not fatal."""

from __future__ import annotations

from services.radio.link.sk_reader import ErxUdp, Event
from tests.support.radio_harness import Wire

NOISE = bytes([0x00, 0xFF, 0x7F, 0x81, 0x20, 0x45, 0x09, 0xC3, 0x01, 0xFE])
METER = "FE80:0000:0000:0000:021D:1290:1234:5678"


def test_noise_line_before_the_answer():
    with Wire() as w:
        w.dongle.reply(b"SKVER\r\n", NOISE + b"\r\nEVER 1.2.10\r\n" + NOISE + b"\r\nOK\r\n")
        lines = w.t.command("SKVER")
        assert lines[-1] == "OK" and "EVER 1.2.10" in lines


def test_noise_glued_to_an_event_and_a_datagram():
    with Wire() as w:
        frame = bytes.fromhex("1081000102880105FF017201E704000003A0")
        head = f"ERXUDP {METER} {METER} 0E1A 0E1A 001D129012345678 1 {len(frame):04X} "
        w.dongle.say(NOISE + b"EVENT 25 " + METER.encode() + b"\r\n")
        w.dongle.say(NOISE + head.encode() + frame + b"\r\n")
        event = w.t.next_event(2)
        assert isinstance(event, Event) and event.code == 0x25
        datagram = w.t.next_event(2)
        assert isinstance(datagram, ErxUdp) and datagram.data == frame


def test_endless_noise_without_line_end_is_dropped():
    with Wire() as w:
        w.dongle.say(bytes(range(14, 255)) * 20)  # no CR, no LF, ~4.8 kB
        assert w.t.next_event(0.5) is None
        assert w.t.reader.dropped > 4000  # not kept in memory waiting for an end
        w.dongle.say(b"\r\nEVENT 22 " + METER.encode() + b"\r\n")
        event = w.t.next_event(3)
        assert isinstance(event, Event) and event.code == 0x22
