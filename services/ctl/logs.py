"""`smartmeterctl logs`: the tail of the service logs, optionally followed."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import click


def _files(log_dir: Path, service: str | None) -> list[Path]:
    if service:
        return [p for p in (log_dir / f"{service}.log",) if p.exists()]
    return sorted(p for p in log_dir.glob("*.log"))


def show(log_dir: Path, service: str | None, lines: int, follow: bool) -> int:
    files = _files(log_dir, service)
    if not files:
        what = f"{service}.log" if service else "any *.log"
        click.echo(f"no log files: {what} not found in {log_dir}", err=True)
        return 1
    offsets = {}
    for path in files:
        if len(files) > 1:
            click.echo(f"==> {path.name} <==")
        with path.open("rb") as f:
            tail = deque(f, maxlen=lines)
            offsets[path] = f.tell()
        for raw in tail:
            click.echo(raw.decode("utf-8", "replace").rstrip("\n"))
    while follow:
        time.sleep(0.5)
        for path in files:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < offsets[path]:  # rotated
                offsets[path] = 0
            if size > offsets[path]:
                with path.open("rb") as f:
                    f.seek(offsets[path])
                    chunk = f.read()
                    offsets[path] = f.tell()
                prefix = f"{path.stem}: " if len(files) > 1 else ""
                for line in chunk.decode("utf-8", "replace").splitlines():
                    click.echo(prefix + line)
    return 0
