"""Each service's status, sent to the health service every few seconds and on every change.

A status is a level (``pass``/``warn``/``fail``, as in the health-check response format), a
named cause (``joined``, ``auth-failed``, ``disk-full``, ``influx-auth``, ...), a sentence
saying what to do, and counters.  A thread of its own sends it, so a service blocked on the
serial port or on HTTP still shows up as alive and says what it is waiting for.  PUB drops
what nobody receives, which is right for status: only the latest matters.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import zmq

from common.paths import Paths
from common.reading import WIRE_VERSION

log = logging.getLogger("status")

TOPIC_STATUS = b"status"
# Every 15 s (and at once on a change of level or cause).  Each status wakes four threads
# (sender, two ZeroMQ I/O threads, health): every 5 s it was a fifth of an idle stack's CPU
# (docs/benchmarks.md).  The test suite sets a shorter one, to see counters sooner.
STATUS_INTERVAL = float(os.environ.get("SMARTMETER_STATUS_INTERVAL") or 15.0)
LEVELS = ("pass", "warn", "fail")


def status_endpoint(paths: Paths) -> str:
    """Bound by the health service; every other service connects to it."""
    return f"ipc://{paths.runtime_dir / 'status.sock'}"


class StatusReporter:
    def __init__(self, paths: Paths, service: str, interval: float = STATUS_INTERVAL) -> None:
        self.service = service
        self.interval = interval
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {
            "level": "pass", "cause": "starting", "message": "", "counters": {}, "details": {},
        }  # fmt: skip
        self._started = time.time()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._endpoint = status_endpoint(paths)
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)
        self._thread.start()

    def set(self, level: str, cause: str, message: str = "") -> None:
        """The service's condition now; sent at once when it changed."""
        assert level in LEVELS, level
        with self._lock:
            changed = (self._status["level"], self._status["cause"]) != (level, cause)
            self._status.update(level=level, cause=cause, message=message)
        if changed:
            self._wake.set()

    def count(self, **counters: int | float) -> None:
        with self._lock:
            self._status["counters"].update(counters)

    def detail(self, **details: Any) -> None:
        """Anything else health shows (LQI, queue age, last file written, ...)."""
        with self._lock:
            self._status["details"].update(details)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "v": WIRE_VERSION,
                "service": self.service,
                "pid": os.getpid(),
                "time": time.time(),
                "uptime": time.time() - self._started,
                "level": self._status["level"],
                "cause": self._status["cause"],
                "message": self._status["message"],
                "counters": dict(self._status["counters"]),
                "details": dict(self._status["details"]),
            }

    def _run(self) -> None:
        sock = zmq.Context.instance().socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 500)
        sock.setsockopt(zmq.SNDHWM, 10)
        sock.connect(self._endpoint)
        # The first message after connect is often lost (ZeroMQ's slow joiner), so the first
        # few come quickly; then one per interval, or at once when something changed.
        quick = 3
        try:
            while not self._stop.is_set():
                body = json.dumps(self.snapshot(), separators=(",", ":"), default=str)
                sock.send_multipart([TOPIC_STATUS, body.encode()])
                self._wake.wait(0.3 if quick > 0 else self.interval)
                quick -= 1
                self._wake.clear()
        finally:
            # One last status so health knows this was a clean stop, not a hang.
            with self._lock:
                self._status.update(level="warn", cause="stopped", message="the service stopped")
            sock.send_multipart([TOPIC_STATUS, json.dumps(self.snapshot()).encode()])
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2)
