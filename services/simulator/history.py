"""Energy values with a time attached: EA/EB, E2/E4 (by E5 day), EC (by ED), D0, EE (by EF).

All of them read the same :class:`Counters`, so a half-hour in E2 equals EA at that
half-hour and E0 at that instant.  Layouts follow research notes §4.4 and momonga's parsers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.simulator.meter_model import (
    JST,
    NO_MEASUREMENT,
    EnergyModel,
    Register,
    half_hour_floor,
    local_midnight,
)

Decoded = dict[str, float | None]
HISTORY_DAYS = 99  # E5 selects day 0 (today) … 99


@dataclass(frozen=True)
class Served:
    """One property's EDT and what it means; ``edt`` None = refused (Get_SNA)."""

    edt: bytes | None
    decoded: Decoded | None = None
    value_time: datetime | None = None


class Counters:
    """Raw E0/E3 counters at any meter time, or FFFFFFFE when there is no measurement."""

    def __init__(
        self, model: EnergyModel, register: Register, available: Callable[[], bool]
    ) -> None:
        self.model = model
        self.register = register
        self.available = available

    def raw(self, t: float, reverse: bool) -> int:
        if not self.available():
            return NO_MEASUREMENT
        return self.register.raw(self.model.energy(t)[1 if reverse else 0])

    def kwh(self, raw: int) -> float | None:
        return self.register.kwh(raw)


def stamp(t: float, seconds: bool = True) -> bytes:
    """``YYYY MM DD hh mm [ss]`` in meter local time."""
    d = datetime.fromtimestamp(t, JST)
    out = d.year.to_bytes(2, "big") + bytes((d.month, d.day, d.hour, d.minute))
    return out + bytes((d.second,)) if seconds else out


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, JST).isoformat()


def fixed_time(c: Counters, now: float, reverse: bool) -> Served:
    slot = half_hour_floor(now)
    raw = c.raw(slot, reverse)
    return Served(stamp(slot) + raw.to_bytes(4, "big"), {"": c.kwh(raw)},
                  datetime.fromtimestamp(slot, JST))  # fmt: skip


def day_history(c: Counters, now: float, day: int, reverse: bool) -> Served:
    midnight = local_midnight(now, day)
    edt = bytearray(day.to_bytes(2, "big"))
    decoded: Decoded = {}
    for i in range(48):
        t = midnight + i * 1800
        raw = c.raw(t, reverse) if t <= now else NO_MEASUREMENT
        edt += raw.to_bytes(4, "big")
        decoded[iso(t)] = c.kwh(raw)
    return Served(bytes(edt), decoded, datetime.fromtimestamp(midnight, JST))


def _pairs(c: Counters, now: float, first: float, count: int, step: int) -> tuple[bytes, Decoded]:
    edt = bytearray()
    decoded: Decoded = {}
    for i in range(count):
        t = first - i * step
        for reverse, name in ((False, "normal"), (True, "reverse")):
            raw = c.raw(t, reverse) if t <= now else NO_MEASUREMENT
            edt += raw.to_bytes(4, "big")
            decoded[f"{iso(t)}/{name}"] = c.kwh(raw)
    return bytes(edt), decoded


def history_2(c: Counters, now: float, setting: bytes) -> Served:
    """EC: from ED's time (or the latest half-hour when unset) back N half-hours."""
    first, count = _read_setting(setting, now, 1800)
    body, decoded = _pairs(c, now, first, count, 1800)
    return Served(stamp(first, seconds=False) + bytes((count,)) + body, decoded,
                  datetime.fromtimestamp(first, JST))  # fmt: skip


def history_3(c: Counters, now: float, setting: bytes) -> Served:
    """EE: from EF's time (or the latest minute when unset) back N minutes."""
    first, count = _read_setting(setting, now, 60)
    body, decoded = _pairs(c, now, first, count, 60)
    return Served(stamp(first, seconds=False) + bytes((count,)) + body, decoded,
                  datetime.fromtimestamp(first, JST))  # fmt: skip


def one_minute(c: Counters, now: float) -> Served:
    """D0: both counters at the latest whole minute."""
    t = now - now % 60
    body, _ = _pairs(c, now, t, 1, 60)
    fwd, rev = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big")
    decoded: Decoded = {"forward": c.kwh(fwd), "reverse": c.kwh(rev)}  # the radio's dataids
    return Served(stamp(t) + body, decoded, datetime.fromtimestamp(t, JST))


def unset_setting(count: int) -> bytes:
    return b"\xff" * 6 + bytes((count,))


def valid_setting(edt: bytes, step: int, max_count: int) -> bool:
    """ED/EF as written by SetC: ``YYYY MM DD hh mm N`` or FFFF… for "latest"."""
    if len(edt) != 7 or not 1 <= edt[6] <= max_count:
        return False
    if edt[:6] == b"\xff" * 6:
        return True
    try:
        d = datetime(int.from_bytes(edt[:2], "big"), edt[2], edt[3], edt[4], edt[5])
    except ValueError:
        return False
    return d.minute % (step // 60) == 0 if step == 1800 else True


def _read_setting(setting: bytes, now: float, step: int) -> tuple[float, int]:
    count = setting[6]
    if setting[:6] == b"\xff" * 6:
        return now - now % step, count
    year = int.from_bytes(setting[:2], "big")
    d = datetime(year, setting[2], setting[3], setting[4], setting[5], tzinfo=JST)
    return d.timestamp(), count
