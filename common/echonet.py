"""ECHONET Lite frames and the low-voltage smart meter's (class 0x0288) property values.

Everything here parses bytes that come from outside (the meter, over the radio), so every
malformed input raises :class:`EchonetFormatError` and nothing else.  Value rules follow the
B-route research notes §4.3/§4.4 (ECHONET Lite Appendix, "low-voltage smart electric energy
meter" class).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

EHD = b"\x10\x81"  # ECHONET Lite, specified message format (format 1)

EOJ_CONTROLLER = 0x05FF01
EOJ_SMART_METER = 0x028801
EOJ_NODE_PROFILE = 0x0EF001


class EchonetFormatError(Exception):
    """A byte string is not a valid ECHONET Lite frame or property value."""


class ESV(enum.IntEnum):
    SETI = 0x60
    SETC = 0x61
    GET = 0x62
    INF_REQ = 0x63
    SETGET = 0x6E
    SET_RES = 0x71
    GET_RES = 0x72
    INF = 0x73
    INFC = 0x74
    INFC_RES = 0x7A
    SETGET_RES = 0x7E
    SETI_SNA = 0x50
    SETC_SNA = 0x51
    GET_SNA = 0x52
    INF_SNA = 0x53
    SETGET_SNA = 0x5E


# SetGet and its answers carry two property lists (the Set part, then the Get part).
_TWO_LISTS = {ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA}


@dataclass(frozen=True)
class Property:
    epc: int
    edt: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.epc <= 0xFF:
            raise EchonetFormatError(f"EPC {self.epc!r} is not a byte")
        if len(self.edt) > 0xFF:
            raise EchonetFormatError(f"EPC {self.epc:02X}: EDT of {len(self.edt)} bytes (max 255)")


@dataclass(frozen=True)
class Frame:
    tid: int
    seoj: int
    deoj: int
    esv: int
    properties: tuple[Property, ...] = ()
    # Only for SetGet-family ESVs: the second (Get) property list.
    get_properties: tuple[Property, ...] = field(default=())

    def __post_init__(self) -> None:
        if not 0 <= self.tid <= 0xFFFF:
            raise EchonetFormatError(f"TID {self.tid!r} out of range")
        for eoj in (self.seoj, self.deoj):
            if not 0 <= eoj <= 0xFFFFFF:
                raise EchonetFormatError(f"EOJ {eoj!r} out of range")
        if not 0 <= self.esv <= 0xFF:
            raise EchonetFormatError(f"ESV {self.esv!r} out of range")
        if len(self.properties) > 0xFF or len(self.get_properties) > 0xFF:
            raise EchonetFormatError("more than 255 properties in one list")
        if self.get_properties and self.esv not in _TWO_LISTS:
            raise EchonetFormatError(f"ESV {self.esv:02X} carries a single property list")

    def encode(self) -> bytes:
        out = bytearray(EHD)
        out += self.tid.to_bytes(2, "big")
        out += self.seoj.to_bytes(3, "big") + self.deoj.to_bytes(3, "big")
        out.append(self.esv)
        lists = [self.properties]
        if self.esv in _TWO_LISTS:
            lists.append(self.get_properties)
        for plist in lists:
            out.append(len(plist))
            for prop in plist:
                out += bytes((prop.epc, len(prop.edt))) + prop.edt
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Frame:
        data = bytes(data)
        if len(data) < 12:
            raise EchonetFormatError(f"frame of {len(data)} bytes is shorter than 12")
        if data[:2] != EHD:
            raise EchonetFormatError(f"EHD {data[:2].hex().upper()} is not 1081")
        tid = int.from_bytes(data[2:4], "big")
        seoj = int.from_bytes(data[4:7], "big")
        deoj = int.from_bytes(data[7:10], "big")
        esv = data[10]
        pos = 11
        lists: list[tuple[Property, ...]] = []
        for _ in range(2 if esv in _TWO_LISTS else 1):
            if pos >= len(data):
                raise EchonetFormatError("frame ends before its OPC")
            opc = data[pos]
            pos += 1
            props = []
            for _ in range(opc):
                if pos + 2 > len(data):
                    raise EchonetFormatError("frame ends inside a property header")
                epc, pdc = data[pos], data[pos + 1]
                pos += 2
                if pos + pdc > len(data):
                    raise EchonetFormatError(f"EPC {epc:02X}: PDC {pdc} runs past the frame")
                props.append(Property(epc, data[pos : pos + pdc]))
                pos += pdc
            lists.append(tuple(props))
        if pos != len(data):
            raise EchonetFormatError(f"{len(data) - pos} trailing bytes after the properties")
        return cls(tid, seoj, deoj, esv, lists[0], lists[1] if len(lists) > 1 else ())


def get_request(tid: int, epcs: list[int], deoj: int = EOJ_SMART_METER) -> Frame:
    """A controller's Get for ``epcs`` (PDC 0 each)."""
    return Frame(tid, EOJ_CONTROLLER, deoj, ESV.GET, tuple(Property(e) for e in epcs))


