"""How long the radio waits for each thing, in one place, and the backoff between attempts.

The defaults are for a real dongle and meter.  Against the built-in simulator (which answers
in milliseconds) the tests shrink every wait by ``SMARTMETER_RADIO_TIME_SCALE``; it is
ignored for a real serial port, so it can never make the radio impatient with a real meter.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from dataclasses import dataclass

from common.config import Config

log = logging.getLogger("radio")

TIME_SCALE_VARIABLE = "SMARTMETER_RADIO_TIME_SCALE"
_UNSCALED = {"late_epandesc", "scale"}


@dataclass(frozen=True)
class Timing:
    command: float = 5.0  # an ordinary SK command's OK
    sendto: float = 10.0  # SKSENDTO's OK
    response: float = 20.0  # AIF response timer 1: at least 20 s for a Get_Res
    retries: int = 1  # a Get is sent at most 1 + retries times
    failures_before_rejoin: int = 3  # unanswered Gets in a row that end the session
    join: float = 60.0  # SKJOIN's worst case is about 38 s (momonga)
    scan_margin: float = 10.0  # beyond the scan's own duration
    late_epandesc: float = 1.0  # EPANDESC may come after EVENT 22 (hsakoh waits 500 ms)
    # (not scaled: how late the blocks come is the firmware's business, not the meter's)
    after_term: float = 10.0  # SKJOIN right after SKTERM races the meter into EVENT 24
    term: float = 10.0  # SKTERM's EVENT 27/28
    resend_pause: float = 5.0  # after EVENT 21 01 (momonga waits 5 s before sending again)
    reauth_hold: float = 120.0  # the longest an EVENT 29 re-authentication may hold sends
    tx_limit_hold: float = 3600.0  # then try a send anyway, in case EVENT 33 was missed
    instance_list: float = 5.0  # the node profile's INF after a join (Smdn waits ~5 s)
    backoff_first: float = 5.0
    backoff_cap: float = 300.0
    device_poll: float = 1.0  # how often a missing device path is looked for
    scale: float = 1.0  # what every duration above was multiplied by

    def scaled(self, factor: float) -> Timing:
        changes = {
            f.name: getattr(self, f.name) * factor
            for f in dataclasses.fields(self)
            if f.type in ("float", float) and f.name not in _UNSCALED
        }
        changes["scale"] = self.scale * factor
        return dataclasses.replace(self, **changes)

    def scan_wait(self, duration: int) -> float:
        """An active scan's own duration (research notes §4.2) plus a margin."""
        return 0.0096 * (2**duration + 1) * 28 * self.scale + self.scan_margin


def timing_for(config: Config, environ: dict[str, str] | None = None) -> Timing:
    env = os.environ if environ is None else environ
    text = env.get(TIME_SCALE_VARIABLE, "").strip()
    if not text:
        return Timing()
    if not config.uses_simulator:
        log.warning("%s is only for the built-in simulator; ignored", TIME_SCALE_VARIABLE)
        return Timing()
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not 0.001 <= factor <= 1.0:
        log.warning("%s=%r is not a factor in 0.001…1; ignored", TIME_SCALE_VARIABLE, text)
        return Timing()
    log.info("simulator timing: every wait × %g", factor)
    return Timing().scaled(factor)


class Backoff:
    """Exponential delay with jitter between attempts; reset once readings flow again."""

    def __init__(self, first: float, cap: float, rng: random.Random | None = None) -> None:
        self.first, self.cap, self.attempt = first, cap, 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        # Jitter keeps many radios (or one radio and a flapping meter) from falling into step.
        return delay * self._rng.uniform(0.8, 1.0)

    def reset(self) -> None:
        self.attempt = 0
