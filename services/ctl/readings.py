"""`smartmeterctl readings`: recent readings from the radio's journal, and new ones."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import click
import zmq

from common.bus import CatchUpSubscriber, Cursor
from common.paths import Paths
from common.reading import Reading, format_value


def _ask(endpoint: str, request: dict) -> dict | None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart([b"", json.dumps(request).encode()])
        if not sock.poll(3000):
            return None
        return json.loads(sock.recv_multipart()[-1])
    finally:
        sock.close()


def _line(r: Reading, tz: ZoneInfo) -> str:
    ts = r.time.astimezone(tz).isoformat(timespec="seconds")
    dataid = f"/{r.dataid}" if r.dataid else ""
    return f"{ts}  {r.epc}{dataid:<3} {format_value(r.value):>12}  ({r.source}, seq {r.seq})"


def show(paths: Paths, tz: ZoneInfo, epcs: set[str], count: int, follow: bool) -> int:
    head = _ask(paths.replay_endpoint, {"since": 0, "max": 1})
    if head is None:
        click.echo(
            f"the radio does not answer at {paths.replay_endpoint}; is it running?", err=True
        )
        return 3
    # Readings are several per poll, so look back far enough to find ``count`` matching ones.
    since = max(0, int(head["last"]) - count * (12 if epcs else 1))
    sub = CatchUpSubscriber(paths.readings_endpoint, paths.replay_endpoint,
                            Cursor(head["epoch"], since))  # fmt: skip
    try:
        recent = [r for r in sub.poll(200) if not epcs or r.epc in epcs][-count:]
        for r in recent:
            click.echo(_line(r, tz))
        while follow:
            for r in sub.poll(1000):
                if not epcs or r.epc in epcs:
                    click.echo(_line(r, tz))
    except KeyboardInterrupt:
        pass
    finally:
        sub.close()
    return 0
