"""``smartmeterctl backfill``: ask the radio to read half-hours back, and show its progress.

Only the radio talks to the meter, so the ctl leaves a request for it: a small JSON file in
the runtime dir (``Paths.backfill_request``, written atomically).  The radio takes it between
two polls once it is joined, even if it is (re)started after the request was made; a socket
would need the radio to answer at once, which it cannot while it waits on the serial port.
Progress comes back the way every status does: the radio's status details
(``backfill``: state, missing, done, nodata, unrecoverable, request) through ``GET /health``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from common.paths import Paths

POLL_SECONDS = 1.0
TAKE_TIMEOUT = 120.0  # the radio reports every 5 s; this long without it taking it: say so


def request(paths: Paths, days: int | None) -> str:
    """Leave the request for the radio; its id (what the radio's status echoes)."""
    ident = uuid.uuid4().hex[:8]
    body = {"id": ident, "days": days, "at": datetime.now().astimezone().isoformat()}
    path = paths.backfill_request
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)  # the radio never sees half a request
    return ident


def radio_backfill(health: dict[str, Any]) -> dict[str, Any] | None:
    checks = health.get("checks", {}).get("radio:link") or [{}]
    details = checks[0].get("details") or {}
    value = details.get("backfill")
    return value if isinstance(value, dict) else None


def follow(
    ident: str,
    fetch: Callable[[], dict[str, Any]],
    take_timeout: float = TAKE_TIMEOUT,
    poll: float = POLL_SECONDS,
) -> int:
    """Show a progress bar until the radio has done the request; the exit code."""
    deadline = time.monotonic() + take_timeout
    status = _wait_taken(ident, fetch, deadline, poll)
    if status is None:
        click.echo(
            f"the radio has not taken the request within {take_timeout:.0f} s (is it running "
            "and connected to the meter? `smartmeterctl status`); it stays queued and the "
            "radio takes it when it is"
        )
        return 1
    if status.get("state") == "unsupported":
        click.echo("the meter has no 30-minute history (E2/E4/EC): nothing can be read back")
        return 1
    paused = False
    with click.progressbar(length=_total(status), label="reading back half-hours",
                           show_pos=True) as bar:  # fmt: skip
        while not _finished(ident, status):
            if status.get("state") == "paused-midnight" and not paused:
                click.echo("\npaused around the meter's midnight; goes on 5 minutes after it")
            paused = status.get("state") == "paused-midnight"
            bar.length = max(_total(status), 1)
            bar.update(int(status.get("done", 0)) - bar.pos)
            time.sleep(poll)
            status = _fetch(fetch) or status
        bar.length = max(_total(status), 1)
        bar.update(bar.length - bar.pos)
    click.echo(_summary(status))
    return 0


def _fetch(fetch: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return radio_backfill(fetch())
    except (OSError, ValueError):
        return None


def _wait_taken(
    ident: str, fetch: Callable[[], dict[str, Any]], deadline: float, poll: float
) -> dict[str, Any] | None:
    while time.monotonic() < deadline:
        status = _fetch(fetch)
        if status is not None and status.get("request") == ident:
            return status
        time.sleep(poll)
    return None


def _total(status: dict[str, Any]) -> int:
    return int(status.get("done", 0)) + int(status.get("missing", 0))


def _finished(ident: str, status: dict[str, Any]) -> bool:
    if status.get("request") != ident:
        return True  # a newer request took over
    return status.get("state") in ("idle", "unsupported") and not status.get("missing")


def _summary(status: dict[str, Any]) -> str:
    out = f"done: {status.get('done', 0)} half-hours read back"
    if status.get("nodata"):
        out += f"; {status['nodata']} the meter has no value for"
    if status.get("unrecoverable"):
        out += (
            f"; {status['unrecoverable']} older than the meter's 99 days of history "
            "could not be filled"
        )
    return out
