"""Releases side by side under one root (``/opt/smartmeter`` on the appliance).

    releases/<version>/   venv/, supervisord.conf, manifest.json, version
    current  -> releases/<version>   what the stack runs (smartmeter.service starts it)
    good     -> releases/<version>   the last release confirmed good (rollback target)
    previous -> releases/<version>   the good release before it (kept for a manual rollback)
    pending.json                     an update between "stop" and "confirmed"
    last-update.json                 the last update's outcome (status, page, /health)

Every link is replaced with one rename, so a power cut leaves either the old or the new
target, never none.  The root is configurable (SMARTMETER_RELEASE_ROOT) so host tests
use a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("/opt/smartmeter")
LINKS = ("current", "good", "previous")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically and durably: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.chmod(0o644)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def from_environ(cls) -> Layout:
        return cls(Path(os.environ.get("SMARTMETER_RELEASE_ROOT") or DEFAULT_ROOT))

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def pending_file(self) -> Path:
        return self.root / "pending.json"

    @property
    def outcome_file(self) -> Path:
        return self.root / "last-update.json"

    def release(self, version: str) -> Path:
        return self.releases / version

    def target(self, link: str) -> str | None:
        """The version a link points at (None: no such link)."""
        try:
            return Path(os.readlink(self.root / link)).name
        except OSError:
            return None

    def point(self, link: str, version: str | None) -> None:
        """Point ``link`` at a release with one rename (or remove it for None)."""
        path = self.root / link
        if version is None:
            path.unlink(missing_ok=True)
        else:
            tmp = self.root / f".{link}.new"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(Path("releases") / version)
            os.replace(tmp, path)
        fsync_dir(self.root)

    def installed(self) -> list[str]:
        if not self.releases.is_dir():
            return []
        return sorted(p.name for p in self.releases.iterdir()
                      if p.is_dir() and not p.name.startswith("."))  # fmt: skip

    def prune(self) -> list[str]:
        """Every release no link points at, and unfinished builds, are removed."""
        keep = {self.target(link) for link in LINKS}
        gone = []
        if not self.releases.is_dir():
            return gone
        for p in self.releases.iterdir():
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p.name)
        return gone

    def pending(self) -> dict[str, Any] | None:
        return read_json(self.pending_file)

    def outcome(self) -> dict[str, Any] | None:
        return read_json(self.outcome_file)

    def record(self, result: str, version: str, running: str | None, reason: str = "") -> None:
        write_json(self.outcome_file, {
            "result": result, "version": version, "running": running, "reason": reason,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })  # fmt: skip
