"""The meter's own clock: read (98 date, 97 time) when it matters, estimated in between.

The history is the meter's: E5's day numbers count from the meter's today, and its half-hours
are the meter's.  So "now" for the backfill is the meter's clock, read before a read of the
history, and otherwise estimated as the last reading plus the time since (by this host's
monotonic clock), which costs no request.  A meter without 97/98 (not in its Get map, or
refusing them) gets this host's clock instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo

from common.echonet import ESV, EchonetFormatError, Frame
from services.radio.meter.client import MeterClient
from services.radio.meter.history import parse_clock

log = logging.getLogger("radio.backfill")


class MeterTime:
    def __init__(self, tz: tzinfo, fresh: float, clock: Callable[[], float] = time.monotonic):
        self.tz = tz
        self.fresh = fresh  # a reading older than this is read again before a read
        self.clock = clock
        self.has_clock = True  # the meter answers 98/97
        self._read: tuple[datetime, float] | None = None  # (meter time, monotonic then)

    def now(self) -> datetime:
        """The meter's local time (naive), as estimated."""
        if self._read is None:
            return self.host_now()
        read, at = self._read
        return read + timedelta(seconds=self.clock() - at)

    def host_now(self) -> datetime:
        return datetime.now(self.tz).replace(tzinfo=None)

    def host_today(self) -> date:
        return self.host_now().date()

    def stale(self) -> bool:
        return self._read is None or self.clock() - self._read[1] > self.fresh

    def read(self, meter: MeterClient) -> bool:
        """Read the meter's clock (this host's if it has none); True if a request went."""
        if not self.has_clock:
            self._read = (self.host_now(), self.clock())
            return False
        values = values_of(meter.get([0x98, 0x97]))
        try:
            read = parse_clock(values[0x98], values[0x97])
        except (KeyError, EchonetFormatError) as exc:
            log.warning("the meter's clock (98/97) is unreadable (%s); using this host's", exc)
            self.has_clock = False
            read = self.host_now()
        self._read = (read, self.clock())
        return True


def values_of(frame: Frame) -> dict[int, bytes]:
    """The values a Get was answered with (a refused EPC has none)."""
    if frame.esv not in (ESV.GET_RES, ESV.GET_SNA):
        return {}
    return {p.epc: p.edt for p in frame.properties if p.edt}
