"""A broken ERXUDP (too short, bad DATALEN, truncated data) is skipped; what follows is read."""

from __future__ import annotations

import pytest

from services.radio.link.sk_reader import Event
from tests.support.radio_harness import Wire

METER = "FE80:0000:0000:0000:021D:1290:1234:5678"
HEAD = f"ERXUDP {METER} {METER} 0E1A 0E1A 001D129012345678 1"


@pytest.mark.parametrize(
    "broken",
    [
        f"ERXUDP {METER} {METER} 0E1A\r\n",  # ends inside its header
        f"{HEAD} 0012 1081\r\n",  # hex data shorter than DATALEN
        f"{HEAD} 0004 10ZZ8100\r\n",  # not hex, not raw
        f"{HEAD} 1 0 0 0 0 0 0012 00\r\n",  # no DATALEN where one belongs
    ],
    ids=["short", "truncated", "not-hex", "no-datalen"],
)
def test_broken_datagram_is_skipped(broken):
    with Wire() as w:
        w.dongle.say(broken.encode() + f"EVENT 25 {METER}\r\n".encode() + b"x" * 40 + b"\r\n")
        item = w.t.next_event(2)
        assert isinstance(item, Event) and item.code == 0x25
