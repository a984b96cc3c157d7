"""The PANA session between the dongle and the meter: join, re-join, re-auth, termination.

The session lives in meter time: its lifetime runs out after ``lifetime`` meter seconds,
and then the dongle re-authenticates on its own (EVENT 29, then EVENT 25 or EVENT 24),
as with register S17 = 1 on hardware.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.simulator.faults import Faults
from services.simulator.meter import SimulatedMeter
from services.simulator.meter_model import MeterClock
from services.simulator.pans import Pan, RadioEnvironment
from services.simulator.sk_output import SkOutput

log = logging.getLogger("simulator.pana")

ECHONET_PORT = 0x0E1A
PANA_PORT = 0x02CC


@dataclass
class Timing:
    """Real-time delays in seconds; defaults are fast (tests), --realistic is hardware-like."""

    scan: float = 0.1
    join: float = 0.1
    answer: float = 0.02
    instance_list: float = 0.1
    scan_from_duration: bool = False  # 0.0096 s × (2^D + 1) × 28 channels

    @classmethod
    def realistic(cls) -> Timing:
        return cls(scan=17.5, join=3.0, answer=0.8, instance_list=3.0, scan_from_duration=True)

    def scan_time(self, duration: int) -> float:
        if self.scan_from_duration:
            return 0.0096 * (2**duration + 1) * 28
        return self.scan


@dataclass
class Session:
    pan: Pan
    expires: float  # meter time
    reauthenticating: bool = False


class Pana:
    def __init__(
        self,
        out: SkOutput,
        env: RadioEnvironment,
        meter: SimulatedMeter,
        faults: Faults,
        clock: MeterClock,
        timing: Timing,
        lifetime: float,
        credentials_ok: Callable[[], bool],
    ) -> None:
        self.out = out
        self.env = env
        self.meter = meter
        self.faults = faults
        self.clock = clock
        self.timing = timing
        self.lifetime = lifetime
        self.credentials_ok = credentials_ok
        self.session: Session | None = None
        self.reauthentications = 0
        self._terminated_at = -1e9

    @property
    def established(self) -> bool:
        return self.session is not None and not self.session.reauthenticating

    @property
    def reauthenticating(self) -> bool:
        """Keys are being renewed: the dongle sends nothing to the meter meanwhile."""
        return self.session is not None and self.session.reauthenticating

    def reachable(self, ip: str) -> Pan | None:
        return self.env.find(ip, self.faults.active("extra-pans"))

    # --- join ------------------------------------------------------------------------
    def join(self, target: str, channel: int, pan_id: int) -> None:
        self.out.later(self.timing.join, lambda: self._exchange(target, channel, pan_id))

    def rejoin(self) -> None:
        pan = self.session.pan if self.session else self.env.meter
        self.out.later(self.timing.join, lambda: self._exchange(pan.ip, pan.channel, pan.pan_id))

    def _exchange(self, target: str, channel: int, pan_id: int) -> None:
        pan = self.reachable(target)
        if pan is None or (channel, pan_id) != (pan.channel, pan.pan_id):
            # Nobody answers on that channel/PAN: PANA gives up.
            self.session = None
            self.out.event(0x24, target)
            return
        out = self.out
        out.lines(out.event_line(0x21, pan.ip, "02"), out.event_line(0x02, pan.ip))
        for _ in range(2):
            out.erxudp(pan, PANA_PORT, os.urandom(88), secured=False)
        out.event(0x21, pan.ip, "00")
        if self._accepted(pan):
            self.session = Session(pan, self.clock.now() + self.lifetime)
            out.event(0x25, pan.ip)
            out.later(self.timing.instance_list, self._announce_instances)
        else:
            self.session = None
            out.event(0x24, pan.ip)

    def _accepted(self, pan: Pan) -> bool:
        race = self.faults.params("term-race")
        if race and time.monotonic() - self._terminated_at < race["seconds"]:
            log.info("SKJOIN right after SKTERM: the meter is not ready yet")
            return False
        if self.faults.fire("auth-fail") is not None:
            return False
        return pan.ours and self.credentials_ok()

    def _announce_instances(self) -> None:
        if self.established and self.session and self.session.pan is self.env.meter:
            self.out.erxudp(self.session.pan, ECHONET_PORT, self.meter.instance_list_inf())

    # --- end -------------------------------------------------------------------------
    def terminate(self) -> None:
        assert self.session is not None
        pan, self.session = self.session.pan, None
        self._terminated_at = time.monotonic()
        code = 0x28 if self.faults.fire("term-timeout") is not None else 0x27
        self.out.later(0.05, lambda: self.out.event(code, pan.ip))

    def peer_terminates(self) -> bool:
        if self.session is None:
            return False
        pan, self.session = self.session.pan, None
        self.out.event(0x26, pan.ip)
        return True

    # --- lifetime ----------------------------------------------------------------------
    def tick(self) -> None:
        s = self.session
        if s is not None and not s.reauthenticating and self.clock.now() >= s.expires:
            fail = self.faults.fire("reauth-fail") is not None
            self.reauthenticate(ok=not fail)

    def reauthenticate(self, ok: bool = True) -> bool:
        s = self.session
        if s is None or s.reauthenticating:
            return False
        s.reauthenticating = True
        self.reauthentications += 1
        self.out.event(0x29, s.pan.ip)

        def done() -> None:
            if self.session is not s:
                return
            # A replaced meter is gone: nobody answers the re-authentication.
            if ok and s.pan is self.env.meter:
                s.reauthenticating = False
                s.expires = self.clock.now() + self.lifetime
                self.out.event(0x25, s.pan.ip)
            else:
                self.session = None
                self.out.event(0x24, s.pan.ip)

        self.out.later(self.timing.join, done)
        return True

    # --- data --------------------------------------------------------------------------
    def to_meter(self, target: str, port: int, secured: bool, data: bytes) -> list[bytes]:
        """The meter's answers to what reached it (none if it did not)."""
        s = self.session
        if s is None or s.reauthenticating or s.pan is not self.env.meter:
            return []
        if target.upper() != s.pan.ip or port != ECHONET_PORT or not secured:
            return []  # the meter only takes encrypted ECHONET Lite from its session peer
        return self.meter.handle(data)

    def from_meter(self, payload: bytes) -> bool:
        """The meter speaks unasked (INF/INFC); it only reaches a host in session."""
        s = self.session
        if s is None or s.reauthenticating or s.pan is not self.env.meter:
            return False
        self.out.erxudp(s.pan, ECHONET_PORT, payload)
        return self.out.powered
