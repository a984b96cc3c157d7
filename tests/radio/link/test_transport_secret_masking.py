"""The B-route ID and password never reach a log line, even echoed back by the dongle."""

from __future__ import annotations

import logging

import pytest

from services.radio.link.transport import CommandFailed
from tests.support.radio_harness import Wire

RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"


def test_credentials_are_masked_in_debug_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="radio")
    with Wire(secrets=(RBID, PASSWORD)) as w:
        for command in (f"SKSETPWD C {PASSWORD}", f"SKSETRBID {RBID}"):
            w.dongle.reply(command.encode() + b"\r\n", command.encode() + b"\r\nOK\r\n")
            w.t.command(command)
        w.dongle.reply(b"SKVER\r\n", f"EVER {PASSWORD}\r\nFAIL ER04\r\n".encode())  # odd places
        with pytest.raises(CommandFailed):
            w.t.command("SKVER")
    text = caplog.text
    assert "SKSETPWD ***" in text and "SKSETRBID ***" in text
    assert PASSWORD not in text and RBID not in text
