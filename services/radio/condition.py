"""The radio's condition as health shows it: a named cause, its level, and what to do.

Each cause a person may see has one sentence here, written for the person, not the
programmer.  :class:`RadioFault` carries a cause up to the loop that reports it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from common.status import StatusReporter

log = logging.getLogger("radio")

# cause -> (level, what the user should do)
CAUSES: dict[str, tuple[str, str]] = {
    "starting": ("warn", "The radio is starting."),
    "scanning": ("warn", "Looking for the smart meter (an active scan takes up to two minutes)."),
    "joining": ("warn", "Connecting to the smart meter."),
    "joined": ("pass", "Connected to the smart meter; readings are flowing."),
    "reauthenticating": (
        "warn",
        "The dongle is renewing its session keys with the meter; requests wait until it is done.",
    ),
    "tx-limited": (
        "warn",
        "The dongle reached the radio law's transmission-time limit; requests wait until it "
        "lifts (up to an hour). Nothing to do.",
    ),
    "dongle-missing": (
        "fail",
        "No dongle at the configured serial port. Plug the Wi-SUN dongle in, or fix SERIAL_PORT.",
    ),
    "dongle-not-responding": (
        "fail",
        "The dongle does not answer. Unplug it and plug it in again; if that does not help, "
        "check dongle.model in settings.yml.",
    ),
    "auth-failed": (
        "fail",
        "The meter refused to connect (EVENT 24 on every join). Check BROUTE_ID and "
        "BROUTE_PASSWORD against the power company's letter.",
    ),
    "no-meter-found": (
        "fail",
        "No smart meter answered the scan. Move the dongle closer to the meter, and check that "
        "the B-route service is active for this BROUTE_ID.",
    ),
    "meter-not-answering": (
        "fail",
        "The meter does not answer requests. The radio reconnects by itself; if this lasts, "
        "move the dongle closer to the meter.",
    ),
    "stopped": ("warn", "The radio stopped."),
}


class RadioFault(Exception):
    """Something that stops readings, with the cause a person will see."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        assert cause in CAUSES, cause
        self.cause = cause


class Stopping(Exception):
    """SIGTERM arrived while the radio was waiting for something."""


@dataclass
class Counters:
    requests: int = 0  # ECHONET Lite requests sent (a retry counts again)
    timeouts: int = 0  # requests the meter did not answer in time
    retries: int = 0
    send_failures: int = 0  # EVENT 21 01: the dongle could not deliver
    rejoins: int = 0
    rescans: int = 0
    published: int = 0
    notifications: int = 0  # EA/EB the meter announced by INF/INFC
    counter_wraps: int = 0  # E0/E3 passing 10^D7


class RadioCondition:
    """Cause, counters and details, sent to health through :class:`StatusReporter`."""

    def __init__(
        self, reporter: StatusReporter | None, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self.reporter = reporter
        self.on_change = on_change
        self.cause = "starting"
        self.detail_text = ""
        self.counters = Counters()
        self._lock = threading.Lock()

    @property
    def level(self) -> str:
        return CAUSES[self.cause][0]

    def set(self, cause: str, detail: str = "") -> None:
        level, advice = CAUSES[cause]
        changed = cause != self.cause
        with self._lock:
            self.cause, self.detail_text = cause, detail
        if changed:
            (log.error if level == "fail" else log.info)(
                "%s: %s", cause, detail or advice
            )  # fmt: skip
        if self.reporter is not None:
            message = f"{advice} ({detail})" if detail and level == "fail" else advice
            self.reporter.set(level, cause, message)
        if changed:
            self.on_change()

    def count(self, **increments: int) -> None:
        with self._lock:
            for name, n in increments.items():
                setattr(self.counters, name, getattr(self.counters, name) + n)
            snapshot = asdict(self.counters)
        if self.reporter is not None:
            self.reporter.count(**snapshot)

    def detail(self, **details: Any) -> None:
        if self.reporter is not None:
            self.reporter.detail(**details)
