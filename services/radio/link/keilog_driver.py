"""Drive the dongle through keilog (``dongle.driver: keilog``) instead of our own transport.

keilog (https://github.com/kjmat/keilog, the keilog + Telegraf logger's radio library) is not
on PyPI and never required: it is imported from a checkout at ``dongle.keilog_path`` only when
chosen.  What is used of it (read from its ``keilib/broute.py`` at commit 127d414):

- ``WiSunRL7023(port, baud, type)`` with ``type`` ``WiSunRL7023.IPS`` or ``.DSS``;
- ``open()``, ``setup(id, password)``, ``scan()`` (sets ``ipv6_addr``; caches
  its result as ``scancache.json`` in the *working directory*, for an hour), ``join()``,
  ``sendto(frame)`` (only calls ``frame.encode()``, expecting hex text; True when it saw
  EVENT 21 and OK), ``receive()`` (one line, 1 s timeout; a ``DataFrame`` for an ERXUDP,
  else None), ``term()``, ``close()``; each returns True/False rather than raising.

What keilog needs of the dongle, and gets from :func:`configure` with ``KEILOG`` before it
is handed the port: hex payloads (WOPT 01 where ROPT says raw), no RSSI token on dual-stack
firmware (SA2 0: its DSS parser takes exactly ten ERXUDP tokens and drops every other frame),
echo on (it skips one echo line after SKLL64).  keilog's ``reset()`` (SKRESET) is not called:
whether SKRESET puts the registers back or keeps them (SA2 1 from an earlier run of the
built-in driver, say) is not settled, and everything it was for is set explicitly instead.

What keilog does not do, and the built-in driver does: raw (WOPT 00) payloads; PairID
filtering of the scan; EVENT 29/32/33 (keilog logs events and drops them, so sends are never
held); link quality.  Readings come out the same: the meter layer above is ours either way.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import serial

from common.config import Config
from services.radio.condition import RadioCondition, RadioFault, Stopping
from services.radio.link.dongle import KEILOG, configure
from services.radio.link.session import SendFailed
from services.radio.link.sk_reader import SkReader
from services.radio.link.transport import Masker, PortLost, SkTransport, TransportError
from services.radio.timing import Timing

log = logging.getLogger("radio.keilog")

CLONE_HINT = "git clone https://github.com/kjmat/keilog"


class KeilogMissing(Exception):
    """keilog was chosen but cannot be imported; the message says how to get it."""


def load_keilib(path: Path) -> ModuleType:
    where = f"dongle.keilog_path ({path})"
    if not (path / "keilib" / "broute.py").is_file():
        raise KeilogMissing(
            f"dongle.driver is keilog but there is no keilog checkout at {where}; "
            f"run '{CLONE_HINT} {path}' (or git submodule add it there), "
            "or set dongle.driver: builtin"
        )
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    try:
        module = importlib.import_module("keilib.broute")
    except Exception as exc:  # whatever a foreign checkout raises on import
        raise KeilogMissing(
            f"dongle.driver is keilog but keilib.broute from {where} does not import ({exc}); "
            f"update the checkout ('git -C {path} pull') or set dongle.driver: builtin"
        ) from exc
    if not hasattr(module, "WiSunRL7023"):
        raise KeilogMissing(
            f"the keilog checkout at {where} has no WiSunRL7023 (too old); "
            f"update it with 'git -C {path} pull'"
        )
    return module


class _HexFrame:
    """What keilog's ``sendto`` wants: an object whose ``encode()`` is the frame in hex."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def encode(self) -> str:
        return self.payload.hex().upper()


