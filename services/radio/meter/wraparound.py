"""E0/E3 counters wrap at 10^D7 (research notes §4.4; no other project handles it).

The radio publishes the counter as the meter reads it (the CSV must say what the meter said),
so a wrap shows as a drop from 99999.9 to 0.3 kWh.  Consumption across it is
``(new − old) mod 10^D7`` units, never the negative difference.  This watch flags each wrap
(a counter and a log line saying how much was really consumed) and tells a wrap from a
counter that went back for another reason (a replaced meter), which is flagged too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from common.echonet import Scaling

log = logging.getLogger("radio.meter")

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
    if current >= previous:
        return Step(epc, previous, current, current - previous, False)
    if digits is None:
        return Step(epc, previous, current, None, False)
    modulus = 10**digits
    delta = (current - previous) % modulus
    if delta > modulus * _PLAUSIBLE_SHARE:
        return Step(epc, previous, current, None, False)
    return Step(epc, previous, current, delta, True)


class CounterWatch:
    def __init__(self, on_wrap: Callable[[Step], None]) -> None:
        self.on_wrap = on_wrap
        self._last: dict[str, int] = {}

    def observe(self, epc: str, raw: int, scaling: Scaling) -> Step | None:
        previous = self._last.get(epc)
        self._last[epc] = raw
        if previous is None:
            return None
        s = step(epc, previous, raw, scaling.digits)
        if s.wrapped:
            assert s.delta is not None
            log.warning(
                "%s wrapped at 10^%s (%d → %d): %s kWh consumed across the wrap, not a drop",
                epc, scaling.digits, previous, raw, scaling.kwh(s.delta),
            )  # fmt: skip
            self.on_wrap(s)
        elif s.delta is None:
            log.warning(
                "%s went back from %d to %d: not a wrap at 10^%s (a replaced meter?); "
                "no consumption is derived across it",
                epc, previous, raw, scaling.digits,
            )  # fmt: skip
            self.on_wrap(s)
        return s
