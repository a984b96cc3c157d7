"""Echo on (the factory setting) or off: the command's own echo is never taken as its answer."""

from __future__ import annotations

from tests.support.radio_harness import Wire


def test_echo_on_is_skipped():
    with Wire() as w:
        w.dongle.reply(b"SKVER\r\n", b"SKVER\r\nEVER 1.2.10\r\nOK\r\n")
        assert w.t.command("SKVER") == ["EVER 1.2.10", "OK"]


def test_echo_off_works_the_same():
    with Wire() as w:
        w.dongle.reply(b"SKVER\r\n", b"EVER 1.2.10\r\nOK\r\n")
        assert w.t.command("SKVER") == ["EVER 1.2.10", "OK"]


def test_sendto_echo_is_the_header_only():
    with Wire() as w:
        header = b"SKSENDTO 1 FE80:0000:0000:0000:021D:1290:1234:5678 0E1A 1 0002 "
        w.dongle.reply(header + b"\x0d\x0a", header + b"\r\nEVENT 21 FE80:: 00\r\nOK\r\n")
        events = w.t.sendto(header, b"\x0d\x0a")
        assert [(e.code, e.param) for e in events] == [(0x21, "00")]
