"""SKSTACK IP over a serial port: commands, their answers, and what the dongle says unasked.

Lines end in CRLF, except ERXUDP data, which is taken by its DATALEN (so a binary payload
that contains CR LF is read whole).  Events and received datagrams that arrive while a
command waits for its OK are queued for the session and meter layers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

import serial

from services.radio.dialect import Dialect

log = logging.getLogger("radio.transport")

CRLF = b"\r\n"
MAX_LINE = 4096


class TransportError(Exception):
    """The dongle did not behave: no answer in time, a FAIL, or the port is gone."""


class DongleTimeout(TransportError):
    pass


class CommandFailed(TransportError):
    def __init__(self, command: str, code: str) -> None:
        super().__init__(f"{command.split()[0]} answered FAIL {code}")
        self.code = code


class PortLost(TransportError):
    """Reading or writing the port failed (USB unplugged, EIO)."""


@dataclass(frozen=True)
class Event:
    code: int  # the hex number of "EVENT 21 ..." as an int (0x21)
    addr: str
    side: int | None
    param: str | None


@dataclass(frozen=True)
class ErxUdp:
    sender: str
    dest: str
    rport: int
    lport: int
    sender_lla: str
    secured: bool
    side: int | None
    rssi: int | None
    data: bytes


Item = Event | ErxUdp | str


class SkStackTransport:
    def __init__(self, port: serial.Serial, dialect: Dialect) -> None:
        self.port = port
        self.dialect = dialect
        self.pending: deque[Event | ErxUdp] = deque()
        self._buf = bytearray()

    # --- bytes ------------------------------------------------------------------------
    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DongleTimeout("no answer from the dongle in time")
        self.port.timeout = min(remaining, 0.5)
        try:
            chunk = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise PortLost(f"serial read failed: {exc}") from exc
        self._buf += chunk

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortLost(f"serial write failed: {exc}") from exc

    # --- items ------------------------------------------------------------------------
    def read_item(self, timeout: float) -> Item | None:
        """The next line, Event or ErxUdp; None when nothing complete arrived in time."""
        deadline = time.monotonic() + timeout
        while True:
            item = self._parse_buffered()
            if item is not None:
                return item
            try:
                self._fill(deadline)
            except DongleTimeout:
                return None

    def _parse_buffered(self) -> Item | None:
        buf = self._buf
        while True:
            while buf[:2] == CRLF or buf[:1] == b"\n":
                del buf[: 2 if buf[:2] == CRLF else 1]
            if buf.startswith(b"ERXUDP "):
                return self._parse_erxudp()
            idx = buf.find(CRLF)
            if idx < 0:
                if len(buf) > MAX_LINE:  # garbage without a line end: drop it
                    log.warning("dropping %d bytes without a line end", len(buf))
                    buf.clear()
                return None
            raw = bytes(buf[:idx])
            del buf[: idx + 2]
            line = raw.decode("ascii", "replace").strip("\r")
            if not line.strip():
                continue
            if line.startswith("EVENT "):
                event = self._parse_event(line)
                if event is not None:
                    return event
                continue
            return line

    def _parse_event(self, line: str) -> Event | None:
        words = line.split()
        try:
            code = int(words[1], 16)
            addr = words[2]
        except (IndexError, ValueError):
            log.warning("ignoring malformed event line %r", line[:80])
            return None
        rest = words[3:]
        side = None
        if self.dialect.dual_stack and rest:
            try:
                side = int(rest.pop(0))
            except ValueError:
                side = None
        return Event(code, addr, side, rest[0] if rest else None)

    def _parse_erxudp(self) -> ErxUdp | None:
        buf = self._buf
        fields = self.dialect.erxudp_fields
        n_head = 6 + len(fields)  # ERXUDP, 5 addresses/ports, fields, then DATALEN
        # Find the space that ends DATALEN without decoding the payload.
        pos = 0
        for _ in range(n_head + 1):
            pos = buf.find(b" ", pos) + 1
            if pos == 0:
                newline = buf.find(CRLF)
                if newline >= 0:  # the line ended before its DATALEN: malformed
                    return self._drop_line(newline, "ERXUDP line too short")
                return None
        head = bytes(buf[: pos - 1]).decode("ascii", "replace").split()
        try:
            length = int(head[-1], 16)
        except ValueError:
            return self._drop_line(buf.find(CRLF), "ERXUDP without a valid DATALEN")
        size = length if self.dialect.binary_payload else 2 * length
        if len(buf) < pos + size + 2:
            return None  # wait for the rest of the payload
        data = bytes(buf[pos : pos + size])
        del buf[: pos + size]
        if buf[:2] == CRLF:
            del buf[:2]
        if not self.dialect.binary_payload:
            try:
                data = bytes.fromhex(data.decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                log.warning("ERXUDP payload is not hex; dropped")
                return None
        values = dict(zip(fields, head[6:-1], strict=True))
        try:
            return ErxUdp(
                sender=head[1],
                dest=head[2],
                rport=int(head[3], 16),
                lport=int(head[4], 16),
                sender_lla=head[5],
                secured=values.get("secured") == "1",
                side=int(values["side"]) if "side" in values else None,
                rssi=int(values["rssi"], 16) if "rssi" in values else None,
                data=data,
            )
        except ValueError:
            log.warning("malformed ERXUDP header %r", head)
            return None

    def _drop_line(self, newline: int, why: str) -> None:
        end = newline + 2 if newline >= 0 else len(self._buf)
        log.warning("%s: %r", why, bytes(self._buf[: min(end, 80)]))
        del self._buf[:end]
        return None

    # --- commands ---------------------------------------------------------------------
    def command(self, text: str, timeout: float = 5.0, expect_ok: bool = True) -> list[str]:
        """Send one command; return its answer lines (without OK). Events are queued."""
        self.write(text.encode("ascii") + CRLF)
        return self.collect(text, timeout, expect_ok)

    def collect(self, text: str, timeout: float, expect_ok: bool = True) -> list[str]:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        echo = text.strip()
        while True:
            item = self.read_item(max(0.0, deadline - time.monotonic()))
            if item is None:
                if not expect_ok and lines:
                    return lines
                raise DongleTimeout(f"{echo.split()[0]}: no answer within {timeout:g} s")
            if isinstance(item, Event | ErxUdp):
                self.pending.append(item)
                continue
            if item == echo:  # echo back while SFE is 1
                continue
            if item.startswith("OK"):
                lines.append(item)
                return lines
            if item.startswith("FAIL"):
                raise CommandFailed(echo, item[5:].strip())
            lines.append(item)
            if not expect_ok:
                return lines

    def sendto(self, ip: str, data: bytes, timeout: float = 10.0) -> None:
        """SKSENDTO: the header, then exactly DATALEN raw bytes, no line end."""
        header = self.dialect.sendto_header(ip, len(data))
        self.write(header + data)
        self.collect(header.decode().strip(), timeout)

    def next_pending(self, timeout: float) -> Event | ErxUdp | None:
        """The next queued or newly arriving event/datagram."""
        if self.pending:
            return self.pending.popleft()
        deadline = time.monotonic() + timeout
        while True:
            item = self.read_item(max(0.0, deadline - time.monotonic()))
            if item is None:
                return None
            if isinstance(item, Event | ErxUdp):
                return item
            log.debug("unsolicited line %r", item)
