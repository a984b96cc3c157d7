"""The last PAN the radio joined, so a restart joins at once instead of scanning for minutes.

Kept as JSON in the data dir (``radio-pan.json``), written only when the PAN changes, which is
rare (a new meter, a channel change).  It belongs to one B-route ID: a cache made for another
PairID is ignored.  A cached join that fails is the radio's cue to forget it and scan again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from services.radio.link.scan import PanDescriptor

log = logging.getLogger("radio.scan")

FILE_NAME = "radio-pan.json"


class PanCache:
    def __init__(self, data_dir: Path, pair_id: str) -> None:
        self.path = data_dir / FILE_NAME
        self.pair_id = pair_id.upper()

    def load(self) -> PanDescriptor | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if str(data.get("for_pair_id", "")).upper() != self.pair_id:
                log.info("cached PAN belongs to another B-route ID; scanning")
                return None
            pan = data["pan"]
            return PanDescriptor(
                channel=int(pan["channel"]),
                pan_id=int(pan["pan_id"]),
                mac=str(pan["mac"]),
                lqi=int(pan["lqi"]),
                pair_id=pan.get("pair_id"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s is unreadable (%s); scanning instead", self.path, exc)
            return None

    def save(self, pan: PanDescriptor) -> None:
        if self.load() == pan:
            return  # nothing changed: do not write the SD card
        body = {"for_pair_id": self.pair_id, "saved_at": time.time(), "pan": pan.as_dict()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".radio-pan.")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot save the PAN to %s (%s); the next start will scan", self.path, exc)

    def forget(self) -> None:
        try:
            self.path.unlink()
            log.info("forgot the cached PAN")
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove %s: %s", self.path, exc)
