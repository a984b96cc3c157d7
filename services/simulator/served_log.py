"""The served log: one JSON line per property value the meter sent, the tests' reference.

``{"time", "meter_time", "epc", "raw", "decoded", "via"}``: ``time`` is the wall clock (what
the logger timestamps readings with), ``meter_time`` the meter's own clock (they differ
under ``--time-scale``), ``decoded`` maps dataid to the value the meter meant (W, kWh, A;
``null`` = no value; history maps each point's ISO time to kWh), ``via`` is ``get``,
``inf``, ``infc`` or ``inf_req``; EA/EB and history add ``value_time``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO

from services.simulator.history import Served
from services.simulator.meter_model import JST

MAX_BYTES = 32 * 2**20  # a demo left running for months must not fill the card


class ServedLog:
    """Appends entries; past ``max_bytes`` the file moves to ``<name>.1`` and a new one starts."""

    def __init__(self, path: Path | None, max_bytes: int = MAX_BYTES) -> None:
        self._file: IO[str] | None = None
        self._path = path
        self._max = max_bytes
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def _rotate(self) -> None:
        assert self._file is not None and self._path is not None
        self._file.close()
        self._path.replace(self._path.with_name(self._path.name + ".1"))
        self._file = self._path.open("a", encoding="utf-8", buffering=1)

    def write(self, epc: int, served: Served, meter_time: datetime, via: str) -> None:
        if self._file is None:
            return
        entry: dict[str, object] = {
            "time": datetime.now(JST).isoformat(timespec="milliseconds"),
            "meter_time": meter_time.isoformat(timespec="milliseconds"),
            "epc": f"{epc:02X}",
            "raw": served.edt.hex().upper() if served.edt is not None else None,
            "decoded": served.decoded,
            "via": via,
        }
        if served.value_time is not None:
            entry["value_time"] = served.value_time.isoformat()
        self._file.write(json.dumps(entry) + "\n")
        if self._file.tell() > self._max:
            self._rotate()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
