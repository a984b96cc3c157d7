"""Past days: optionally gzip them, optionally delete them after a number of days."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

from common.day_files import SUFFIX, day_of, file_name

log = logging.getLogger("csv_rotator")


def compress(path: Path) -> Path:
    """path.csv -> path.csv.gz (appended as a new gzip member if the .gz exists already)."""
    target = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    if target.exists():
        shutil.copyfile(target, tmp)
    with (
        path.open("rb") as src,
        open(tmp, "ab") as raw,
        gzip.GzipFile(fileobj=raw, mode="ab") as gz,
    ):
        shutil.copyfileobj(src, gz)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    tmp.replace(target)
    path.unlink()
    return target


def tidy(directory: Path, today: date, gzip_after_days: int, retention_days: int,
         busy: set[str]) -> None:  # fmt: skip
    """Compress/delete past files; never touches today's, yesterday's or ``busy`` ones."""
    if not directory.exists():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}*")):
        day = day_of(path.name)
        if day is None or path.name in busy or path.name.endswith(".tmp"):
            continue
        age = (today - day).days
        if age < 2:
            continue
        if retention_days > 0 and age > retention_days:
            log.info("deleting %s (older than %d days)", path.name, retention_days)
            path.unlink()
        elif gzip_after_days > 0 and age > gzip_after_days and path.suffix == ".csv":
            log.info("compressing %s", path.name)
            compress(path)


def oldest_kept(today: date) -> str:
    """File name below which committed sizes need not be remembered."""
    return file_name(today - timedelta(days=3))
