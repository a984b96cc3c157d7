"""The energy JSON API (docs/operations.md, "Energy API") and the CSV downloads.

Every number the page shows comes from here; scripts can read the same.  Dates are the
local calendar (settings.yml ``timezone``), kWh are rounded to 4 decimals, ``null`` means
no data (a gap), never zero.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from common.day_files import day_of
from services.health.energy.book import EnergyBook, month_of, month_totals, next_month
from services.health.energy.csv_files import list_days
from services.health.energy.day import SLOT, DayTotals
from services.health.server import Answer
from services.health.state import HealthState

MAX_DAYS = 400  # one request covers at most this many days
MAX_MONTHS = 36
JSON = "application/json; charset=utf-8"


class BadRequest(Exception):
    """A query a person typed wrong: 400 with a line saying what to fix."""


def _kwh(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _date(query: dict[str, str], key: str, default: date) -> date:
    text = query.get(key)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{key}' must be a date like 2026-01-31, not {text!r}") from None


def _month(query: dict[str, str], key: str, default: date) -> date:
    text = query.get(key)
    if not text:
        return default
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise BadRequest(f"'{key}' must be a month like 2026-01, not {text!r}") from None


def _day_doc(t: DayTotals) -> dict[str, Any]:
    return {
        "date": t.day.isoformat(),
        "import_kwh": _kwh(t.import_kwh),
        "export_kwh": _kwh(t.export_kwh),
        "complete": t.complete,
        "gap_halfhours": t.gaps,
    }


class EnergyApi:
    def __init__(self, book: EnergyBook, state: HealthState, csv_dir: Path | None) -> None:
        self.book = book
        self.state = state
        self.csv_dir = csv_dir

    def routes(self) -> dict[str, Callable[[dict[str, str]], Answer]]:
        return {
            "/api/energy/summary": self._json(self.summary),
            "/api/energy/days": self._json(self.days),
            "/api/energy/halfhours": self._json(self.halfhours),
            "/api/energy/months": self._json(self.months),
            "/api/energy/files": self._json(self.files),
            "/download/": self.download,
        }

    @staticmethod
    def _json(build: Callable[[dict[str, str]], dict[str, Any]]):
        def route(query: dict[str, str]) -> Answer:
            try:
                doc = build(query)
            except BadRequest as exc:
                return 400, JSON, json.dumps({"error": str(exc)}).encode()
            return 200, JSON, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

        return route

    # --- documents --------------------------------------------------------------------------
    def summary(self, query: dict[str, str]) -> dict[str, Any]:
        book = self.book
        today = book.today()
        yesterday = today - timedelta(days=1)
        this_month = month_of(today)
        last_month = month_of(this_month - timedelta(days=1))
        with self.state.lock:
            power = self.state.latest.get(("E7", ""))
        now: dict[str, Any] = {"watts": None, "direction": None, "time": None}
        if power is not None:
            direction = "export" if power.value < 0 else "import"
            now = {"watts": power.value, "direction": direction, "time": power.ts}

        def pair(totals: dict[str, float | None]) -> dict[str, float | None]:
            return {"import_kwh": _kwh(totals["import"]), "export_kwh": _kwh(totals["export"])}

        def month(m: date) -> dict[str, Any]:
            t = month_totals(book, m, today)
            return {"month": f"{m:%Y-%m}", **pair(t["totals"]), "days": t["days"],
                    "days_with_data": t["days_with_data"]}  # fmt: skip

        return {
            "timezone": str(book.tz),
            "generated": datetime.fromtimestamp(book.clock(), book.tz).isoformat("T", "seconds"),
            "building": book.building,
            "cache": {
                "days": len(book.records),
                "read_from_csv": book.built_days,
                "build_seconds": None
                if book.build_seconds is None
                else round(book.build_seconds, 3),
            },
            "power": now,
            "today": {"date": today.isoformat(), **pair(book.totals(today))},
            "yesterday": {"date": yesterday.isoformat(), **pair(book.totals(yesterday))},
            "this_month": month(this_month),
            "last_month": month(last_month),
        }

    def days(self, query: dict[str, str]) -> dict[str, Any]:
        today = self.book.today()
        end = _date(query, "to", today)
        start = _date(query, "from", end - timedelta(days=30))
        if start > end:
            raise BadRequest("'from' must not be after 'to'")
        if (end - start).days >= MAX_DAYS:
            raise BadRequest(f"ask for at most {MAX_DAYS} days at a time")
        out = []
        day = start
        while day <= end:
            out.append(_day_doc(self.book.day_totals(day)))
            day += timedelta(days=1)
        return {"from": start.isoformat(), "to": end.isoformat(), "days": out}

    def halfhours(self, query: dict[str, str]) -> dict[str, Any]:
        today = self.book.today()
        day = _date(query, "date", today)
        e = self.book.energy(day)
        now = self.book.clock()
        start = datetime.combine(day, datetime.min.time(), self.book.tz)
        slots = []
        for i, source in enumerate(e.sources):
            begins = start.timestamp() + i * SLOT
            slots.append({
                "start": datetime.fromtimestamp(begins, self.book.tz).isoformat(timespec="minutes"),
                "import_kwh": _kwh(e.slots["import"][i]),
                "export_kwh": _kwh(e.slots["export"][i]),
                "source": source,
                "future": begins + SLOT > now and i != e.current,
                "in_progress": i == e.current,
            })  # fmt: skip
        return {
            **_day_doc(DayTotals.of(e)),
            "unplaced_import_kwh": _kwh(e.unplaced["import"]),
            "unplaced_export_kwh": _kwh(e.unplaced["export"]),
            "previous": (day - timedelta(days=1)).isoformat(),
            "next": (day + timedelta(days=1)).isoformat() if day < today else None,
            "slots": slots,
        }

    def months(self, query: dict[str, str]) -> dict[str, Any]:
        today = self.book.today()
        end = _month(query, "to", month_of(today))
        start = _month(query, "from", month_of(end - timedelta(days=365)))
        out = []
        m = start
        while m <= end:
            if len(out) >= MAX_MONTHS:
                raise BadRequest(f"ask for at most {MAX_MONTHS} months at a time")
            t = month_totals(self.book, m, today)
            out.append({"month": f"{m:%Y-%m}", "import_kwh": _kwh(t["totals"]["import"]),
                        "export_kwh": _kwh(t["totals"]["export"]), "days": t["days"],
                        "days_with_data": t["days_with_data"]})  # fmt: skip
            m = next_month(m)
        return {"from": f"{start:%Y-%m}", "to": f"{end:%Y-%m}", "months": out}

    def files(self, query: dict[str, str]) -> dict[str, Any]:
        if self.csv_dir is None:
            return {"enabled": False, "files": []}
        out = []
        for day, paths in sorted(list_days(self.csv_dir).items(), reverse=True):
            for p in paths:
                try:
                    size = p.stat().st_size
                except OSError:
                    continue
                out.append({"name": p.name, "date": day.isoformat(), "bytes": size,
                            "url": f"/download/{p.name}"})  # fmt: skip
        return {"enabled": True, "files": out}

    # --- downloads ------------------------------------------------------------------------
    def download(self, query: dict[str, str]) -> Answer:
        """A CSV file as it is, only a name of the CSV directory's own form, only a regular
        file directly in it (no symbolic link followed, nothing unquoted)."""
        name = query.get("rest", "")
        if self.csv_dir is None or day_of(name) is None:
            return 404, "text/plain; charset=utf-8", b"not found\n"
        try:
            dir_fd = os.open(self.csv_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return 404, "text/plain; charset=utf-8", b"not found\n"
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError:
            return 404, "text/plain; charset=utf-8", b"not found\n"
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return 404, "text/plain; charset=utf-8", b"not found\n"
            body = f.read()
        ctype = "application/gzip" if name.endswith(".gz") else "text/csv; charset=utf-8"
        return 200, ctype, body, {"Content-Disposition": f'attachment; filename="{name}"'}
