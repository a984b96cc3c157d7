"""ROPT/WOPT are product commands: CR only, both ways (research notes §4.1)."""

from __future__ import annotations

import pytest

from services.radio.link.transport import CommandFailed
from tests.support.radio_harness import Wire


def test_cr_only_answer_is_a_line_at_once():
    with Wire() as w:
        w.dongle.reply(b"ROPT\r", b"OK 01\r")
        assert w.t.product_command("ROPT", 1.0) == "OK 01"
        assert b"ROPT\r" not in w.dongle.heard and not w.dongle.heard  # nothing after the CR


def test_cr_only_echo_and_answer():
    with Wire() as w:
        w.dongle.reply(b"WOPT 01\r", b"WOPT 01\rOK\r")
        assert w.t.product_command("WOPT 01", 1.0) == "OK"


def test_dongle_without_product_commands_fails_with_crlf():
    with Wire() as w:
        w.dongle.reply(b"ROPT\r", b"FAIL ER04\r\n")
        with pytest.raises(CommandFailed) as info:
            w.t.product_command("ROPT", 1.0)
        assert info.value.code == "ER04"


def test_mixed_line_ends_do_not_merge_lines():
    with Wire() as w:
        w.dongle.reply(b"SKINFO\r\n", b"EINFO FE80:0000:0000:0000:021D:1290:12AB:CDEF\r\rOK\n")
        assert w.t.command("SKINFO") == ["EINFO FE80:0000:0000:0000:021D:1290:12AB:CDEF", "OK"]
