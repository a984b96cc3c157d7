"""The meter's own 30-minute energy history: what to write before reading it, and the answers.

Layouts (research notes §4.4, the ECHONET Lite Appendix for class 0x0288):

- E5 (SetC): the day E2/E4 show, 0 = today … 99.
- E2 (forward) / E4 (reverse): uint16 day + 48 × uint32 for 00:00, 00:30 … 23:30 of that day.
- ED (SetC): ``YYYY MM DD hh mm N``, the newest half-hour and how many (1–12) EC shows.
- EC: ``YYYY MM DD hh mm N`` + N × (forward, reverse) uint32, stepping back 30 minutes.
- 98 / 97: the meter's date ``YYYY MM DD`` and time ``hh mm``.

A value of FFFFFFFE means the meter has none for that half-hour.  Values are the same raw
counters as E0/E3/EA/EB, so they are scaled by D3 × E1 exactly as a live EA/EB is.  Times are
the meter's local time, naive, as EA/EB's own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from common.echonet import NO_ENERGY_MEASUREMENT, EchonetFormatError

log = logging.getLogger("radio.backfill")

HISTORY_DAYS = 99  # E5 reaches back this many days before today
WINDOW_MAX = 12  # ED's count
HALF_HOUR = timedelta(minutes=30)
EPC_DAY = {"EA": 0xE2, "EB": 0xE4}  # which day history holds which fixed-time energy


@dataclass(frozen=True)
class SlotValue:
    """One half-hour's counter: ``raw`` None when the meter has no value (FFFFFFFE)."""

    when: datetime  # meter local time, naive (like EA/EB's own stamp)
    epc: str  # "EA" (forward) or "EB" (reverse): what a live reading of it would be
    raw: int | None


def _raw(data: bytes, where: str) -> int | None:
    raw = int.from_bytes(data, "big")
    if raw == NO_ENERGY_MEASUREMENT:
        return None
    if raw > 99999999:  # not a counter of at most 8 digits: as good as no value
        log.warning("history %s: %d is not a counter value; taken as none", where, raw)
        return None
    return raw


def day_setting(day: int) -> bytes:
    if not 0 <= day <= HISTORY_DAYS:
        raise ValueError(f"history day {day} outside 0..{HISTORY_DAYS}")
    return bytes((day,))


def parse_day(epc: int, edt: bytes, day: int, on: date) -> list[SlotValue]:
    """E2/E4 for ``day`` (which is the date ``on``): 48 values from 00:00."""
    if len(edt) != 2 + 48 * 4:
        raise EchonetFormatError(f"EPC {epc:02X}: {len(edt)} bytes, expected 194")
    shown = int.from_bytes(edt[:2], "big")
    if shown != day:
        raise EchonetFormatError(f"EPC {epc:02X}: shows day {shown}, day {day} was set")
    name = "EA" if epc == 0xE2 else "EB"
    midnight = datetime(on.year, on.month, on.day)
    return [
        SlotValue(midnight + i * HALF_HOUR, name, _raw(edt[2 + 4 * i : 6 + 4 * i], f"{on} {i}"))
        for i in range(48)
    ]


def window_setting(newest: datetime, count: int) -> bytes:
    if not 1 <= count <= WINDOW_MAX or newest.minute % 30 or newest.second:
        raise ValueError(f"EC window {newest} × {count}")
    return newest.year.to_bytes(2, "big") + bytes(
        (newest.month, newest.day, newest.hour, newest.minute, count)
    )


def parse_window(edt: bytes, newest: datetime, count: int) -> list[SlotValue]:
    """EC after ED = (``newest``, ``count``): forward and reverse, newest first."""
    if len(edt) < 7:
        raise EchonetFormatError(f"EPC EC: {len(edt)} bytes")
    n = edt[6]
    if len(edt) != 7 + 8 * n:
        raise EchonetFormatError(f"EPC EC: {len(edt)} bytes for {n} half-hours")
    try:
        shown = datetime(int.from_bytes(edt[:2], "big"), edt[2], edt[3], edt[4], edt[5])
    except ValueError as exc:
        raise EchonetFormatError(f"EPC EC: invalid time {edt[:6].hex()}") from exc
    if shown != newest or n != count:
        raise EchonetFormatError(f"EPC EC: shows {shown} × {n}, {newest} × {count} was set")
    out = []
    for i in range(n):
        at = newest - i * HALF_HOUR
        pair = edt[7 + 8 * i : 15 + 8 * i]
        out.append(SlotValue(at, "EA", _raw(pair[:4], f"EC {at} forward")))
        out.append(SlotValue(at, "EB", _raw(pair[4:], f"EC {at} reverse")))
    return out


def parse_date(edt: bytes) -> date:
    """98: the meter's date."""
    if len(edt) != 4:
        raise EchonetFormatError(f"EPC 98: {len(edt)} bytes")
    try:
        return date(int.from_bytes(edt[:2], "big"), edt[2], edt[3])
    except ValueError as exc:
        raise EchonetFormatError(f"EPC 98: {edt.hex()}") from exc


def parse_clock(date_edt: bytes, time_edt: bytes) -> datetime:
    """98 + 97: the meter's local time, to the minute (naive)."""
    if len(date_edt) != 4 or len(time_edt) != 2:
        raise EchonetFormatError(f"EPC 98/97: {len(date_edt)}/{len(time_edt)} bytes")
    try:
        return datetime(int.from_bytes(date_edt[:2], "big"), date_edt[2], date_edt[3],
                        time_edt[0], time_edt[1])  # fmt: skip
    except ValueError as exc:
        raise EchonetFormatError(f"EPC 98/97: {date_edt.hex()} {time_edt.hex()}") from exc
