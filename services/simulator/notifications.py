"""The half-hourly EA/EB announcement: within 5 minutes after :00 and :30 of meter time.

Sent as INF or INFC (``--notify``); an INFC is recorded with whether an INFC_Res came back.
Only a host in session hears it.  When the meter clock runs fast enough to skip several
half-hours between two ticks, only the latest is announced, as a meter would.
"""

from __future__ import annotations

import logging
import random

from common.echonet import ESV
from services.simulator.meter import SimulatedMeter
from services.simulator.meter_model import MeterClock, half_hour_floor
from services.simulator.pana import Pana

log = logging.getLogger("simulator.notify")

MODES = {"inf": ESV.INF, "infc": ESV.INFC, "off": None}


class Notifier:
    def __init__(
        self,
        meter: SimulatedMeter,
        pana: Pana,
        clock: MeterClock,
        mode: str = "inf",
        delay: float | None = None,
        seed: int = 1,
    ) -> None:
        self.meter = meter
        self.pana = pana
        self.clock = clock
        self.delay = delay  # meter seconds after the boundary; None: random in 5…290
        self._rng = random.Random(seed)
        self.mode = "off"
        self.set_mode(mode)
        self.sent = 0
        self._slot = half_hour_floor(clock.now())  # the boundary before start is history
        self._delay = 0.0
        self._due = self._next_due()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"notify mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        esv = MODES[mode]
        if esv is not None:
            self.meter.notify_esv = esv

    def _next_due(self) -> float:
        self._delay = self.delay if self.delay is not None else self._rng.uniform(5, 290)
        return self._slot + 1800 + self._delay

    def tick(self) -> None:
        now = self.clock.now()
        if now < self._due:
            return
        self._slot = half_hour_floor(now - self._delay)  # the boundary being announced
        self._due = self._next_due()
        if self.mode != "off":
            self.send()

    def send(self, esv: int | None = None) -> bool:
        """Announce EA/EB now; False if nobody was in session to hear it."""
        if not self.pana.established:
            log.info("EA/EB notification skipped: no session")
            return False
        esv = esv or MODES.get(self.mode) or ESV.INF
        sent = self.pana.from_meter(self.meter.notification(esv))
        self.sent += sent
        return sent
