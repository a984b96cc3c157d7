"""The PANA session with the meter: join, the send gate, the events that end it, SKTERM.

Events (research notes §2, "SKSTACK EVENT codes"):

- 24 during a join: refused (wrong credentials, or nobody at that channel/PAN);
  24 while joined: a failed automatic re-authentication, so the session is gone.
- 25: joined; or, after 29, re-authentication done.
- 26: the meter ended the session; 27/28: a termination finished (28: timed out).
- 29: the module re-authenticates on its own; sends wait until 25 (or 24).
- 32/33: the ARIB transmission-time limit begins/ends; sends wait in between.  The limit
  belongs to the dongle and outlives a session, so the :class:`Gate` is the connection's.
- 21: a send finished (00 ok, 01 failed, 02 neighbour solicitation first).

A SKJOIN right after SKTERM races the meter into EVENT 24 (hsakoh waits 10 s), so the time
of the last SKTERM is kept in the runtime dir, where a restarted radio finds it too.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.radio.condition import RadioFault, Stopping
from services.radio.link.dialect import Dialect
from services.radio.link.scan import PanDescriptor
from services.radio.link.sk_reader import ErxUdp, Event
from services.radio.link.transport import CommandFailed, DongleTimeout, SkTransport
from services.radio.timing import Timing

log = logging.getLogger("radio.session")

ECHONET_PORT = 0x0E1A
EVENT_SEND_DONE = 0x21
EVENT_PANA_FAILED = 0x24
EVENT_PANA_OK = 0x25
EVENT_PEER_TERMINATED = 0x26
EVENT_TERMINATED = 0x27
EVENT_TERMINATE_TIMEOUT = 0x28
EVENT_REAUTHENTICATING = 0x29
EVENT_TX_LIMITED = 0x32
EVENT_TX_RELEASED = 0x33
_IPV6 = re.compile(r"^[0-9A-Fa-f]{4}(:[0-9A-Fa-f]{4}){7}$")


class SessionLost(Exception):
    """The PANA session ended (EVENT 26, a failed re-authentication, ...): join again."""


class JoinRefused(Exception):
    """EVENT 24 in answer to SKJOIN."""


class SendFailed(Exception):
    """EVENT 21 01: the dongle could not deliver the datagram."""


@dataclass
class Gate:
    """Why sends must wait now, if they must."""

    reauthenticating_since: float | None = None
    tx_limited_since: float | None = None

    @property
    def hold(self) -> str | None:
        """The cause that holds sends: ``tx-limited``, ``reauthenticating`` or None."""
        if self.tx_limited_since is not None:
            return "tx-limited"
        if self.reauthenticating_since is not None:
            return "reauthenticating"
        return None


class TermMarker:
    """When this dongle's session was last ended with SKTERM (``radio-skterm``)."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / "radio-skterm"

    def record(self) -> None:
        try:
            self.path.write_text(f"{time.time():.3f}\n")
        except OSError as exc:
            log.debug("cannot record SKTERM time: %s", exc)

    def wait_remaining(self, pause: float, stopped: Callable[[], bool]) -> None:
        try:
            since = time.time() - float(self.path.read_text())
        except (OSError, ValueError):
            return
        if 0 <= since < pause:
            log.info("waiting %.1f s after SKTERM before joining again", pause - since)
            end = time.monotonic() + pause - since
            while time.monotonic() < end:
                if stopped():
                    raise Stopping()
                time.sleep(min(0.1, end - time.monotonic()))


