"""Which timestamps can be right, for a board that may have no real-time clock.

A Raspberry Pi without an RTC boots at 1970 or at fake-hwclock's last value and only learns
the time from NTP.  A reading stamped before this software existed, or more than a day ahead
of us, is not sent (InfluxDB would file it at the wrong place or refuse it; VictoriaMetrics
silently drops anything two days ahead).  It waits in the queue until the clock is right.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

# No reading can be older than the software that took it.
EARLIEST_PLAUSIBLE = datetime(2025, 1, 1, tzinfo=UTC)
EARLIEST_MS = int(EARLIEST_PLAUSIBLE.timestamp()) * 1000
AHEAD_MS = 86_400_000  # meters and NTP disagree by seconds; a day ahead is a wrong clock


def clock_is_sane(now: float | None = None) -> bool:
    """Our own clock: is it past the build date (has NTP set it)?"""
    return (time.time() if now is None else now) * 1000 >= EARLIEST_MS


def sendable_window(now: float | None = None) -> tuple[int, int]:
    """Timestamps (ms) that may be sent now: from the build date to a day ahead of now."""
    now_ms = int((time.time() if now is None else now) * 1000)
    return EARLIEST_MS, now_ms + AHEAD_MS