class _MaskSecrets(logging.Filter):
    """keilog logs SKSETPWD/SKSETRBID at debug level; never let them through."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.masker(record.getMessage())
        record.args = ()
        return True


class KeilogLink:
    """The meter layer's link (send/receive ECHONET Lite payloads) over keilog."""

    held = False  # keilog does not report EVENT 29/32
    lqi = None
    rssi_dbm = None

    def __init__(self, device: Any, stopped: Callable[[], bool]) -> None:
        self.device = device
        self.stopped = stopped

    def send(self, payload: bytes) -> None:
        try:
            ok = self.device.sendto(_HexFrame(payload))
        except (serial.SerialException, OSError) as exc:
            raise PortLost(f"keilog sendto: {exc}") from exc
        if not ok:
            raise SendFailed("keilog's sendto saw no EVENT 21/OK")

    def receive(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stopped():
                raise Stopping()
            try:
                frame = self.device.receive()  # blocks up to keilog's 1 s serial timeout
            except (serial.SerialException, OSError) as exc:
                raise PortLost(f"keilog receive: {exc}") from exc
            if frame is not None:
                try:
                    return bytes.fromhex(frame.encode())
                except (ValueError, AttributeError, TypeError) as exc:
                    log.warning("keilog frame not usable: %s", exc)
        return None


class KeilogConnection:
    """The same role as :class:`services.radio.link.connection.Connection`, through keilog."""

    def __init__(
        self,
        config: Config,
        timing: Timing,
        condition: RadioCondition,
        stopped: Callable[[], bool],
    ) -> None:
        self.config = config
        self.timing = timing
        self.condition = condition
        self.stopped = stopped
        self.module = load_keilib(config.keilog_path)
        for name in ("keilib", "keilib.broute"):
            logging.getLogger(name).addFilter(_MaskSecrets(Masker(config.secrets())))
        if (
            config.log_level != "DEBUG"
        ):  # keilog narrates every line at INFO: too much for an SD card
            logging.getLogger("keilib").setLevel(logging.WARNING)
        # keilog keeps scancache.json in the working directory: make that the data dir.
        self.workdir = config.paths.data_dir / "keilog"
        self.device: Any = None
        self.joined = False
        self.fruitless = 0

    def connect(self) -> KeilogLink:
        if self.device is None:
            self._open()
        dev = self.device
        if self.joined:
            dev.term()
            self.joined = False
            end = time.monotonic() + self.timing.after_term  # SKJOIN right after SKTERM fails
            while time.monotonic() < end:
                if self.stopped():
                    raise Stopping()
                time.sleep(0.1)
        self.condition.set("scanning")
        if not self._call(dev.scan):
            raise RadioFault("no-meter-found", "keilog's scan found no PAN")
        self.condition.set("joining")
        if not self._call(dev.join):
            self._forget_scan()
            raise RadioFault("auth-failed", "keilog's join failed (EVENT 24 or no answer)")
        self.joined = True
        return KeilogLink(dev, self.stopped)

    def _open(self) -> None:
        device = self.config.serial_device
        while not device.exists():
            self.condition.set("dongle-missing", f"no device at {device}")
            if self.stopped():
                raise Stopping()
            time.sleep(self.timing.device_poll)
        kind = self._prepare(device)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(self.workdir)
        cls = self.module.WiSunRL7023
        dev = cls(str(device), 115200, cls.DSS if kind else cls.IPS)
        self.device = dev
        # No dev.reset(): SKRESET's effect on the registers is unsettled; _prepare set them.
        if not self._call(dev.open):
            self.drop_port()
            raise RadioFault("dongle-not-responding", "keilog could not open the dongle")
        pwd, rbid = self.config.broute_password.reveal(), self.config.broute_id.reveal()
        if not self._call(lambda: dev.setup(rbid, pwd)):
            self.drop_port()
            raise RadioFault("dongle-not-responding", "keilog could not set the credentials")

    def _prepare(self, device: Path) -> bool:
        """Our own look at the dongle first: its dialect, and the state keilog needs
        (``KEILOG``: hex payloads, SA2 0, echo on), each set explicitly."""
        try:
            port = serial.Serial(str(device), 115200, timeout=0.2, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise RadioFault("dongle-missing", f"cannot open {device}: {exc}") from exc
        with port:
            t = SkTransport(port, SkReader(), self.config.secrets(), self.timing.command)
            try:
                info = configure(t, self.config, self.timing, KEILOG)
            except TransportError as exc:
                raise RadioFault("dongle-not-responding", str(exc)) from exc
        self.condition.detail(dialect=info.dialect.name, driver="keilog")
        return info.dialect.dual_stack

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (serial.SerialException, OSError) as exc:
            raise PortLost(f"keilog: {exc}") from exc

    def _forget_scan(self) -> None:
        (self.workdir / "scancache.json").unlink(missing_ok=True)

    def session_ended(self, answered: bool) -> None:
        self.fruitless = 0 if answered else self.fruitless + 1
        if self.fruitless >= 2:
            self.fruitless = 0
            self._forget_scan()
            self.condition.count(rescans=1)

    def drop_port(self) -> None:
        if self.device is not None:
            with contextlib.suppress(serial.SerialException, OSError, AttributeError):
                self.device.close()
        self.device = None
        self.joined = False

    def close(self) -> None:
        if self.device is not None and self.joined:
            try:
                self.device.term()
            except (serial.SerialException, OSError) as exc:
                log.info("SKTERM on shutdown: %s", exc)
        self.drop_port()
