"""The CSV day files' names: ``YYYYMMDD-smartmeter.csv``, one per local day, ``.csv.gz`` once
compressed (the name the keilog + Telegraf logger gave them, which its users' Telegraf reads).

Written by csv_rotator; read by health's energy page and downloads, and by the radio's ledger
check after a power cut.
"""

from __future__ import annotations

import re
from datetime import date, datetime

SUFFIX = "-smartmeter.csv"
# a day's file, plain or gzip; group 1 is the day
NAME = re.compile(r"^(\d{8})-smartmeter\.csv(\.gz)?$")


def file_name(day: date) -> str:
    return f"{day:%Y%m%d}{SUFFIX}"


def day_of(name: str) -> date | None:
    """The day a file name is for (plain or gzip), or None for any other name."""
    m = NAME.match(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d").date()
    except ValueError:
        return None
