"""What the meter says unasked: EA/EB after :00 and :30, as INF (73) or INFC (74).

EA/EB become readings stamped with the meter's own time.  An INFC is acknowledged with an
INFC_Res (7A): same TID, EOJs swapped, the same EPCs with PDC 0 (research notes §4.3).  The
same half-hour announced twice (an INFC repeated for want of an answer, or polled as well)
is published once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

from common.echonet import (
    EOJ_CONTROLLER,
    EOJ_SMART_METER,
    ESV,
    EchonetFormatError,
    Frame,
    Property,
    Scaling,
    decode_measurements,
)
from services.radio.link.session import SendFailed
from services.radio.link.transport import DongleTimeout

log = logging.getLogger("radio.meter")

NOTIFIED_EPCS = frozenset({0xEA, 0xEB})


def infc_response(frame: Frame) -> Frame:
    """The INFC_Res a controller owes the meter for ``frame``."""
    props = tuple(Property(p.epc) for p in frame.properties)
    return Frame(frame.tid, EOJ_CONTROLLER, frame.seoj, ESV.INFC_RES, props)


class SeenHalfHours:
    """The (EPC, meter time) pairs already published, the last few days' worth (of
    half-hours; the poller keeps a second one for the minutes of D0)."""

    def __init__(self, size: int = 400) -> None:
        self._order: deque[tuple[int, str, datetime]] = deque()
        self._set: set[tuple[int, str, datetime]] = set()
        self.size = size

    def first_time(self, epc: int, when: datetime, dataid: str = "") -> bool:
        key = (epc, dataid, when)
        if key in self._set:
            return False
        self._order.append(key)
        self._set.add(key)
        if len(self._order) > self.size:
            self._set.discard(self._order.popleft())
        return True


class Notifications:
    def __init__(
        self,
        send: Callable[[bytes], None],
        publish: Callable[[list[tuple[int, list]]], None],
    ) -> None:
        self.send = send  # a datagram to the meter (the INFC_Res)
        self.publish = publish  # [(epc, measurements)] → readings with source "notify"
        self.count = 0

    def handle(self, frame: Frame, scaling: Scaling) -> None:
        if frame.seoj != EOJ_SMART_METER or frame.esv not in (ESV.INF, ESV.INFC):
            log.debug("notification %02X from %06X ignored", frame.esv, frame.seoj)
            return
        if frame.esv == ESV.INFC:
            self._acknowledge(frame)
        found: list[tuple[int, list]] = []
        for prop in frame.properties:
            if prop.epc not in NOTIFIED_EPCS or not prop.edt:
                continue
            try:
                measurements = decode_measurements(prop.epc, prop.edt, scaling)
            except EchonetFormatError as exc:
                log.warning("bad notified value: %s", exc)
                continue
            found.append((prop.epc, measurements))
        if found:
            self.count += 1
            self.publish(found)

    def _acknowledge(self, frame: Frame) -> None:
        try:
            self.send(infc_response(frame).encode())
        except (SendFailed, DongleTimeout) as exc:  # best effort: the reading counts more
            log.warning("could not answer the meter's INFC %04X: %s", frame.tid, exc)
