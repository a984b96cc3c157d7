"""A plausible low-voltage smart meter (ECHONET Lite class 0x0288) behind the simulated dongle.

The meter owns the ground truth: its power curve, its energy counters and every value it
serves.  It encodes values with ``struct``-level arithmetic of its own (not with the logger's
decoder) and writes each served property to the served log, which tests compare the
logger's output against.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from common.echonet import (
    EOJ_NODE_PROFILE,
    EOJ_SMART_METER,
    ESV,
    EchonetFormatError,
    Frame,
    Property,
)

JST = ZoneInfo("Asia/Tokyo")
UNIT_CODES = {
    Decimal("1"): 0x00,
    Decimal("0.1"): 0x01,
    Decimal("0.01"): 0x02,
    Decimal("0.001"): 0x03,
    Decimal("0.0001"): 0x04,
    Decimal("10"): 0x0A,
    Decimal("100"): 0x0B,
    Decimal("1000"): 0x0C,
    Decimal("10000"): 0x0D,
}
GET_MAP = (0x80, 0x82, 0x88, 0x8A, 0x8D, 0x9D, 0x9E, 0x9F, 0xD3, 0xD7, 0xE0, 0xE1, 0xE3, 0xE7,
           0xE8, 0xEA, 0xEB)  # fmt: skip


@dataclass
class MeterModel:
    """The physical truth: power now and the energy counters that integrate it."""

    seed: int = 1
    coefficient: int = 1
    unit_kwh: Decimal = Decimal("0.1")
    digits: int = 6
    import_kwh: float = 12345.6
    export_kwh: float = 321.0
    three_phase: bool = True
    clock: Callable[[], float] = time.time
    _rng: random.Random = field(init=False)
    _last: float = field(init=False)
    _power: float = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._last = self.clock()
        self._power = self._sample_power(self._last)

    def _sample_power(self, t: float) -> float:
        # Household load with a slow swing, minus "solar" that sometimes exceeds it (export).
        load = 420 + 260 * math.sin(2 * math.pi * t / 900) + self._rng.uniform(-60, 60)
        solar = max(0.0, 900 * math.sin(2 * math.pi * t / 1500))
        return load - solar

    def advance(self) -> None:
        """Integrate energy up to now with the power held since the last step."""
        now = self.clock()
        hours = max(0.0, now - self._last) / 3600
        if self._power >= 0:
            self.import_kwh += self._power * hours / 1000
        else:
            self.export_kwh += -self._power * hours / 1000
        self._last = now
        self._power = self._sample_power(now)

    @property
    def power_w(self) -> int:
        self.advance()
        return round(self._power)

    def counter(self, kwh: float) -> int:
        """The raw E0/E3 count: kWh in units of E1×D3, wrapping at 10**D7."""
        step = self.unit_kwh * self.coefficient
        return int(Decimal(repr(kwh)) / step) % (10**self.digits)

    def counter_kwh(self, raw: int) -> float:
        return float(Decimal(raw) * self.unit_kwh * self.coefficient)


class SimulatedMeter:
    """Answers ECHONET Lite frames like a smart meter and logs what it served."""

    def __init__(
        self,
        model: MeterModel | None = None,
        served_log: Path | None = None,
        refuse_d3: bool = False,
    ) -> None:
        self.model = model or MeterModel()
        self.refuse_d3 = refuse_d3
        self._log: IO[str] | None = None
        if served_log:
            served_log.parent.mkdir(parents=True, exist_ok=True)
            self._log = served_log.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self._tid = 0

    def instance_list_inf(self) -> bytes:
        """The node profile's INF announcing the meter, sent right after a PANA join."""
        self._tid = (self._tid + 1) & 0xFFFF
        return Frame(
            self._tid, EOJ_NODE_PROFILE, EOJ_NODE_PROFILE, ESV.INF,
            (Property(0xD5, bytes.fromhex("01028801")),),
        ).encode()  # fmt: skip

    def handle(self, payload: bytes) -> bytes | None:
        """One UDP payload to port 0E1A in, the meter's answer (or None) out."""
        try:
            request = Frame.decode(payload)
        except EchonetFormatError:
            return None  # a real meter ignores what it cannot parse
        if request.deoj not in (EOJ_SMART_METER, EOJ_NODE_PROFILE) or request.esv != ESV.GET:
            return None
        with self._lock:
            answers = [self._get(p.epc) for p in request.properties]
        ok = all(edt is not None for edt in answers)
        props = tuple(
            Property(p.epc, edt or b"") for p, edt in zip(request.properties, answers, strict=True)
        )
        esv = ESV.GET_RES if ok else ESV.GET_SNA
        return Frame(request.tid, request.deoj, request.seoj, esv, props).encode()

    def _get(self, epc: int) -> bytes | None:
        m = self.model
        decoded: dict[str, float | None] | None = None
        edt: bytes | None
        if epc == 0xE7:
            w = m.power_w
            edt = w.to_bytes(4, "big", signed=True)
            decoded = {"": float(w)}
        elif epc in (0xE0, 0xE3):
            m.advance()
            raw = m.counter(m.import_kwh if epc == 0xE0 else m.export_kwh)
            edt = raw.to_bytes(4, "big")
            decoded = {"": m.counter_kwh(raw)}
        elif epc == 0xE8:
            w = m.power_w
            amps = abs(w) / 100  # 100 V
            r_raw = round(amps * 10 / (2 if m.three_phase else 1))
            t_raw = r_raw if m.three_phase else 0x7FFE
            edt = r_raw.to_bytes(2, "big") + t_raw.to_bytes(2, "big")
            decoded = {"R": r_raw / 10, "T": t_raw / 10 if m.three_phase else None}
        elif epc == 0xD3:
            if self.refuse_d3:
                self._served(epc, None, None)
                return None
            edt = m.coefficient.to_bytes(4, "big")
            decoded = {"": float(m.coefficient)}
        elif epc == 0xE1:
            edt = bytes((UNIT_CODES[m.unit_kwh],))
            decoded = {"": float(m.unit_kwh)}
        elif epc == 0xD7:
            edt = bytes((m.digits,))
            decoded = {"": float(m.digits)}
        elif epc in (0xEA, 0xEB):
            edt, decoded = self._fixed_time(epc)
        elif epc == 0x80:
            edt = b"\x30"
        elif epc == 0x8A:
            edt = bytes.fromhex("000016")
        elif epc == 0x8D:
            edt = b"SIM0000000000001"[:12].ljust(12, b" ")
        elif epc == 0x82:
            edt = bytes((0, 0, ord("F"), 0))
        elif epc == 0x88:
            edt = b"\x42"
        elif epc == 0x9F:
            edt = bytes((len(GET_MAP),)) + _bitmap(GET_MAP)
        elif epc == 0x9E:
            edt = bytes((1, 0xE5))
        elif epc == 0x9D:
            edt = bytes((3, 0x80, 0xEA, 0xEB))
        else:
            edt = None
        self._served(epc, edt, decoded)
        return edt

    def _fixed_time(self, epc: int) -> tuple[bytes, dict[str, float | None]]:
        m = self.model
        m.advance()
        now = datetime.fromtimestamp(m.clock(), JST)
        slot = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
        raw = m.counter(m.import_kwh if epc == 0xEA else m.export_kwh)
        edt = slot.year.to_bytes(2, "big") + bytes(
            (slot.month, slot.day, slot.hour, slot.minute, slot.second)
        ) + raw.to_bytes(4, "big")  # fmt: skip
        return edt, {"": m.counter_kwh(raw)}

    def _served(self, epc: int, edt: bytes | None, decoded: dict[str, float | None] | None) -> None:
        if self._log is None:
            return
        entry = {
            "time": datetime.now(JST).isoformat(timespec="milliseconds"),
            "epc": f"{epc:02X}",
            "raw": edt.hex().upper() if edt is not None else None,
            "decoded": decoded,
        }
        self._log.write(json.dumps(entry) + "\n")


def _bitmap(epcs: tuple[int, ...]) -> bytes:
    out = bytearray(16)
    for epc in epcs:
        out[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes(out)
