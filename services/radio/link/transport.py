"""SKSTACK IP over a serial port: one command at a time, its answer, and what comes unasked.

Every wait has a deadline.  EVENTs and ERXUDPs that arrive while a command waits for its OK
are kept, in order, for the session and meter layers (:meth:`SkTransport.next_event`).
Echo (register SFE 1) is recognised and skipped, so the transport works before and after
``SKSREG SFE 0``.  ``SKSENDTO`` is written as its header, one space and the raw data, with
no line end (research notes §4.1).  The B-route ID and password never reach a log line.
"""

from __future__ import annotations

import logging
import select
import time
from collections import deque
from collections.abc import Callable, Iterable

import serial

from services.radio.link.sk_reader import CRLF, ErxUdp, Event, Item, SkReader

log = logging.getLogger("radio.transport")

_SECRET_COMMANDS = ("SKSETPWD", "SKSETRBID")
READ_SLICE = 0.1  # the longest a read blocks: deadlines are kept to within this


def _readable(port: serial.Serial, timeout: float, wake: int | None = None) -> bool:
    """Whether the port has something to read (bytes, or the hang-up of an unplugged
    dongle, which the read then reports) within ``timeout``; False at once when ``wake`` (a
    descriptor that turns readable on stop) does."""
    try:
        fd = port.fileno()
    except (AttributeError, serial.SerialException, OSError):
        return True  # not a file descriptor: let the read's own timeout do the waiting
    ready = select.select([fd] if wake is None else [fd, wake], [], [], timeout)[0]
    return fd in ready


class TransportError(Exception):
    """The dongle did not behave: no answer in time, a FAIL, or the port is gone."""


class DongleTimeout(TransportError):
    pass


class CommandFailed(TransportError):
    def __init__(self, command: str, code: str) -> None:
        super().__init__(f"{command.split()[0] if command else 'command'} answered FAIL {code}")
        self.command = command.split()[0] if command else ""
        self.code = code


class PortLost(TransportError):
    """Reading or writing the port failed (USB unplugged: EIO)."""


