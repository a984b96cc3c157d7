"""E0/E3 counters wrap at 10^D7 (research notes §4.4; no other project handles it).

The radio publishes the counter as the meter reads it (the CSV must say what the meter said),
so a wrap shows as a drop from 99999.9 to 0.3 kWh.  This watch flags each wrap (a counter
and a log line saying how much was really consumed) and tells a wrap from a counter that went
back for another reason (a replaced meter), which is flagged too.  The arithmetic itself
(:func:`common.energy.step`) is shared with health, which turns the CSV into daily kWh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from common.echonet import Scaling
from common.energy import Step, step

log = logging.getLogger("radio.meter")


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