# --- property names ---------------------------------------------------------------------

# Short names for the smart meter's properties, usable in settings.yml instead of the hex EPC.
EPC_NAMES: dict[int, str] = {
    0x80: "operation_status",
    0x82: "standard_version",
    0x88: "fault_status",
    0x8A: "manufacturer_code",
    0x8D: "serial_number",
    0x9D: "inf_property_map",
    0x9E: "set_property_map",
    0x9F: "get_property_map",
    0xC0: "route_b_id",
    0xD0: "one_minute_energy",
    0xD3: "coefficient",
    0xD7: "effective_digits",
    0xE0: "cumulative_energy_normal",
    0xE1: "energy_unit",
    0xE2: "history_normal",
    0xE3: "cumulative_energy_reverse",
    0xE4: "history_reverse",
    0xE5: "history_day",
    0xE7: "instantaneous_power",
    0xE8: "instantaneous_current",
    0xEA: "fixed_time_energy_normal",
    0xEB: "fixed_time_energy_reverse",
    0xEC: "history_2",
    0xED: "history_2_request",
    0xEE: "history_3",
    0xEF: "history_3_request",
}

# Properties whose values become readings (numbers with a unit) and can be polled.
# D0 (Release R meters only) is opt-in: it is asked for only where settings name it.
MEASURABLE_EPCS: frozenset[int] = frozenset(
    {0xD0, 0xD3, 0xD7, 0xE1, 0xE0, 0xE3, 0xE7, 0xE8, 0xEA, 0xEB}
)


_HEX_BYTE = re.compile(r"[0-9A-Fa-f]{2}")


def parse_epc(text: str) -> int:
    """``"E7"``, ``"0xE7"`` or ``"instantaneous_power"`` → 0xE7; ValueError if unknown."""
    t = str(text).strip()
    by_name = {v: k for k, v in EPC_NAMES.items()}
    if t.lower() in by_name:
        return by_name[t.lower()]
    hexpart = t[2:] if t.lower().startswith("0x") else t
    # Exactly two ASCII hex digits: int(..., 16) alone would also take "-1", "+F", " F" or
    # non-ASCII digits, and "-1" would come back as the EPC -1.
    if _HEX_BYTE.fullmatch(hexpart):
        return int(hexpart, 16)
    raise ValueError(t)


# --- property values --------------------------------------------------------------------

ENERGY_UNITS: dict[int, Decimal] = {
    0x00: Decimal("1"),
    0x01: Decimal("0.1"),
    0x02: Decimal("0.01"),
    0x03: Decimal("0.001"),
    0x04: Decimal("0.0001"),
    0x0A: Decimal("10"),
    0x0B: Decimal("100"),
    0x0C: Decimal("1000"),
    0x0D: Decimal("10000"),
}

NO_ENERGY_MEASUREMENT = 0xFFFFFFFE
_CURRENT_NO_PHASE = 0x7FFE  # T phase of a single-phase two-wire installation
_CURRENT_OVERFLOW = 0x7FFF
_CURRENT_UNDERFLOW = 0x8000
_POWER_SENTINELS = {0x7FFFFFFF, 0x80000000, 0x7FFFFFFE}


def _need(epc: int, edt: bytes, size: int) -> None:
    if len(edt) != size:
        raise EchonetFormatError(f"EPC {epc:02X}: {len(edt)} bytes, expected {size}")


@dataclass(frozen=True)
class Scaling:
    """What turns a raw E0/E3/EA/EB count into kWh: raw × unit (E1) × coefficient (D3)."""

    coefficient: int = 1
    unit_kwh: Decimal = Decimal(1)
    digits: int | None = None  # D7: the raw counter wraps at 10**digits

    def kwh(self, raw: int) -> float:
        return float(Decimal(raw) * self.unit_kwh * self.coefficient)


@dataclass(frozen=True)
class Measurement:
    """One value decoded from a property; ``ts`` is the meter's own time (EA/EB) if any."""

    dataid: str
    value: float | None
    ts: datetime | None = None


def decode_coefficient(edt: bytes) -> int:
    _need(0xD3, edt, 4)
    value = int.from_bytes(edt, "big")
    if not 1 <= value <= 999999:
        raise EchonetFormatError(f"EPC D3: coefficient {value} outside 1..999999")
    return value


def decode_digits(edt: bytes) -> int:
    _need(0xD7, edt, 1)
    if not 1 <= edt[0] <= 8:
        raise EchonetFormatError(f"EPC D7: {edt[0]} effective digits outside 1..8")
    return edt[0]


def decode_unit(edt: bytes) -> Decimal:
    _need(0xE1, edt, 1)
    try:
        return ENERGY_UNITS[edt[0]]
    except KeyError:
        raise EchonetFormatError(f"EPC E1: unknown unit code {edt[0]:02X}") from None


