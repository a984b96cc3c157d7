"""An answer that comes after its command timed out must not answer the next command."""

from __future__ import annotations

import time

import pytest

from services.radio.link.transport import DongleTimeout
from tests.support.radio_harness import Wire


def test_late_ok_is_not_taken_for_the_next_answer():
    with Wire() as w:
        with pytest.raises(DongleTimeout):
            w.t.command("SKINFO", 0.3)
        w.dongle.say(b"EINFO late\r\nFAIL ER10\r\n")  # the late answer to SKINFO
        time.sleep(0.2)
        w.dongle.reply(b"SKVER\r\n", b"EVER 1.2.10\r\nOK\r\n")
        assert w.t.command("SKVER") == ["EVER 1.2.10", "OK"]
