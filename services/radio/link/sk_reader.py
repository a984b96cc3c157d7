"""What the dongle prints, cut into items: lines, EVENTs and ERXUDP datagrams.

Pure syntax, no I/O: bytes go in with :meth:`SkReader.feed`, items come out of
:meth:`SkReader.next_item`.  The rules come from research notes §4.1/§4.2:

- A line ends at CR LF, or at a lone CR (the product commands ROPT/WOPT answer ``OK 01\\r``),
  or at a lone LF.
- An ERXUDP's DATA is taken by DATALEN, never by line end: printed as hex (WOPT 01) it is
  2×DATALEN characters, printed raw (WOPT 00) it is DATALEN bytes that may well contain CR LF.
  Which of the two it is, the bytes tell: in hex the position right after DATALEN bytes holds
  a hex digit, in raw form it holds the closing CR LF.  So no mode needs to be configured.
- The tokens between SENDERLLA and DATALEN differ by dialect (SECURED; SECURED SIDE; RSSI
  SECURED SIDE).  DATALEN is the first 4-hex-digit token after SENDERLLA, whatever came before.
- Bytes that are no item (line noise, a half line after a replug) come out as plain lines the
  layers above ignore; noise glued in front of ``ERXUDP``/``EVENT`` is cut off.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass

log = logging.getLogger("radio.sk")

CRLF = b"\r\n"
MAX_LINE = 4096  # longer than anything a dongle prints, except a binary payload
_HEX = frozenset(string.hexdigits.encode())
_ERXUDP = b"ERXUDP "
_EVENT = b"EVENT "


@dataclass(frozen=True)
class Event:
    code: int  # "EVENT 21 ..." → 0x21
    addr: str
    side: int | None
    param: str | None  # e.g. "00"/"01"/"02" for EVENT 21


@dataclass(frozen=True)
class ErxUdp:
    sender: str
    dest: str
    rport: int
    lport: int
    sender_lla: str
    secured: bool
    side: int | None
    lqi: int | None  # the RSSI token (SA2 1) as LQI, when the dongle prints one
    rssi_dbm: float | None
    data: bytes


Item = Event | ErxUdp | str


def lqi_to_dbm(lqi: int) -> float:
    """The conversion momonga uses for the RSSI token of ERXUDP."""
    return round(0.275 * lqi - 104.27, 1)


def _is_hex(data: bytes) -> bool:
    return bool(data) and all(b in _HEX for b in data)


class SkReader:
    def __init__(self, dual_stack: bool = False) -> None:
        self.dual_stack = dual_stack  # decides what a 4-word EVENT line means
        self.buffer = bytearray()
        self.dropped = 0  # bytes thrown away as noise or malformed

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next_item(self) -> Item | None:
        """The next complete item, or None until more bytes arrive."""
        while True:
            item, progressed = self._take()
            if item is not None or not progressed:
                return item

    # --- cutting ----------------------------------------------------------------------
    def _take(self) -> tuple[Item | None, bool]:
        buf = self.buffer
        start = 0
        while start < len(buf) and buf[start] in b"\r\n":
            start += 1
        if start:
            del buf[:start]
        if not buf:
            return None, False
        end = _line_end(buf)
        erx = buf.find(_ERXUDP, 0, end if end >= 0 else len(buf))
        if erx >= 0:
            if erx > 0:
                self._drop(erx, "noise before ERXUDP")
            return self._erxudp()
        if end < 0:
            if len(buf) > MAX_LINE:
                self._drop(len(buf), "a line without end")
                return None, True
            return None, False
        raw = bytes(buf[:end])
        del buf[: end + (2 if buf[end : end + 2] == CRLF else 1)]
        ev = raw.find(_EVENT)
        if ev > 0:
            self.dropped += ev
            raw = raw[ev:]
        line = raw.decode("ascii", "replace").rstrip()
        if line.startswith("EVENT "):
            event = self._event(line)
            return event, True  # a malformed EVENT is skipped (None, but progress made)
        return (line if line else None), True

    def _drop(self, count: int, why: str) -> None:
        log.debug("dropping %d bytes (%s): %r", count, why, bytes(self.buffer[: min(count, 60)]))
        self.dropped += count
        del self.buffer[:count]

    def _event(self, line: str) -> Event | None:
        words = line.split()
        try:
            code = int(words[1], 16)
            addr = words[2]
        except (IndexError, ValueError):
            log.debug("malformed event line %r", line[:80])
            return None
        rest = words[3:]
        side = None
        if self.dual_stack and rest and rest[0] in ("0", "1"):
            side = int(rest.pop(0))
        return Event(code, addr, side, rest[0] if rest else None)

    def _erxudp(self) -> tuple[Item | None, bool]:
        """The buffer starts with ERXUDP: the datagram, or None while it is incomplete."""
        buf = self.buffer
        tokens: list[bytes] = []
        pos = len(_ERXUDP)
        while True:  # header tokens up to and including DATALEN
            space = buf.find(b" ", pos)
            stop = _line_end(buf, pos)
            if stop >= 0 and (space < 0 or stop < space):
                return self._malformed("ERXUDP line ends inside its header")
            if space < 0:
                if len(buf) - pos > 64:
                    return self._malformed("ERXUDP header token too long")
                return None, False
            tokens.append(bytes(buf[pos:space]))
            pos = space + 1
            if len(tokens) >= 7 and len(tokens[-1]) == 4 and _is_hex(tokens[-1]):
                break
            if len(tokens) > 9:
                return self._malformed("ERXUDP without a DATALEN")
        length = int(tokens[-1], 16)
        data = self._payload(pos, length)
        if data is None:
            return None, False
        if data is False:
            return self._malformed("ERXUDP payload does not match its DATALEN")
        payload, consumed = data
        del buf[:consumed]
        try:
            return self._datagram(tokens, payload), True
        except (ValueError, IndexError):
            log.debug("malformed ERXUDP header %r", tokens)
            return None, True

    def _payload(self, pos: int, length: int) -> tuple[bytes, int] | bool | None:
        """(data, bytes consumed), None to wait for more, False when it cannot be right."""
        buf = self.buffer
        # Raw bytes: the CR LF sits right after DATALEN bytes (where hex would have a digit).
        if length and len(buf) >= pos + length + 2 and buf[pos + length : pos + length + 2] == CRLF:
            return bytes(buf[pos : pos + length]), pos + length + 2
        seen = bytes(buf[pos : pos + 2 * length])
        if not all(b in _HEX for b in seen):
            return False if len(buf) >= pos + length + 2 else None
        if len(buf) < pos + 2 * length + 1:
            return None
        if buf[pos + 2 * length] not in b"\r\n":
            return False
        end = pos + 2 * length + (2 if buf[pos + 2 * length : pos + 2 * length + 2] == CRLF else 1)
        return bytes.fromhex(seen.decode()), end

    def _malformed(self, why: str) -> tuple[None, bool]:
        end = _line_end(self.buffer, len(_ERXUDP))
        self._drop(end + 1 if end >= 0 else len(self.buffer), why)
        log.warning("%s; skipped", why)
        return None, True

    @staticmethod
    def _datagram(tokens: list[bytes], payload: bytes) -> ErxUdp:
        words = [t.decode("ascii") for t in tokens]
        sender, dest, rport, lport, lla = words[:5]
        fields = words[5:-1]  # SECURED | SECURED SIDE | RSSI SECURED SIDE
        lqi = rssi = None
        side = None
        if len(fields) == 3:
            token = fields.pop(0)
            if token.startswith("-"):
                rssi = float(token)  # some firmware prints signed dBm instead of an LQI
            else:
                lqi = int(token, 16)
                rssi = lqi_to_dbm(lqi)
        if len(fields) == 2:
            side = int(fields.pop())
        if len(fields) != 1:
            raise ValueError("unexpected ERXUDP layout")
        return ErxUdp(
            sender=sender,
            dest=dest,
            rport=int(rport, 16),
            lport=int(lport, 16),
            sender_lla=lla,
            secured=fields[0] == "1",
            side=side,
            lqi=lqi,
            rssi_dbm=rssi,
            data=payload,
        )


def _line_end(buf: bytearray, start: int = 0) -> int:
    """Index of the first CR or LF at or after ``start``, -1 if none."""
    cr, lf = buf.find(b"\r", start), buf.find(b"\n", start)
    if cr < 0:
        return lf
    return cr if lf < 0 else min(cr, lf)
