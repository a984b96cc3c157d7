"""From a device path to a joined session, and back to one after anything goes wrong.

The recovery policy lives here:

- no device at the path: wait for it to appear (USB replug), ``dongle-missing``;
- the port opens but the dongle is silent: ``dongle-not-responding`` (the caller backs off);
- a cached PAN that does not take the join (EVENT 24 or silence): forget it, scan again;
- a freshly scanned PAN that answers EVENT 24: ``auth-failed``; after three such joins in a
  row, scan again (the meter may have moved channel);
- sessions that end without a single answer, twice in a row: forget the PAN, scan again;
- before every join after the first: SKTERM the old session, and let the meter settle.

Nothing here sleeps for backoff: a :class:`RadioFault` goes up, the loop waits, and calls
:meth:`Connection.connect` again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import serial

from common.config import Config
from services.radio.condition import RadioCondition, RadioFault, Stopping
from services.radio.link.dongle import DongleInfo, configure
from services.radio.link.pan_cache import PanCache
from services.radio.link.scan import PanDescriptor, active_scan
from services.radio.link.session import Gate, JoinRefused, Session, TermMarker
from services.radio.link.sk_reader import SkReader
from services.radio.link.transport import DongleTimeout, PortLost, SkTransport
from services.radio.timing import Timing

log = logging.getLogger("radio")

JOIN_FAILURES_BEFORE_RESCAN = 3
FRUITLESS_SESSIONS_BEFORE_RESCAN = 2
SHUTDOWN_TERM_WAIT = 5.0


class Connection:
    def __init__(
        self,
        config: Config,
        timing: Timing,
        condition: RadioCondition,
        stopped: Callable[[], bool],
        wake_fd: int | None = None,
    ) -> None:
        self.config = config
        self.timing = timing
        self.condition = condition
        self.stopped = stopped
        self.wake_fd = wake_fd  # readable on stop: lets the transport's idle waits be long
        self.pair_id = config.broute_id.reveal()[-8:].upper()
        self.cache = PanCache(config.paths.data_dir, self.pair_id)
        self.marker = TermMarker(config.paths.runtime_dir)
        self.port: serial.Serial | None = None
        self.transport: SkTransport | None = None
        self.dongle: DongleInfo | None = None
        self.gate = Gate()
        self.session: Session | None = None
        self.pan: PanDescriptor | None = None
        self.pan_cached = False
        self.join_failures = 0
        self.fruitless = 0
        self.scans = 0

    # --- the way up -------------------------------------------------------------------------
    def connect(self) -> Session:
        """A joined session.  Raises RadioFault, PortLost or Stopping."""
        if self.port is None:
            self._open()
        assert self.transport is not None and self.dongle is not None
        if self.session is not None:
            self.session.terminate()  # the dongle may still think it is joined
        if self.pan is None:
            self._find_pan()
        assert self.pan is not None
        session = Session(
            self.transport, self.dongle.dialect, self.timing, self.gate, self.marker,
            self.stopped, self._on_hold,
        )  # fmt: skip
        self.session = session
        self.condition.set("joining", str(self.pan))
        try:
            try:
                session.join(self.pan)
            except (JoinRefused, RadioFault) as exc:
                silent = isinstance(exc, RadioFault) and exc.cause == "meter-not-answering"
                if not self.pan_cached or not (silent or isinstance(exc, JoinRefused)):
                    raise
                log.info("the cached PAN did not take the join (%s); scanning again", exc)
                self._forget_pan(rescan=True)
                self._find_pan()
                self.condition.set("joining", str(self.pan))
                session.join(self.pan)
        except JoinRefused as exc:
            self._join_failed()
            raise RadioFault("auth-failed", str(exc)) from exc
        except RadioFault:
            self._join_failed()
            raise
        except DongleTimeout as exc:
            raise RadioFault("dongle-not-responding", str(exc)) from exc
        self.join_failures = 0
        self.cache.save(self.pan)
        self.pan_cached = True
        self.condition.detail(channel=f"{self.pan.channel:02X}", pan_id=f"{self.pan.pan_id:04X}",
                              lqi=self.pan.lqi)  # fmt: skip
        return session

    def _open(self) -> None:
        device = self._wait_for_device()
        try:
            port = serial.Serial(str(device), 115200, timeout=0.2, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            if "lock" in str(exc).lower():
                raise RadioFault(
                    "dongle-missing",
                    f"{device} is held by another program (another radio?); stop it",
                ) from exc
            raise RadioFault("dongle-missing", f"cannot open {device}: {exc}") from exc
        self.port = port
        try:
            port.reset_input_buffer()
            self.transport = SkTransport(port, SkReader(), self.config.secrets(),
                                         self.timing.command)  # fmt: skip
            self.transport.wake_fd = self.wake_fd
            self.gate = Gate()  # a dongle that was away starts without a limit in force
            self.dongle = configure(self.transport, self.config, self.timing)
        except (RadioFault, PortLost, OSError, serial.SerialException):
            self.drop_port()
            raise
        self.condition.detail(dialect=self.dongle.dialect.name, dongle_mac=self.dongle.mac,
                              dongle_firmware=self.dongle.version)  # fmt: skip

    def _wait_for_device(self) -> Path:
        device = self.config.serial_device
        reported = False
        while not device.exists():
            if not reported:
                self.condition.set("dongle-missing", f"no device at {device}")
                reported = True
            if self.stopped():
                raise Stopping()
            time.sleep(self.timing.device_poll)
        return device

    def _find_pan(self) -> None:
        cached = self.cache.load()
        if cached is not None:
            log.info("joining the cached PAN (%s)", cached)
            self.pan, self.pan_cached = cached, True
            return
        assert self.transport is not None and self.dongle is not None
        self.condition.set("scanning")
        self.scans += 1
        try:
            self.pan = active_scan(self.transport, self.dongle.dialect, self.pair_id,
                                   self.timing, self.stopped)  # fmt: skip
        except DongleTimeout as exc:
            raise RadioFault("dongle-not-responding", str(exc)) from exc
        self.pan_cached = False
        self.condition.detail(lqi=self.pan.lqi)

    def _forget_pan(self, rescan: bool) -> None:
        self.cache.forget()
        self.pan, self.pan_cached = None, False
        if rescan:
            self.condition.count(rescans=1)

    def _join_failed(self) -> None:
        self.join_failures += 1
        if self.join_failures >= JOIN_FAILURES_BEFORE_RESCAN:
            log.info("%d joins in a row failed; the next attempt scans again", self.join_failures)
            self.join_failures = 0
            self._forget_pan(rescan=True)

    def _on_hold(self, hold: str | None) -> None:
        if hold is not None:
            self.condition.set(hold)
        elif self.session is not None and self.session.established:
            self.condition.set("joined")

    # --- the way down -----------------------------------------------------------------------
    def session_ended(self, answered: bool) -> None:
        """A session is over; ``answered``: the meter answered at least once in it."""
        self.fruitless = 0 if answered else self.fruitless + 1
        if self.fruitless >= FRUITLESS_SESSIONS_BEFORE_RESCAN:
            log.info("%d sessions in a row without an answer; scanning again", self.fruitless)
            self.fruitless = 0
            self._forget_pan(rescan=True)

    def drop_port(self) -> None:
        """Close the port without a word to the dongle (it is gone or not answering)."""
        if self.port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.port.close()
        self.port = self.transport = self.session = None

    def close(self) -> None:
        """Shutdown: end the session properly (SKTERM), then close the port."""
        if self.session is not None:
            try:
                # Short: supervisord gives a stopping radio 15 s before it kills it.
                self.session.terminate(wait=min(self.timing.term, SHUTDOWN_TERM_WAIT))
            except (PortLost, DongleTimeout, Stopping) as exc:
                log.info("SKTERM on shutdown: %s", exc)
        self.drop_port()
