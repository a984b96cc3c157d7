"""The PANA session as wire transcripts: join outcomes, the send gate, the events that end it."""

from __future__ import annotations

import threading
import time

import pytest

from services.radio.link.dialect import DIALECTS
from services.radio.link.scan import PanDescriptor
from services.radio.link.session import (
    Gate,
    JoinRefused,
    SendFailed,
    Session,
    SessionLost,
    TermMarker,
)
from services.radio.timing import Timing
from tests.support.radio_harness import Wire

METER = "FE80:0000:0000:0000:021D:1290:1234:5678"
PAN = PanDescriptor(0x21, 0x8CF5, "001D129012345678", 0xE1, "CCDDEEFF")
FAST = Timing().scaled(0.02)
GET = bytes.fromhex("1081000105FF010288016201E700")
HEADER = f"SKSENDTO 1 {METER} 0E1A 1 000E ".encode()


def session(w: Wire, tmp_path, gate: Gate | None = None, holds: list | None = None) -> Session:
    return Session(w.t, DIALECTS["rl7023-ips"], FAST, gate or Gate(), TermMarker(tmp_path),
                   lambda: False, (holds if holds is not None else []).append)  # fmt: skip


def joined(w: Wire, tmp_path, **kwargs) -> Session:
    w.dongle.reply(b"SKSREG S2 21\r\n", b"OK\r\n")
    w.dongle.reply(b"SKSREG S3 8CF5\r\n", b"OK\r\n")
    w.dongle.reply(b"SKLL64 001D129012345678\r\n", f"{METER}\r\n".encode())
    w.dongle.reply(f"SKJOIN {METER}\r\n".encode(),
                   f"OK\r\nEVENT 21 {METER} 02\r\nEVENT 25 {METER}\r\n".encode())  # fmt: skip
    s = session(w, tmp_path, **kwargs)
    s.join(PAN)
    return s


def event(code: str, param: str = "") -> bytes:
    return f"EVENT {code} {METER}{' ' + param if param else ''}\r\n".encode()


def test_join_refused_is_event_24(tmp_path):
    with Wire() as w:
        w.dongle.reply(b"SKSREG S2 21\r\n", b"OK\r\n")
        w.dongle.reply(b"SKSREG S3 8CF5\r\n", b"OK\r\n")
        w.dongle.reply(b"SKLL64 001D129012345678\r\n", f"{METER}\r\n".encode())
        w.dongle.reply(f"SKJOIN {METER}\r\n".encode(), b"OK\r\n" + event("24"))
        with pytest.raises(JoinRefused):
            session(w, tmp_path).join(PAN)


def test_event_21_01_is_a_failed_send(tmp_path):
    with Wire() as w:
        s = joined(w, tmp_path)
        w.dongle.reply(HEADER + GET, event("21", "01") + b"OK\r\n")
        with pytest.raises(SendFailed):
            s.send(GET)


def test_reauthentication_holds_sends_until_event_25(tmp_path):
    holds: list = []
    with Wire() as w:
        s = joined(w, tmp_path, holds=holds)
        w.dongle.say(event("29"))
        assert s.receive(0.3) is None and s.held
        threading.Timer(0.3, lambda: w.dongle.say(event("25"))).start()
        w.dongle.reply(HEADER + GET, event("21", "00") + b"OK\r\n")
        start = time.monotonic()
        s.send(GET)  # waits for EVENT 25 first
        assert time.monotonic() - start >= 0.25
    assert holds == ["reauthenticating", None]


def test_transmission_limit_holds_sends_until_event_33(tmp_path):
    holds: list = []
    with Wire() as w:
        s = joined(w, tmp_path, holds=holds)
        w.dongle.say(event("32"))
        assert s.receive(0.2) is None and s.gate.hold == "tx-limited"
        threading.Timer(0.3, lambda: w.dongle.say(event("33"))).start()
        w.dongle.reply(HEADER + GET, b"OK\r\n")
        s.send(GET)
        assert not s.held
    assert holds == ["tx-limited", None]


@pytest.mark.parametrize(("code", "what"), [("26", "meter ended"), ("27", "terminated")])
def test_session_ended_by_an_event(tmp_path, code, what):
    with Wire() as w:
        s = joined(w, tmp_path)
        w.dongle.say(event(code))
        with pytest.raises(SessionLost, match=what):
            s.receive(1.0)
        assert not s.established


def test_failed_reauthentication_ends_the_session(tmp_path):
    with Wire() as w:
        s = joined(w, tmp_path)
        w.dongle.say(event("29") + event("24"))
        with pytest.raises(SessionLost, match="EVENT 24"):
            s.receive(1.0)
        assert not s.held  # the gate opens: the next session starts unheld


def test_skterm_then_the_next_join_waits(tmp_path):
    with Wire() as w:
        s = joined(w, tmp_path)
        w.dongle.reply(b"SKTERM\r\n", b"OK\r\n" + event("28"))
        s.terminate()
    waited = time.monotonic()
    TermMarker(tmp_path).wait_remaining(0.4, lambda: False)
    assert time.monotonic() - waited > 0.3
