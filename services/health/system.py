"""The machine itself: free disk space and whether the clock can be trusted."""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass
from pathlib import Path

BUILD_YEAR = 2026  # a clock before this year has not been set (a Pi has no RTC)
_STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: we only read ``status``; the rest is padding room.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("pad", ctypes.c_long * 4),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_long * 40),
    ]


@dataclass(frozen=True)
class DiskSpace:
    path: str
    free_bytes: int
    total_bytes: int


def disk_space(path: Path) -> DiskSpace:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    st = os.statvfs(p)
    return DiskSpace(str(path), st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def clock_synchronized() -> bool | None:
    """Whether NTP has set the clock; None when this machine cannot tell.

    On the appliance systemd-timesyncd runs and marks sync with a file.  Elsewhere (a PC, a
    container) the kernel's STA_UNSYNC flag is often set although the host keeps good time,
    so only a clear "synchronised" from the kernel is believed there.
    """
    if Path("/run/systemd/timesync").is_dir():
        return Path("/run/systemd/timesync/synchronized").exists()
    try:
        # The process's own symbols (libc among them): no ctypes.util.find_library, which
        # runs ldconfig in a subprocess and imports subprocess and shutil to do it.
        libc = ctypes.CDLL(None, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0 or tx.status & _STA_UNSYNC:
        return None
    return True


def clock_plausible(now: float | None = None) -> bool:
    return time.gmtime(now if now is not None else time.time()).tm_year >= BUILD_YEAR
