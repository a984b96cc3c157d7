"""The physical truth behind the simulated meter: its clock, the household's power, the counters.

Power is a deterministic function of meter time (a seed picks the noise and the weather),
linear between one-minute knots.  Energy is its exact integral, import and export apart, so
E7, E0/E3, EA/EB and 99 days of E2/E4 history all tell one consistent story, and any
half-hour of the past can be recomputed.  Nothing here uses the logger's decoders.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
KNOT = 60  # seconds between power knots
NO_MEASUREMENT = 0xFFFFFFFE


class MeterClock:
    """Meter time runs ``scale`` times faster than real time, from ``start``."""

    def __init__(
        self,
        start: datetime | None = None,
        scale: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._monotonic = monotonic
        self._t0 = monotonic()
        self.start = (start or datetime.now(JST)).timestamp()

    def now(self) -> float:
        """Meter time as POSIX seconds."""
        return self.start + (self._monotonic() - self._t0) * self.scale

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), JST)

    def real_seconds(self, meter_seconds: float) -> float:
        return meter_seconds / self.scale


def _unit_hash(seed: int, k: int, salt: int) -> float:
    """A uniform number in [0, 1) from (seed, k, salt): splitmix64, cheap and stateless."""
    z = (seed * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & (
        2**64 - 1
    )
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    z ^= z >> 31
    return (z >> 11) / float(1 << 53)


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


class PowerCurve:
    """A household with morning and evening peaks, appliance spikes, and rooftop solar."""

    def __init__(self, seed: int = 1, solar: bool = True) -> None:
        self.seed = seed
        self.solar = solar

    def knot(self, k: int) -> float:
        t = k * KNOT + 9 * 3600  # JST
        day, second = divmod(t, 86400)
        hour = second / 3600
        load = 220 + 380 * _bump(hour, 7.5, 1.3) + 650 * _bump(hour, 19.5, 2.2)
        load += 160 * _bump(hour, 12.3, 0.8)
        load += (_unit_hash(self.seed, k, 1) - 0.5) * 140
        if _unit_hash(self.seed, k, 2) < 0.03:  # kettle, microwave, hair dryer
            load += 1100
        pv = 0.0
        if self.solar and 6 <= hour <= 18:
            weather = 0.25 + 0.75 * _unit_hash(self.seed, day, 3)
            pv = 3000 * weather * math.sin(math.pi * (hour - 6) / 12)
        return load - pv


def _segment(a: float, b: float, seconds: float) -> tuple[float, float]:
    """(import Wh, export Wh) of power going linearly from a to b W over ``seconds``."""
    if a >= 0 and b >= 0:
        return (a + b) / 2 * seconds / 3600, 0.0
    if a <= 0 and b <= 0:
        return 0.0, -(a + b) / 2 * seconds / 3600
    f = a / (a - b)  # where the line crosses zero
    first, second = abs(a) * f * seconds / 2 / 3600, abs(b) * (1 - f) * seconds / 2 / 3600
    return (first, second) if a > 0 else (second, first)


class EnergyModel:
    """Cumulative import/export kWh at any meter time; ``None`` before the meter existed."""

    def __init__(
        self, curve: PowerCurve, start: float, import_kwh: float, export_kwh: float
    ) -> None:
        self.curve = curve
        self._k0 = math.floor(start / KNOT)
        # kWh at knot k0; the counters below are offsets from it, extended lazily both ways.
        p_imp, p_exp = self._partial(self._k0, start)
        self._base = (import_kwh - p_imp / 1000, export_kwh - p_exp / 1000)
        self._fwd: list[tuple[float, float]] = [(0.0, 0.0)]  # Wh from k0 to k0+i
        self._bwd: list[tuple[float, float]] = [(0.0, 0.0)]  # Wh from k0-i to k0

    def power(self, t: float) -> float:
        k = math.floor(t / KNOT)
        a, b = self.curve.knot(k), self.curve.knot(k + 1)
        return a + (b - a) * (t - k * KNOT) / KNOT

    def energy(self, t: float) -> tuple[float | None, float | None]:
        k = math.floor(t / KNOT)
        imp, exp = self._cumulative(k)
        p_imp, p_exp = self._partial(k, t)
        out = (self._base[0] + (imp + p_imp) / 1000, self._base[1] + (exp + p_exp) / 1000)
        return tuple(v if v >= 0 else None for v in out)  # type: ignore[return-value]

    def _partial(self, k: int, t: float) -> tuple[float, float]:
        dt = t - k * KNOT
        if dt <= 0:
            return 0.0, 0.0
        a = self.curve.knot(k)
        b = a + (self.curve.knot(k + 1) - a) * dt / KNOT
        return _segment(a, b, dt)

    def _cumulative(self, k: int) -> tuple[float, float]:
        i = k - self._k0
        if i >= 0:
            while len(self._fwd) <= i:
                j = self._k0 + len(self._fwd) - 1
                imp, exp = _segment(self.curve.knot(j), self.curve.knot(j + 1), KNOT)
                last = self._fwd[-1]
                self._fwd.append((last[0] + imp, last[1] + exp))
            return self._fwd[i]
        while len(self._bwd) <= -i:
            j = self._k0 - len(self._bwd)
            imp, exp = _segment(self.curve.knot(j), self.curve.knot(j + 1), KNOT)
            last = self._bwd[-1]
            self._bwd.append((last[0] + imp, last[1] + exp))
        back = self._bwd[-i]
        return -back[0], -back[1]


UNIT_CODES: dict[Decimal, int] = {
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


@dataclass(frozen=True)
class Register:
    """How the meter turns kWh into its raw counter: units of E1×D3, wrapping at 10**D7."""

    unit_kwh: Decimal = Decimal("0.1")
    coefficient: int = 1
    digits: int = 6

    def raw(self, kwh: float | None) -> int:
        if kwh is None:
            return NO_MEASUREMENT
        step = self.unit_kwh * self.coefficient
        return int(Decimal(repr(kwh)) / step) % (10**self.digits)

    def kwh(self, raw: int) -> float | None:
        if raw == NO_MEASUREMENT:
            return None
        return float(Decimal(raw) * self.unit_kwh * self.coefficient)


def half_hour_floor(t: float) -> float:
    return math.floor(t / 1800) * 1800


def local_midnight(t: float, days_back: int = 0) -> float:
    day = datetime.fromtimestamp(t, JST).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day - timedelta(days=days_back)).timestamp()
