"""The smart meter over ECHONET Lite: Get with TID matching, scaling, decoding to readings."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from common.echonet import (
    EOJ_SMART_METER,
    ESV,
    EchonetFormatError,
    Frame,
    Measurement,
    Scaling,
    decode_coefficient,
    decode_digits,
    decode_measurements,
    decode_unit,
    get_request,
)
from services.radio.transport import ErxUdp, Event, SkStackTransport

log = logging.getLogger("radio.meter")

ECHONET_PORT = 0x0E1A
RESPONSE_TIMEOUT = 20.0  # AIF response timer 1 is at least 20 s


class MeterTimeout(Exception):
    """The meter did not answer a Get in time."""


@dataclass(frozen=True)
class Answer:
    """One property the meter answered, already decoded."""

    epc: int
    measurements: list[Measurement]
    at: datetime  # when the answer arrived


class MeterClient:
    def __init__(self, transport: SkStackTransport, meter_ip: str, tz) -> None:
        self.t = transport
        self.ip = meter_ip
        self.tz = tz
        self.scaling = Scaling()
        self._tid = 0
        self.refused: set[int] = set()

    def _next_tid(self) -> int:
        self._tid = (self._tid + 1) & 0xFFFF
        return self._tid

    def get(self, epcs: list[int], timeout: float = RESPONSE_TIMEOUT) -> Frame:
        """One Get in flight; the answer with our TID (Get_Res or Get_SNA)."""
        tid = self._next_tid()
        self.t.sendto(self.ip, get_request(tid, epcs).encode())
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MeterTimeout(f"no answer to Get {_hex(epcs)} within {timeout:g} s")
            item = self.t.next_pending(remaining)
            if item is None:
                continue
            if isinstance(item, Event):
                log.debug("event %02X during Get", item.code)
                continue
            frame = self._echonet(item)
            if frame is None:
                continue
            if frame.tid == tid and frame.esv in (ESV.GET_RES, ESV.GET_SNA):
                return frame
            log.debug("frame TID %04X ESV %02X is not our answer", frame.tid, frame.esv)

    def _echonet(self, datagram: ErxUdp) -> Frame | None:
        if datagram.rport != ECHONET_PORT:
            return None
        try:
            frame = Frame.decode(datagram.data)
        except EchonetFormatError as exc:
            log.warning("undecodable ECHONET frame from the meter: %s", exc)
            return None
        if frame.seoj != EOJ_SMART_METER:
            return None
        return frame

    def read_scaling(self) -> list[Answer]:
        """D3/E1/D7; a refused D3 means coefficient 1 (research notes §4.4)."""
        frame = self.get([0xD3, 0xE1, 0xD7])
        at = datetime.now(self.tz)
        coefficient, unit, digits = 1, Decimal(1), None
        answers = []
        for prop in frame.properties:
            if not prop.edt:
                log.info("the meter does not answer %02X; using its default", prop.epc)
                continue
            try:
                if prop.epc == 0xD3:
                    coefficient = decode_coefficient(prop.edt)
                elif prop.epc == 0xE1:
                    unit = decode_unit(prop.edt)
                elif prop.epc == 0xD7:
                    digits = decode_digits(prop.edt)
            except EchonetFormatError as exc:
                log.warning("bad scaling property: %s", exc)
                continue
            answers.append(Answer(prop.epc, decode_measurements(prop.epc, prop.edt, Scaling()), at))
        self.scaling = Scaling(coefficient, unit, digits)
        log.info("scaling: coefficient %d, unit %s kWh, %s digits", coefficient, unit, digits)
        return answers

    def poll(self, epcs: list[int]) -> list[Answer]:
        frame = self.get(epcs)
        at = datetime.now(self.tz)
        answers = []
        for prop in frame.properties:
            if not prop.edt:
                if prop.epc not in self.refused:
                    log.warning("the meter refused %02X; it will be skipped", prop.epc)
                    self.refused.add(prop.epc)
                continue
            try:
                answers.append(
                    Answer(prop.epc, decode_measurements(prop.epc, prop.edt, self.scaling), at)
                )
            except EchonetFormatError as exc:
                log.warning("bad value from the meter: %s", exc)
        return answers


def _hex(epcs: list[int]) -> str:
    return ",".join(f"{e:02X}" for e in epcs)