def decode_power(edt: bytes) -> int | None:
    """E7: signed W (negative = export); None for the overflow/underflow/no-data codes."""
    _need(0xE7, edt, 4)
    if int.from_bytes(edt, "big") in _POWER_SENTINELS:
        return None
    return int.from_bytes(edt, "big", signed=True)


def decode_current(edt: bytes) -> tuple[float | None, float | None]:
    """E8: (R, T) in A; T is None on single-phase two-wire (7FFE), either None on 7FFF/8000."""
    _need(0xE8, edt, 4)
    out: list[float | None] = []
    for half in (edt[:2], edt[2:]):
        raw = int.from_bytes(half, "big")
        if raw in (_CURRENT_NO_PHASE, _CURRENT_OVERFLOW, _CURRENT_UNDERFLOW):
            out.append(None)
        else:
            out.append(int.from_bytes(half, "big", signed=True) / 10)
    return out[0], out[1]


def decode_energy_raw(epc: int, edt: bytes) -> int | None:
    """E0/E3: the raw counter, None for FFFFFFFE (no measurement)."""
    _need(epc, edt, 4)
    raw = int.from_bytes(edt, "big")
    if raw == NO_ENERGY_MEASUREMENT:
        return None
    if raw > 99999999:
        raise EchonetFormatError(f"EPC {epc:02X}: counter {raw} exceeds 8 digits")
    return raw


def decode_meter_time(epc: int, edt: bytes) -> datetime:
    """The 7-byte ``YYYY MM DD hh mm ss`` of EA/EB/D0 (naive, meter local time)."""
    if len(edt) < 7:
        raise EchonetFormatError(f"EPC {epc:02X}: meter time needs 7 bytes, got {len(edt)}")
    year = int.from_bytes(edt[:2], "big")
    try:
        return datetime(year, edt[2], edt[3], edt[4], edt[5], edt[6])
    except ValueError as exc:
        raise EchonetFormatError(f"EPC {epc:02X}: invalid meter time {edt[:7].hex()}") from exc


def decode_fixed_time_energy(epc: int, edt: bytes) -> tuple[datetime, int | None]:
    """EA/EB: (meter time, raw counter or None)."""
    _need(epc, edt, 11)
    return decode_meter_time(epc, edt[:7]), decode_energy_raw(epc, edt[7:])


def decode_one_minute_energy(edt: bytes) -> tuple[datetime, int | None, int | None]:
    """D0 (Release R): (meter time, forward raw, reverse raw), either raw None for FFFFFFFE.

    15 bytes: ``YYYY MM DD`` + ``hh mm ss`` of the latest whole minute, then the forward and
    reverse counters, the same raw counts as E0/E3 (scaled by D3 × E1, wrapping at 10^D7).
    """
    _need(0xD0, edt, 15)
    return (decode_meter_time(0xD0, edt[:7]), decode_energy_raw(0xD0, edt[7:11]),
            decode_energy_raw(0xD0, edt[11:]))  # fmt: skip


def decode_property_map(epc: int, edt: bytes) -> frozenset[int]:
    """9D/9E/9F: a list when fewer than 16 entries, else a 16-byte bitmap."""
    if not edt:
        raise EchonetFormatError(f"EPC {epc:02X}: empty property map")
    count = edt[0]
    if count < 16:
        _need(epc, edt, 1 + count)
        return frozenset(edt[1:])
    _need(epc, edt, 17)
    found = {
        0x80 + 0x10 * bit + i for i in range(16) for bit in range(8) if edt[1 + i] & (1 << bit)
    }
    if len(found) != count:
        raise EchonetFormatError(f"EPC {epc:02X}: bitmap has {len(found)} bits, count {count}")
    return frozenset(found)


def decode_measurements(epc: int, edt: bytes, scaling: Scaling) -> list[Measurement]:
    """Decode one polled property into readings (value None = the meter has no value)."""
    if epc == 0xD3:
        return [Measurement("", float(decode_coefficient(edt)))]
    if epc == 0xD7:
        return [Measurement("", float(decode_digits(edt)))]
    if epc == 0xE1:
        return [Measurement("", float(decode_unit(edt)))]
    if epc == 0xE7:
        power = decode_power(edt)
        return [Measurement("", None if power is None else float(power))]
    if epc == 0xE8:
        r, t = decode_current(edt)
        return [Measurement("R", r), Measurement("T", t)]
    if epc in (0xE0, 0xE3):
        raw = decode_energy_raw(epc, edt)
        return [Measurement("", None if raw is None else scaling.kwh(raw))]
    if epc in (0xEA, 0xEB):
        when, raw = decode_fixed_time_energy(epc, edt)
        return [Measurement("", None if raw is None else scaling.kwh(raw), when)]
    if epc == 0xD0:
        when, forward, reverse = decode_one_minute_energy(edt)
        return [Measurement(name, None if raw is None else scaling.kwh(raw), when)
                for name, raw in (("forward", forward), ("reverse", reverse))]  # fmt: skip
    raise EchonetFormatError(f"EPC {epc:02X} is not a measurable property")
