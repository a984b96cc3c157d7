"""Every wait has a deadline: a silent dongle is a DongleTimeout, soon, not a hang."""

from __future__ import annotations

import time

import pytest

from services.radio.link.transport import DongleTimeout
from tests.support.radio_harness import Wire


def test_no_answer_times_out_on_time():
    with Wire() as w:
        start = time.monotonic()
        with pytest.raises(DongleTimeout, match="SKVER"):
            w.t.command("SKVER", 0.5)
        assert 0.45 < time.monotonic() - start < 1.5


def test_an_answer_cut_off_mid_line_times_out():
    with Wire() as w:
        w.dongle.reply(b"SKINFO\r\n", b"EINFO FE80:0000")
        with pytest.raises(DongleTimeout):
            w.t.command("SKINFO", 0.5)


def test_waiting_for_an_event_returns_none_in_time():
    with Wire() as w:
        start = time.monotonic()
        assert w.t.next_event(0.3) is None
        assert time.monotonic() - start < 1.0
