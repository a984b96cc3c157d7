"""The CSV rotator's durable cursor: last ``seq`` written, and the file sizes that hold it."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("csv_rotator")


@dataclass
class CsvState:
    epoch: str = ""
    seq: int = 0
    files: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, legacy: Path | None = None) -> CsvState:
        """The saved state; ``legacy`` is where an older version kept it (the data dir):
        taken over once and removed, so that after the next reboot a stale copy cannot cut
        the files back to sizes of long ago."""
        if legacy is None or legacy == path or not legacy.exists():
            return cls._read(path)
        if path.exists():
            state = cls._read(path)  # the legacy copy is stale
        else:
            state = cls._read(legacy)
            try:
                state.save(path)
            except OSError as exc:
                log.warning("cannot move the CSV cursor from %s: %s", legacy, exc)
                return state
            log.info("moved the CSV cursor from %s to %s", legacy, path)
        try:
            legacy.unlink()
        except OSError as exc:
            log.warning("cannot remove the old CSV cursor %s: %s", legacy, exc)
        return state

    @classmethod
    def _read(cls, path: Path) -> CsvState:
        try:
            data = json.loads(path.read_text())
            return cls(
                str(data["epoch"]),
                int(data["seq"]),
                {str(k): int(v) for k, v in data["files"].items()},
            )
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("%s is unreadable (%s); starting from the radio's whole journal", path, exc)
            return cls()

    def save(self, path: Path) -> None:
        """Atomically: a crash leaves the old state or the new one, never a mix."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as f:
            json.dump({"epoch": self.epoch, "seq": self.seq, "files": self.files}, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
