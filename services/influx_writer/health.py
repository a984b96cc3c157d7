"""What the writer tells health: one named cause (the worst condition now), and the numbers.

The intake thread knows about the disk (``disk-full``, ``queue-full``), the drain thread about
the server and the clock; each sets its own condition and the worst one is shown.  Messages
say what happens to the readings and what to do; they never contain the token.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from common.status import StatusReporter

log = logging.getLogger("influx_writer")

# Ties between equal levels go to the cause a person should fix first.
ORDER = (
    "disk-full", "queue-full", "queue-error", "influx-auth", "influx-bucket-missing",
    "influx-rejecting", "influx-unreachable", "clock-implausible",
)  # fmt: skip
RANK = {"fail": 0, "warn": 1, "pass": 2}
LOG_EVERY = 60.0  # a condition that persists is logged again at most once a minute


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class Health:
    def __init__(self, reporter: StatusReporter, scrub: Any = None) -> None:
        self.reporter = reporter
        self._scrub = scrub or (lambda s: s)
        self._lock = threading.Lock()
        self._conditions: dict[str, tuple[str, str, str, float]] = {}  # slot → cond, until
        self._logged: dict[str, float] = {}
        self.last_success: float | None = None
        self.last_error: dict[str, Any] | None = None

    def problem(self, slot: str, level: str, cause: str, message: str, hold: float = 0) -> None:
        """A condition in ``slot`` (shown until cleared, or ``hold`` seconds if given)."""
        message = self._scrub(message)
        until = time.monotonic() + hold if hold else float("inf")
        with self._lock:
            before = self._conditions.get(slot)
            self._conditions[slot] = (level, cause, message, until)
            if level != "pass":
                self.last_error = {"cause": cause, "message": message, "at": iso(time.time())}
            now = time.monotonic()
            again = now - self._logged.get(cause, -LOG_EVERY) >= LOG_EVERY
            if before is None or before[1] != cause or again:
                self._logged[cause] = now
                (log.error if level == "fail" else log.warning)("%s: %s", cause, message)
        self._publish()

    def clear(self, slot: str, note: str = "") -> None:
        with self._lock:
            before = self._conditions.pop(slot, None)
        if before is not None and note:
            log.info("%s (was %s)", note, before[1])
        self._publish()

    def delivered(self) -> None:
        self.last_success = time.time()
        self.clear("delivery", "InfluxDB accepts writes again")

    def cause(self) -> tuple[str, str, str]:
        """(level, cause, message) of the worst condition now."""
        now = time.monotonic()
        with self._lock:
            for slot, cond in list(self._conditions.items()):
                if cond[3] <= now:
                    del self._conditions[slot]
            conds = list(self._conditions.values())
        if not conds:
            return "pass", "ok", "writing to InfluxDB"
        level, cause, message, _ = min(
            conds, key=lambda c: (RANK[c[0]], ORDER.index(c[1]) if c[1] in ORDER else 99)
        )
        return level, cause, message

    def _publish(self) -> None:
        self.reporter.set(*self.cause())

    def numbers(self, depth: int, counters: dict[str, int], oldest: float | None,
                held: int, quarantined: int) -> None:  # fmt: skip
        self.reporter.count(
            queue_depth=depth, held=held, quarantined=quarantined,
            **{k: counters[k] for k in ("dropped", "deadletter", "delivered", "rejected")},
        )  # fmt: skip
        self.reporter.detail(
            oldest_age_s=None if oldest is None else round(max(0.0, time.time() - oldest), 1),
            last_success=None if self.last_success is None else iso(self.last_success),
            last_error=self.last_error,
        )
        self._publish()
