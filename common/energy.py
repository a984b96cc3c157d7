"""E0/E3 (and EA/EB) counters: what was consumed between two readings, across a wrap.

The meter's counter is ``raw`` units of ``unit (E1) × coefficient (D3)`` kWh and wraps at
``10^D7`` raw units (research notes §4.4).  The radio publishes the counter as the meter read
it (the CSV must say what the meter said), so a wrap shows as a drop from 99999.9 to 0.3 kWh.
Consumption across it is ``(new − old) mod 10^D7`` units, never the negative difference; a
big step backwards is a reset (a replaced meter), not a trip round the dial, and nothing is
derived across it.

Shared by the radio (which flags each wrap as it reads it) and health (which turns the
CSV's kWh values into daily and half-hourly energy).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from common.echonet import Scaling

# A wrap is only believable when the consumption it implies is small next to the counter's
# range; a big step backwards is a reset (a new meter), not a trip round the dial.
_PLAUSIBLE_SHARE = 0.1


@dataclass(frozen=True)
class Step:
    epc: str  # "E0", "E3", "D0 forward", "D0 reverse"
    previous: int
    current: int
    delta: int | None  # raw units consumed since the previous reading; None if unknowable
    wrapped: bool


def step(epc: str, previous: int, current: int, digits: int | None) -> Step:
    """From one raw counter value to the next: the raw units consumed in between."""
    if current >= previous:
        return Step(epc, previous, current, current - previous, False)
    if digits is None:
        return Step(epc, previous, current, None, False)
    modulus = 10**digits
    delta = (current - previous) % modulus
    if delta > modulus * _PLAUSIBLE_SHARE:
        return Step(epc, previous, current, None, False)
    return Step(epc, previous, current, delta, True)


def raw_units(kwh: float, scaling: Scaling) -> int | None:
    """A scaled kWh value (as the CSV and the bus carry it) back to the meter's raw count."""
    try:
        return int((Decimal(repr(kwh)) / (scaling.unit_kwh * scaling.coefficient)).to_integral())
    except (InvalidOperation, ZeroDivisionError, ValueError):
        return None


def kwh_between(epc: str, previous: float, current: float, scaling: Scaling) -> float | None:
    """kWh consumed from the counter value ``previous`` to ``current`` (both scaled kWh);
    None when it cannot be known (a step back that is not a wrap)."""
    if current >= previous:
        return current - previous
    before, after = raw_units(previous, scaling), raw_units(current, scaling)
    if before is None or after is None:
        return None
    s = step(epc, before, after, scaling.digits)
    return None if s.delta is None else scaling.kwh(s.delta)


def wrap_kwh(scaling: Scaling) -> float | None:
    """The counter's range in kWh (where it wraps), None when D7 is not known."""
    if scaling.digits is None:
        return None
    return scaling.kwh(10**scaling.digits)


def scaling_from_values(coefficient: float | None, unit_kwh: float | None,
                        digits: float | None) -> Scaling:  # fmt: skip
    """A :class:`Scaling` from D3/E1/D7 readings as the CSV and the bus carry them (floats);
    what is missing keeps the meter's default (coefficient 1, unit 1 kWh, digits unknown)."""
    return Scaling(
        coefficient=int(coefficient) if coefficient else 1,
        unit_kwh=Decimal(repr(unit_kwh)) if unit_kwh else Decimal(1),
        digits=int(digits) if digits else None,
    )
