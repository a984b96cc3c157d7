"""The smart meter over ECHONET Lite: Get with TID matching, identification, decoding.

One request in flight.  Each Get has its own TID and waits up to 20 s (AIF response timer 1)
for the answer with that TID; unanswered, it is sent once more with the same TID, so a late
answer to the first try still counts, and an answer that comes after both tries were given up
matches nothing and is dropped.  While the dongle holds sends (EVENT 29, EVENT 32) the clock
of the wait stops.  Frames the meter sends unasked go to the notification handler.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Protocol

from common.echonet import (
    EOJ_CONTROLLER,
    EOJ_SMART_METER,
    ESV,
    EchonetFormatError,
    Frame,
    Measurement,
    Property,
    Scaling,
    decode_coefficient,
    decode_digits,
    decode_energy_raw,
    decode_measurements,
    decode_one_minute_energy,
    decode_property_map,
    decode_unit,
    get_request,
)
from common.echonet_release_r import RouteBId, decode_route_b_id
from services.radio.condition import RadioCondition
from services.radio.link.session import SendFailed
from services.radio.meter.wraparound import CounterWatch
from services.radio.timing import Timing

log = logging.getLogger("radio.meter")

SCALING_EPCS = (0xD3, 0xE1, 0xD7)
_GET_ANSWERS = frozenset({ESV.GET_RES, ESV.GET_SNA})
_SET_ANSWERS = frozenset({ESV.SET_RES, ESV.SETC_SNA})
IDENTITY_EPCS = (0x8A, 0x8D, 0x82, 0x9F)


class MeterLink(Protocol):
    """What the meter needs from the layer below (the built-in session or keilog)."""

    @property
    def held(self) -> bool: ...

    def send(self, payload: bytes) -> None: ...

    def receive(self, timeout: float) -> bytes | None: ...


class MeterTimeout(Exception):
    """The meter did not answer a Get, tries included."""


@dataclass(frozen=True)
class Answer:
    """One property's decoded value(s) and when the meter answered."""

    epc: int
    measurements: list[Measurement]
    at: datetime


@dataclass(frozen=True)
class Identity:
    maker: str | None
    serial: str | None
    release: str | None
    get_map: frozenset[int] | None  # None: the meter did not say (assume everything)

    def key(self) -> str | None:
        """A meter without C0: its maker code and serial number (8A + 8D), hashed like C0's
        (``RouteBId.key``)."""
        if not self.serial:
            return None
        return "sn-" + hashlib.sha256(f"{self.maker}/{self.serial}".encode()).hexdigest()[:16]


