"""What the health service knows: each service's last status, readings, supervisord's view."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from common.reading import Reading

CURVE_POINTS = 24 * 3600 // 10  # a day of E7 at the 10 s floor


@dataclass
class Latest:
    value: float
    ts: str  # the reading's own time
    received: float  # time.time() when health got it
    source: str


@dataclass
class HealthState:
    tz: ZoneInfo
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # service -> status
    status_seen: dict[str, float] = field(default_factory=dict)  # service -> monotonic
    radio_beat: dict[str, Any] = field(default_factory=dict)
    radio_beat_seen: float = 0.0
    latest: dict[tuple[str, str], Latest] = field(default_factory=dict)  # (epc, dataid)
    curve: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=CURVE_POINTS))
    readings_total: dict[tuple[str, str], int] = field(default_factory=dict)
    last_reading_received: float = 0.0  # time.time()
    processes: list[dict[str, Any]] = field(default_factory=list)
    supervisor_error: str = ""
    restarts: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def on_status(self, status: dict[str, Any]) -> None:
        with self.lock:
            name = str(status.get("service", "?"))
            self.statuses[name] = status
            self.status_seen[name] = time.monotonic()

    def on_heartbeat(self, beat: dict[str, Any]) -> None:
        with self.lock:
            self.radio_beat = beat
            self.radio_beat_seen = time.monotonic()

    def on_reading(self, r: Reading) -> None:
        now = time.time()
        with self.lock:
            key = (r.epc, r.dataid)
            old = self.latest.get(key)
            if old is None or r.ts >= old.ts:
                self.latest[key] = Latest(r.value, r.ts, now, r.source)
            self.readings_total[key] = self.readings_total.get(key, 0) + 1
            self.last_reading_received = max(self.last_reading_received, now)
            if r.epc == "E7":
                t = r.time.timestamp()
                if not self.curve or t > self.curve[-1][0]:
                    self.curve.append((t, r.value))

    def today_curve(self) -> list[tuple[float, float]]:
        midnight = datetime.now(self.tz).replace(hour=0, minute=0, second=0, microsecond=0)
        start = midnight.timestamp()
        with self.lock:
            return [p for p in self.curve if p[0] >= start]

    def age_of_status(self, service: str) -> float | None:
        seen = self.status_seen.get(service)
        return None if seen is None else time.monotonic() - seen