class Masker:
    """Keeps the B-route ID and password out of log lines."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        head = text.lstrip()
        for command in _SECRET_COMMANDS:
            if head.upper().startswith(command):
                return f"{command} ***"
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class SkTransport:
    def __init__(
        self,
        port: serial.Serial,
        reader: SkReader | None = None,
        secrets: Iterable[str] = (),
        command_timeout: float = 5.0,
    ) -> None:
        self.port = port
        self.reader = reader or SkReader()
        self.mask = Masker(secrets)
        self.command_timeout = command_timeout
        self.pending: deque[Event | ErxUdp] = deque()
        self._in_flight: str | None = None
        # Readable once the service is asked to stop (common.service.Stopper.fileno): ends
        # the idle waits of :meth:`next_event` (``idle=True``), so they can be long.
        self.wake_fd: int | None = None
        # Set once: pyserial re-applies termios on every change of timeout.
        port.timeout = READ_SLICE

    # --- bytes ------------------------------------------------------------------------
    def _fill(self, deadline: float, idle: bool = False) -> bool:
        """Read what arrives before ``deadline``; False if nothing (or, ``idle``, on a stop)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wake = self.wake_fd if idle else None
        try:
            # Sleep until bytes come or the deadline, in one wait: reading with the short
            # fixed timeout woke an idle radio ten times a second (docs/benchmarks.md).
            if not self.port.in_waiting and not _readable(self.port, remaining, wake):
                return False
            chunk = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial raises TypeError from in_waiting on some closed-fd paths.
            raise PortLost(f"serial read failed: {exc}") from exc
        if chunk:
            self.reader.feed(chunk)
        return bool(chunk)

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError, TypeError) as exc:
            raise PortLost(f"serial write failed: {exc}") from exc

    def read_item(self, timeout: float, idle: bool = False) -> Item | None:
        """The next item off the wire (not the pending queue); None if none came in time
        (or, ``idle``, as soon as a stop is asked for)."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.reader.next_item()
            if item is not None:
                if isinstance(item, str):
                    log.debug("< %s", self.mask(item))
                return item
            if time.monotonic() >= deadline:
                return None
            if not self._fill(deadline, idle) and idle and self._woken():
                return None

    def _woken(self) -> bool:
        if self.wake_fd is None:
            return False
        return bool(select.select([self.wake_fd], [], [], 0)[0])

    def next_event(self, timeout: float, idle: bool = False) -> Event | ErxUdp | None:
        """The next EVENT or ERXUDP, queued ones first; stray lines are dropped.  ``idle``:
        nothing is awaited but what the meter may say, so a stop ends the wait at once."""
        if self.pending:
            return self.pending.popleft()
        deadline = time.monotonic() + timeout
        while True:
            item = self.read_item(max(0.0, deadline - time.monotonic()), idle)
            if item is None:
                return None
            if not isinstance(item, str):
                return item

    # --- commands -----------------------------------------------------------------------
    def command(
        self,
        text: str,
        timeout: float | None = None,
        done: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Send a command; its answer lines up to OK (or one that satisfies ``done``).

        FAIL raises :class:`CommandFailed`; no answer in time raises :class:`DongleTimeout`.
        """
        return self._exchange(text, text.encode("ascii") + CRLF, timeout, done)

    def product_command(self, text: str, timeout: float | None = None) -> str:
        """ROPT/WOPT: CR only, both ways; the ``OK ..`` line."""
        return self._exchange(text, text.encode("ascii") + b"\r", timeout, None)[-1]

    def sendto(self, header: bytes, data: bytes, timeout: float | None = None) -> list[Event]:
        """SKSENDTO: header + raw data, no line end.  The EVENT 21/02 lines seen before OK."""
        answer: list[Event] = []
        self._exchange(header.decode("ascii"), header + data, timeout, None, answer)
        return answer

    def _exchange(
        self,
        text: str,
        wire: bytes,
        timeout: float | None,
        done: Callable[[str], bool] | None,
        send_events: list[Event] | None = None,
    ) -> list[str]:
        if self._in_flight is not None:
            raise RuntimeError(f"{text.split()[0]} while {self._in_flight} is in flight")
        self._in_flight = text.split()[0] if text.strip() else "?"
        try:
            self._drop_stale()
            log.debug("> %s", self.mask(text.strip()))
            self.write(wire)
            return self._collect(text.strip(), timeout or self.command_timeout, done, send_events)
        finally:
            self._in_flight = None

    def _drop_stale(self) -> None:
        """Lines left from an earlier command that timed out must not answer this one."""
        try:
            waiting = self.port.in_waiting
            if waiting:
                self.reader.feed(self.port.read(waiting))
        except (serial.SerialException, OSError, TypeError) as exc:
            raise PortLost(f"serial read failed: {exc}") from exc
        while (item := self.reader.next_item()) is not None:
            if isinstance(item, str):
                log.debug("stale line dropped: %s", self.mask(item))
            else:
                self.pending.append(item)

    def _collect(
        self,
        echo: str,
        timeout: float,
        done: Callable[[str], bool] | None,
        send_events: list[Event] | None,
    ) -> list[str]:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        name = echo.split()[0] if echo else "command"
        while True:
            item = self.read_item(max(0.0, deadline - time.monotonic()))
            if item is None:
                raise DongleTimeout(f"{name}: no answer within {timeout:g} s")
            if isinstance(item, Event):
                if send_events is not None and item.code in (0x21, 0x02):
                    send_events.append(item)
                else:
                    self.pending.append(item)
                continue
            if isinstance(item, ErxUdp):
                self.pending.append(item)
                continue
            if item.strip() == echo:
                continue  # echo back while SFE is 1
            if item.startswith("OK"):
                lines.append(item)
                return lines
            if item.startswith("FAIL"):
                raise CommandFailed(echo, item[4:].strip())
            lines.append(item)
            if done is not None and done(item):
                return lines
