"""One command in flight: a second one while the first waits is a programming error."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.radio_harness import Wire


def test_second_command_while_one_waits_is_refused():
    with Wire() as w:
        errors: list[BaseException] = []

        def first() -> None:
            try:
                w.t.command("SKSCAN 2 FFFFFFFF 6", 1.0)
            except Exception as exc:  # the timeout, expected
                errors.append(exc)

        thread = threading.Thread(target=first)
        thread.start()
        time.sleep(0.2)
        with pytest.raises(RuntimeError, match="in flight"):
            w.t.command("SKVER", 0.2)
        thread.join()
