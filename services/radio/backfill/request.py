"""``smartmeterctl backfill``'s request to the radio: ``$RUNTIME/backfill-request.json``.

``{"id": "...", "days": N or null, "at": "..."}``, written atomically by the ctl (temp +
rename).  A file rather than a socket: the radio's loop is one thread that spends its time on
the serial port, and a request has to wait for it, for a session, even for a restart of the
radio, anyway; a file in the runtime dir does all that with no thread and no new endpoint.
The radio takes it (reads and removes it) between two polls once joined, and echoes the id in
its status (``backfill.request``), where the ctl follows the progress through health.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from services.radio.meter.history import HISTORY_DAYS

log = logging.getLogger("radio.backfill")


@dataclass(frozen=True)
class Request:
    ident: str
    days: int | None  # None: every day the ledger answers for


def take(path: Path) -> Request | None:
    """The request waiting at ``path``, if any (removed: it is taken once)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    path.unlink(missing_ok=True)
    try:
        data = json.loads(text)
        days = data.get("days")
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= HISTORY_DAYS
        ):
            raise ValueError(f"days must be 0..{HISTORY_DAYS}, not {days!r}")
        request = Request(str(data.get("id", "")), days)
    except (ValueError, AttributeError) as exc:
        log.warning("backfill request ignored: %s", exc)
        return None
    log.info("backfill requested (%s)", "every day the ledger keeps" if days is None
             else f"the last {days} days")  # fmt: skip
    return request
