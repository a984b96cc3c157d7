"""USB unplugged: reads and writes fail with EIO, and the transport says PortLost."""

from __future__ import annotations

import pytest

from services.radio.link.transport import PortLost
from tests.support.radio_harness import Wire


def test_read_after_unplug_is_port_lost():
    with Wire() as w:
        w.dongle.unplug()
        with pytest.raises(PortLost):
            w.t.next_event(1.0)


def test_command_after_unplug_is_port_lost():
    with Wire() as w:
        w.dongle.unplug()
        with pytest.raises(PortLost):
            w.t.command("SKVER", 1.0)
