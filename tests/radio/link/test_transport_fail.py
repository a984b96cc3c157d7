"""FAIL ERxx is an answer, with its code: ER04 unknown command, ER05 argument count, ER10."""

from __future__ import annotations

import pytest

from services.radio.link.transport import CommandFailed
from tests.support.radio_harness import Wire


@pytest.mark.parametrize("code", ["ER04", "ER05", "ER06", "ER10"])
def test_fail_code_is_reported(code):
    with Wire() as w:
        w.dongle.reply(b"SKTERM\r\n", f"FAIL {code}\r\n".encode())
        with pytest.raises(CommandFailed) as info:
            w.t.command("SKTERM")
        assert info.value.code == code and info.value.command == "SKTERM"
