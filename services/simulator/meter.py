"""A low-voltage smart meter (ECHONET Lite class 0x0288) behind the simulated dongle.

It answers Get (several EPCs per frame; an EPC it lacks turns the answer into Get_SNA with
PDC 0 for that EPC), SetC/SetI (E5, ED, EF), INF_REQ, and takes INFC_Res for the INFC it
sent.  Frames it cannot parse, and services it does not offer, it ignores, as a meter does.
Every property value it sends goes to the served log.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from common.echonet import (
    EOJ_CONTROLLER,
    EOJ_NODE_PROFILE,
    EOJ_SMART_METER,
    ESV,
    EchonetFormatError,
    Frame,
    Property,
)
from services.simulator.meter_model import MeterClock
from services.simulator.properties import INSTANCE_LIST, MeterProperties, NodeProfileProperties
from services.simulator.served_log import ServedLog

log = logging.getLogger("simulator.meter")

NOTIFIED = (0xEA, 0xEB)  # the half-hourly announcement
_SNA = {ESV.GET: ESV.GET_SNA, ESV.SETC: ESV.SETC_SNA, ESV.SETI: ESV.SETI_SNA,
        ESV.INF_REQ: ESV.INF_SNA}  # fmt: skip


class SimulatedMeter:
    def __init__(self, props: MeterProperties, served_log: ServedLog, clock: MeterClock) -> None:
        self.props = props
        self.node = NodeProfileProperties()
        self.served_log = served_log
        self.clock = clock
        self.notify_esv = ESV.INF
        self.infc: deque[dict[str, Any]] = deque(maxlen=100)
        self.requests = 0
        self._tid = 0

    # --- what the meter says unasked --------------------------------------------------
    def instance_list_inf(self) -> bytes:
        """The node profile's INF announcing the meter, sent right after a PANA join."""
        props = (Property(0xD5, INSTANCE_LIST),)
        return Frame(self._next_tid(), EOJ_NODE_PROFILE, EOJ_NODE_PROFILE, ESV.INF, props).encode()

    def notification(self, esv: int | None = None) -> bytes:
        """EA and EB as INF (or INFC, which expects an INFC_Res) to the controller."""
        esv = esv or self.notify_esv
        via = "infc" if esv == ESV.INFC else "inf"
        props = []
        for epc in NOTIFIED:
            served = self.props.get(epc)
            assert served is not None and served.edt is not None
            self.served_log.write(epc, served, self.clock.now_dt(), via)
            props.append(Property(epc, served.edt))
        tid = self._next_tid()
        if esv == ESV.INFC:
            when = self.clock.now_dt().isoformat()
            epcs = [f"{e:02X}" for e in NOTIFIED]
            self.infc.append({"tid": tid, "meter_time": when, "epcs": epcs, "answered": False})
        return Frame(tid, EOJ_SMART_METER, EOJ_CONTROLLER, esv, tuple(props)).encode()

    def _next_tid(self) -> int:
        self._tid = (self._tid + 1) & 0xFFFF
        return self._tid

    # --- answering -------------------------------------------------------------------
    def handle(self, payload: bytes) -> list[bytes]:
        """One UDP payload to port 0E1A in, the meter's answers out (usually 0 or 1)."""
        try:
            request = Frame.decode(payload)
        except EchonetFormatError:
            return []
        deoj = request.deoj
        if deoj >> 8 == EOJ_SMART_METER >> 8 and deoj & 0xFF in (0, 1):
            target, obj = self.props, EOJ_SMART_METER  # instance 0 means "all instances"
        elif deoj in (EOJ_NODE_PROFILE, 0x0EF000):
            target, obj = self.node, EOJ_NODE_PROFILE
        else:
            return []
        self.requests += 1
        if request.esv == ESV.INFC_RES:
            self._infc_answered(request)
            return []
        if request.esv in (ESV.GET, ESV.INF_REQ):
            return [self._get(request, target, obj)]
        if request.esv in (ESV.SETC, ESV.SETI):
            answer = self._set(request, target, obj)
            return [answer] if answer else []
        return []

    def _get(self, request: Frame, target: Any, obj: int) -> bytes:
        via = "get" if request.esv == ESV.GET else "inf_req"
        props, ok = [], True
        for p in request.properties:
            served = target.get(p.epc)
            if served is not None and obj == EOJ_SMART_METER:
                self.served_log.write(p.epc, served, self.clock.now_dt(), via)
            if served is None or served.edt is None:
                ok = False
                props.append(Property(p.epc))
            else:
                props.append(Property(p.epc, served.edt))
        answered = ESV.GET_RES if request.esv == ESV.GET else ESV.INF
        esv = answered if ok else _SNA[ESV(request.esv)]
        return Frame(request.tid, obj, request.seoj, esv, tuple(props)).encode()

    def _set(self, request: Frame, target: Any, obj: int) -> bytes | None:
        props, ok = [], True
        for p in request.properties:
            if target.set(p.epc, p.edt):
                props.append(Property(p.epc))
            else:
                ok = False
                props.append(Property(p.epc, p.edt))  # a refused Set returns what was sent
        if ok and request.esv == ESV.SETI:
            return None
        esv = ESV.SET_RES if ok else _SNA[ESV(request.esv)]
        return Frame(request.tid, obj, request.seoj, esv, tuple(props)).encode()

    def _infc_answered(self, answer: Frame) -> None:
        for record in self.infc:
            if record["tid"] == answer.tid and not record["answered"]:
                epcs = [f"{p.epc:02X}" for p in answer.properties]
                record["answered"] = True
                record["valid"] = epcs == record["epcs"] and all(
                    not p.edt for p in answer.properties
                )
                record["answered_at"] = self.clock.now_dt().isoformat()
                log.info("INFC %04X answered (%s)", answer.tid, record["valid"])
                return
        log.info("INFC_Res for unknown TID %04X", answer.tid)
