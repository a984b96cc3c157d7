"""The properties ECHONET Appendix Release R added to the smart meter (class 0x0288).

Next-generation meters (rolled out from FY2025) add, per the machine-readable appendix
v1.3.1 (2025-03-14; not in Release M):

- C0, the B-route identification number: 16 bytes, ``00`` + a 3-byte maker code + 12 bytes
  the maker chooses.  It names one meter (and so a household): shown masked only.
- D0, the latest whole minute's forward and reverse counters (``common.echonet``, with the
  other measurable properties).
- EF (Get/Set), which minutes EE shows: ``YYYY MM DD hh mm`` of the newest minute + a count
  1–10; ``FFFFFFFFFFFF`` for the time means "not set" (the default, ``…01``).
- EE, those minutes: EF's time and count, then per minute (newest first, stepping back one
  minute) the forward and reverse counters, FFFFFFFE where the meter has no value: at most
  7 + 10 × 8 = 87 bytes.

Everything here parses bytes from outside: malformed input raises
:class:`common.echonet.EchonetFormatError` and nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.echonet import NO_ENERGY_MEASUREMENT, EchonetFormatError

MINUTE_WINDOW_MAX = 10  # EF's count: the most minutes one EE answer holds
_UNSET = b"\xff" * 6
ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class RouteBId:
    """C0: who made the meter, and the rest of its B-route identification number."""

    raw: bytes  # all 16 bytes: never logged or shown as such

    @property
    def maker(self) -> str:
        return self.raw[1:4].hex().upper()

    def masked(self) -> str:
        """The maker code and the last 4 hex digits; the rest identifies a household."""
        rest = self.raw[4:].hex().upper()
        return f"{self.maker}-{'*' * (len(rest) - 4)}{rest[-4:]}"

    def key(self) -> str:
        """A stable name for this meter that does not give the number away."""
        return "c0-" + hashlib.sha256(self.raw).hexdigest()[:16]


def decode_route_b_id(edt: bytes) -> RouteBId:
    if len(edt) != 16:
        raise EchonetFormatError(f"EPC C0: {len(edt)} bytes, expected 16")
    if edt[0] != 0x00:
        raise EchonetFormatError(f"EPC C0: first byte {edt[0]:02X}, expected 00")
    return RouteBId(bytes(edt))


def _minute(epc: int, edt: bytes) -> datetime | None:
    """``YYYY MM DD hh mm`` (naive, meter local time); None for the unset FFFF… time."""
    if edt[:6] == _UNSET:
        return None
    try:
        return datetime(int.from_bytes(edt[:2], "big"), edt[2], edt[3], edt[4], edt[5])
    except ValueError:
        raise EchonetFormatError(f"EPC {epc:02X}: invalid time {edt[:6].hex()}") from None


def _count(epc: int, n: int) -> int:
    if not 1 <= n <= MINUTE_WINDOW_MAX:
        raise EchonetFormatError(f"EPC {epc:02X}: {n} minutes, expected 1..{MINUTE_WINDOW_MAX}")
    return n


def encode_minute_window(newest: datetime, count: int) -> bytes:
    """EF as written: the newest minute EE is to show, and how many back from it."""
    if not 1 <= count <= MINUTE_WINDOW_MAX or newest.second or newest.microsecond:
        raise ValueError(f"EE window {newest} × {count}")
    if not 1 <= newest.year <= 0xFFFE:
        raise ValueError(f"EE window year {newest.year}")
    return newest.year.to_bytes(2, "big") + bytes(
        (newest.month, newest.day, newest.hour, newest.minute, count)
    )


def decode_minute_window(edt: bytes) -> tuple[datetime | None, int]:
    """EF as read: (newest minute or None when unset, count)."""
    if len(edt) != 7:
        raise EchonetFormatError(f"EPC EF: {len(edt)} bytes, expected 7")
    return _minute(0xEF, edt), _count(0xEF, edt[6])


@dataclass(frozen=True)
class MinuteValue:
    """One minute of EE: the raw counters, None where the meter has no value (FFFFFFFE)."""

    when: datetime  # meter local time, naive
    forward: int | None
    reverse: int | None


def _raw(data: bytes) -> int | None:
    raw = int.from_bytes(data, "big")
    if raw == NO_ENERGY_MEASUREMENT:
        return None
    if raw > 99999999:
        raise EchonetFormatError(f"EPC EE: counter {raw} exceeds 8 digits")
    return raw


def decode_minute_history(edt: bytes) -> tuple[datetime | None, list[MinuteValue]]:
    """EE: (the newest minute shown, its minutes newest first).

    The time is None when EF was never set (the default answer): then there are no
    minutes to speak of, whatever the count says.
    """
    if len(edt) < 7:
        raise EchonetFormatError(f"EPC EE: {len(edt)} bytes, expected at least 7")
    n = _count(0xEE, edt[6])
    if len(edt) != 7 + 8 * n:
        raise EchonetFormatError(f"EPC EE: {len(edt)} bytes for {n} minutes")
    newest = _minute(0xEE, edt)
    if newest is None:
        return None, []
    if newest - datetime.min < (n - 1) * ONE_MINUTE:
        raise EchonetFormatError(f"EPC EE: {n} minutes before {newest} are before year 1")
    values = []
    for i in range(n):
        pair = edt[7 + 8 * i : 15 + 8 * i]
        values.append(MinuteValue(newest - i * ONE_MINUTE, _raw(pair[:4]), _raw(pair[4:])))
    return newest, values