class Session:
    def __init__(
        self,
        t: SkTransport,
        dialect: Dialect,
        timing: Timing,
        gate: Gate,
        marker: TermMarker,
        stopped: Callable[[], bool],
        on_hold: Callable[[str | None], None] = lambda hold: None,
    ) -> None:
        self.t = t
        self.dialect = dialect
        self.timing = timing
        self.gate = gate
        self.marker = marker
        self.stopped = stopped
        self.on_hold = on_hold
        self.meter_ip: str | None = None
        self.pan: PanDescriptor | None = None
        self.established = False
        self.lqi: int | None = None
        self.rssi_dbm: float | None = None
        self._inbox: deque[bytes] = deque()
        self._late_send_failure = False

    # --- join ---------------------------------------------------------------------------
    def join(self, pan: PanDescriptor) -> None:
        """Raises JoinRefused (EVENT 24) or RadioFault ``meter-not-answering`` (no answer)."""
        self.marker.wait_remaining(self.timing.after_term, self.stopped)
        try:
            self.t.command(f"SKSREG S2 {pan.channel:02X}", self.timing.command)
            self.t.command(f"SKSREG S3 {pan.pan_id:04X}", self.timing.command)
            lines = self.t.command(
                f"SKLL64 {pan.mac}", self.timing.command, done=lambda s: bool(_IPV6.match(s))
            )
            ip = next(s for s in lines if _IPV6.match(s)).upper()
            self.t.command(f"SKJOIN {ip}", self.timing.command)
        except (CommandFailed, StopIteration) as exc:
            raise RadioFault("dongle-not-responding", f"joining: {exc}") from exc
        deadline = time.monotonic() + self.timing.join
        while time.monotonic() < deadline:
            if self.stopped():
                raise Stopping()
            item = self.t.next_event(min(0.5, deadline - time.monotonic()))
            if not isinstance(item, Event):
                continue  # PANA datagrams (port 02CC), nothing for us
            if item.code == EVENT_PANA_OK:
                self.meter_ip, self.pan, self.established = ip, pan, True
                self.lqi, self.rssi_dbm = pan.lqi, None
                log.info("joined the meter at %s (%s)", ip, pan)
                return
            if item.code == EVENT_PANA_FAILED:
                raise JoinRefused(f"EVENT 24 from {item.addr}")
            self._handle(item, joining=True)
        raise RadioFault("meter-not-answering", f"no PANA answer within {self.timing.join:g} s")

    # --- data -----------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return self.gate.hold is not None

    def send(self, payload: bytes) -> None:
        """One datagram to the meter, after any hold; SendFailed on EVENT 21 01."""
        self._wait_gate()
        assert self.meter_ip is not None
        self._late_send_failure = False
        header = self.dialect.sendto_header(self.meter_ip, len(payload))
        try:
            events = self.t.sendto(header, payload, self.timing.sendto)
        except CommandFailed as exc:
            raise SendFailed(str(exc)) from exc
        self._absorb_pending()
        results = [e.param for e in events if e.code == EVENT_SEND_DONE and e.param != "02"]
        if results and results[-1] == "01":
            raise SendFailed("EVENT 21 01: the dongle could not deliver the request")

    def receive(self, timeout: float) -> bytes | None:
        """The next ECHONET Lite payload, handling events meanwhile; None after ``timeout``."""
        if self._inbox:
            return self._inbox.popleft()
        deadline = time.monotonic() + timeout
        while not self.stopped():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # No short cap on the wait: a stop wakes it (transport.wake_fd); waking twice a
            # second for nothing was most of an idle radio's CPU (docs/benchmarks.md).
            item = self.t.next_event(remaining, idle=self.t.wake_fd is not None)
            if isinstance(item, Event):
                self._handle(item)
                if self._late_send_failure:
                    self._late_send_failure = False
                    raise SendFailed("EVENT 21 01 after the send")
            elif isinstance(item, ErxUdp) and self._ours(item):
                return item.data
        raise Stopping()

    def _ours(self, d: ErxUdp) -> bool:
        if d.rport != ECHONET_PORT:
            return False  # PANA (02CC) and anything else
        if d.lqi is not None or d.rssi_dbm is not None:
            self.lqi, self.rssi_dbm = d.lqi, d.rssi_dbm
        return True

    def _absorb_pending(self) -> None:
        """Events that came during a command take effect now; datagrams wait in order."""
        queued = list(self.t.pending)
        self.t.pending.clear()
        for item in queued:
            if isinstance(item, Event):
                self._handle(item)
            elif self._ours(item):
                self._inbox.append(item.data)

    def _wait_gate(self) -> None:
        while (hold := self.gate.hold) is not None:
            if self.stopped():
                raise Stopping()
            now = time.monotonic()
            if hold == "reauthenticating":
                started = self.gate.reauthenticating_since or now
                if now - started > self.timing.reauth_hold:
                    self.gate.reauthenticating_since = None
                    raise SessionLost("re-authentication did not finish")
            elif now - (self.gate.tx_limited_since or now) > self.timing.tx_limit_hold:
                log.warning("no EVENT 33 after %.0f s; trying a send", self.timing.tx_limit_hold)
                self.gate.tx_limited_since = None
                self.on_hold(self.gate.hold)
                return
            item = self.t.next_event(0.5)
            if isinstance(item, Event):
                self._handle(item)
            elif isinstance(item, ErxUdp) and self._ours(item):
                self._inbox.append(item.data)

    # --- events -----------------------------------------------------------------------------
    def _handle(self, event: Event, joining: bool = False) -> None:
        code, before = event.code, self.gate.hold
        if code == EVENT_REAUTHENTICATING and self.established:
            log.info("EVENT 29: the dongle re-authenticates; requests wait")
            self.gate.reauthenticating_since = time.monotonic()
        elif code == EVENT_PANA_OK and self.gate.reauthenticating_since is not None:
            log.info("EVENT 25: re-authenticated")
            self.gate.reauthenticating_since = None
        elif code == EVENT_TX_LIMITED:
            log.warning("EVENT 32: transmission-time limit reached; requests wait for EVENT 33")
            self.gate.tx_limited_since = time.monotonic()
        elif code == EVENT_TX_RELEASED:
            log.info("EVENT 33: transmission-time limit lifted")
            self.gate.tx_limited_since = None
        elif code == EVENT_SEND_DONE and event.param == "01" and not joining:
            self._late_send_failure = True
        if self.gate.hold != before:
            self.on_hold(self.gate.hold)
        if joining or not self.established:
            return
        if code == EVENT_PANA_FAILED:
            self._lost("EVENT 24: the session failed (re-authentication refused)")
        elif code == EVENT_PEER_TERMINATED:
            self._lost("EVENT 26: the meter ended the session")
        elif code in (EVENT_TERMINATED, EVENT_TERMINATE_TIMEOUT):
            self._lost(f"EVENT {code:02X}: the session was terminated")

    def _lost(self, why: str) -> None:
        self.established = False
        if self.gate.reauthenticating_since is not None:
            self.gate.reauthenticating_since = None
            self.on_hold(self.gate.hold)
        raise SessionLost(why)

    # --- end --------------------------------------------------------------------------------
    def terminate(self, wait: float | None = None) -> None:
        """SKTERM and its EVENT 27/28 (bounded); a session already gone is fine."""
        if not self.established:
            return
        self.established = False
        try:
            self.t.command("SKTERM", self.timing.command)
        except CommandFailed:
            return  # ER10: the dongle had no session any more
        except DongleTimeout as exc:
            log.info("SKTERM: %s", exc)
            return
        finally:
            self.marker.record()
        wait = self.timing.term if wait is None else wait
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            item = self.t.next_event(min(0.5, deadline - time.monotonic()))
            if isinstance(item, Event) and item.code in (EVENT_TERMINATED, EVENT_TERMINATE_TIMEOUT):
                log.info("session terminated (EVENT %02X)", item.code)
                return
        log.info("no EVENT 27/28 after SKTERM within %g s; treating it as ended", wait)