class MeterClient:
    def __init__(
        self,
        link: MeterLink,
        timing: Timing,
        tz: tzinfo,
        condition: RadioCondition,
        unsolicited: Callable[[Frame], None] = lambda frame: None,
    ) -> None:
        self.link = link
        self.timing = timing
        self.tz = tz
        self.condition = condition
        self.unsolicited = unsolicited
        self.scaling = Scaling()
        self.watch = CounterWatch(lambda s: condition.count(counter_wraps=1))
        self.answered = 0  # answers in this session (a session without any is fruitless)
        self.last_sent_at: float | None = None  # when the last request really left
        self._tid = 0

    # --- one request ------------------------------------------------------------------------
    def _next_tid(self) -> int:
        self._tid = self._tid % 0xFFFF + 1
        return self._tid

    def get(self, epcs: list[int]) -> Frame:
        tid = self._next_tid()
        return self._ask(tid, get_request(tid, epcs).encode(), f"Get {_hex(epcs)}", _GET_ANSWERS)

    def set(self, epc: int, edt: bytes) -> bool:
        """SetC one property (E5, ED for the history): True if the meter took it."""
        tid = self._next_tid()
        request = Frame(tid, EOJ_CONTROLLER, EOJ_SMART_METER, ESV.SETC, (Property(epc, edt),))
        return self._ask(tid, request.encode(), f"SetC {epc:02X}", _SET_ANSWERS).esv == ESV.SET_RES

    def _ask(self, tid: int, request: bytes, what: str, answers: frozenset[int]) -> Frame:
        problem = "no answer"
        for attempt in range(1 + self.timing.retries):
            if attempt:
                self.condition.count(retries=1)
            try:
                self.link.send(request)
                self.last_sent_at = time.monotonic()
                self.condition.count(requests=1)
                answer = self._await(tid, answers)
            except SendFailed as exc:
                log.info("%s: %s", what, exc)
                problem = "the dongle could not send it"
                self.condition.count(send_failures=1)
                self._pause(self.timing.resend_pause)
                continue
            if answer is not None:
                self.answered += 1
                return answer
            self.condition.count(timeouts=1)
            log.info("no answer to %s (TID %04X) within %g s", what, tid, self.timing.response)
        raise MeterTimeout(f"{what}: {problem} ({1 + self.timing.retries} tries)")

    def _await(self, tid: int, answers: frozenset[int] = _GET_ANSWERS) -> Frame | None:
        deadline = time.monotonic() + self.timing.response
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            payload = self.link.receive(min(0.5, deadline - now))
            if self.link.held:  # the dongle holds sends: this time does not count
                deadline += time.monotonic() - now
            if payload is None:
                continue
            frame = self._decode(payload)
            if frame is None:
                continue
            if is_meter_frame(frame) and frame.tid == tid and frame.esv in answers:
                return frame
            self._other(frame)

    def _pause(self, seconds: float) -> None:
        """Wait without sending, still hearing what the meter says."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            payload = self.link.receive(remaining)
            frame = self._decode(payload) if payload is not None else None
            if frame is not None:
                self._other(frame)

    def listen(self, seconds: float) -> None:
        """Idle until the next request is due, handling notifications."""
        self._pause(seconds)

    def _decode(self, payload: bytes) -> Frame | None:
        try:
            return Frame.decode(payload)
        except EchonetFormatError as exc:
            log.warning("undecodable ECHONET Lite frame from the meter: %s", exc)
            return None

    def _other(self, frame: Frame) -> None:
        if frame.esv in (ESV.INF, ESV.INFC):
            self.unsolicited(frame)
        else:
            log.debug("TID %04X ESV %02X: not an answer we wait for", frame.tid, frame.esv)

    # --- what the meter is --------------------------------------------------------------------
    def identify(self) -> Identity:
        frame = self.get(list(IDENTITY_EPCS))
        values = {p.epc: p.edt for p in frame.properties if p.edt}
        get_map = None
        if 0x9F in values:
            try:
                get_map = decode_property_map(0x9F, values[0x9F])
            except EchonetFormatError as exc:
                log.warning("unreadable Get property map: %s", exc)
        release = values.get(0x82, b"")
        return Identity(
            maker=values[0x8A].hex().upper() if 0x8A in values else None,
            serial=_text(values.get(0x8D)),
            release=chr(release[2]) if len(release) == 4 and 0x41 <= release[2] <= 0x5A else None,
            get_map=get_map,
        )

    # --- values -------------------------------------------------------------------------------
    def read(self, epcs: list[int]) -> tuple[list[Answer], set[int]]:
        """Ask for ``epcs``: the answers, and the EPCs the meter refused (Get_SNA, PDC 0)."""
        frame = self.get(epcs)
        at = datetime.now(self.tz)
        props = [p for p in frame.properties if p.epc in epcs]
        refused = {p.epc for p in props if not p.edt}
        self._update_scaling([p for p in props if p.edt and p.epc in SCALING_EPCS], refused)
        answers = []
        for prop in props:
            if not prop.edt:
                continue
            try:
                measurements = decode_measurements(prop.epc, prop.edt, self.scaling)
                self._watch(prop.epc, prop.edt)
            except EchonetFormatError as exc:
                log.warning("bad value from the meter: %s", exc)
                continue
            answers.append(Answer(prop.epc, measurements, at))
        return answers, refused

    def _watch(self, epc: int, edt: bytes) -> None:
        """Counters passing 10^D7 (wraparound.py): E0, E3 and both of D0's."""
        if epc in (0xE0, 0xE3):
            counters = [(f"{epc:02X}", decode_energy_raw(epc, edt))]
        elif epc == 0xD0:
            _, forward, reverse = decode_one_minute_energy(edt)
            counters = [("D0 forward", forward), ("D0 reverse", reverse)]
        else:
            return
        for name, raw in counters:
            if raw is not None:
                self.watch.observe(name, raw, self.scaling)

    def route_b_id(self) -> RouteBId | None:
        """C0, once per join on a meter that lists it; None if refused or malformed."""
        values = {p.epc: p.edt for p in self.get([0xC0]).properties if p.edt}
        try:
            return decode_route_b_id(values[0xC0]) if 0xC0 in values else None
        except EchonetFormatError as exc:
            log.warning("unreadable B-route identification number (C0): %s", exc)
            return None

    def _update_scaling(self, props: list, refused: set[int]) -> None:
        coefficient, unit = self.scaling.coefficient, self.scaling.unit_kwh
        digits = self.scaling.digits
        if 0xD3 in refused:
            coefficient = 1  # D3 is optional: a meter without it means 1 (notes §4.4)
        for prop in props:
            try:
                if prop.epc == 0xD3:
                    coefficient = decode_coefficient(prop.edt)
                elif prop.epc == 0xE1:
                    unit = decode_unit(prop.edt)
                elif prop.epc == 0xD7:
                    digits = decode_digits(prop.edt)
            except EchonetFormatError as exc:
                log.warning("bad scaling property: %s", exc)
        new = Scaling(coefficient, Decimal(unit), digits)
        if new != self.scaling:
            log.info("scaling: coefficient %d, unit %s kWh, %s digits", coefficient, unit, digits)
            self.scaling = new


def is_meter_frame(frame: Frame) -> bool:
    return frame.seoj == EOJ_SMART_METER


def _text(edt: bytes | None) -> str | None:
    if not edt:
        return None
    return edt.decode("ascii", "replace").strip("\x00 ").strip() or None


def _hex(epcs: list[int]) -> str:
    return ",".join(f"{e:02X}" for e in epcs)
