"""What the dongle says unasked while a command waits is kept, in order, not lost."""

from __future__ import annotations

from services.radio.link.sk_reader import ErxUdp, Event
from tests.support.radio_harness import Wire

METER = "FE80:0000:0000:0000:021D:1290:1234:5678"


def test_events_and_datagrams_during_a_command_are_queued_in_order():
    frame = bytes.fromhex("1081000102880105FF017301E70400000000")
    erx = f"ERXUDP {METER} {METER} 0E1A 0E1A 001D129012345678 1 {len(frame):04X} "
    answer = (
        f"EVENT 29 {METER}\r\n".encode()
        + erx.encode() + frame.hex().upper().encode() + b"\r\n"
        + b"EVER 1.2.10\r\n"
        + f"EVENT 25 {METER}\r\n".encode()
        + b"OK\r\n"
    )  # fmt: skip
    with Wire() as w:
        w.dongle.reply(b"SKVER\r\n", answer)
        assert w.t.command("SKVER") == ["EVER 1.2.10", "OK"]
        first, second, third = (w.t.next_event(1) for _ in range(3))
        assert isinstance(first, Event) and first.code == 0x29
        assert isinstance(second, ErxUdp) and second.data == frame
        assert isinstance(third, Event) and third.code == 0x25
