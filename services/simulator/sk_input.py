"""Bytes from the host, cut into commands the way the dongle's UART parser would.

Command lines end at CR (an LF after it is skipped, so both ``CRLF`` and the CR-only
product commands ROPT/WOPT work).  ``SKSENDTO`` is different: its header is followed by one
space and exactly DATALEN raw bytes, no line end (research notes §4.1); a CRLF some
clients add after the data is tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# handle, IPv6, port, SEC, optional SIDE, DATALEN, then one space before the data.
_SENDTO_HEADER = re.compile(
    rb"SKSENDTO ([0-9A-Fa-f]) ([0-9A-Fa-f:]+) ([0-9A-Fa-f]{4}) ([0-9A-Fa-f])"
    rb"( [0-9A-Fa-f])? ([0-9A-Fa-f]{4}) "
)
_MAX_HEADER = 96  # longer than any valid SKSENDTO header


@dataclass(frozen=True)
class CommandLine:
    text: str
    raw: bytes


@dataclass(frozen=True)
class SendTo:
    header: bytes  # as echoed: up to and including the space before the data
    args: list[str]  # handle, ip, port, sec, [side], datalen
    data: bytes


Command = CommandLine | SendTo


class CommandReader:
    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Command]:
        self.buffer += data
        out: list[Command] = []
        while (cmd := self._take_one()) is not None:
            out.append(cmd)
        return out

    def clear(self) -> None:
        self.buffer.clear()

    def _take_one(self) -> Command | None:
        buf = self.buffer
        while buf[:1] in (b"\r", b"\n"):
            del buf[:1]
        if not buf:
            return None
        if buf.startswith(b"SKSENDTO "):
            m = _SENDTO_HEADER.match(buf)
            if m is not None:
                end = m.end() + int(m.group(6), 16)
                if len(buf) < end:
                    return None  # the data is still coming
                # Copy out before cutting: the match still points into the bytearray.
                args = [g.strip().decode() for g in m.groups() if g is not None]
                header, data = bytes(buf[: m.end()]), bytes(buf[m.end() : end])
                del buf[:end]
                if buf.startswith(b"\r\n"):
                    del buf[:2]
                return SendTo(header, args, data)
            cr = buf.find(b"\r")
            if cr < 0 and len(buf) < _MAX_HEADER:
                return None  # the header may still be coming
            # Not a valid header: fall through and answer it as a line (ER05/ER06).
        idx = buf.find(b"\r")
        if idx < 0:
            if len(buf) > 4096:  # no line end in sight: the firmware would drop it
                buf.clear()
            return None
        raw = bytes(buf[:idx])
        del buf[: idx + 1]
        if buf[:1] == b"\n":
            del buf[:1]
        return CommandLine(raw.decode("ascii", "replace"), raw)
