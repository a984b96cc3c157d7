"""Threads that keep HealthState current: status socket, readings, supervisord, restarts."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import zmq

from common.bus import CatchUpSubscriber, Cursor
from common.config import Config
from common.status import TOPIC_STATUS, status_endpoint
from common.supervisor_rpc import SupervisorUnavailable, process_info
from services.health.energy.book import EnergyBook
from services.health.state import HealthState

log = logging.getLogger("health")

SUPERVISOR_POLL = 2.0  # supervisord's answer is reused for this long


def restarts_file(runtime_dir: Path) -> Path:
    """Written by the restarter (supervisord event listener)."""
    return runtime_dir / "restarts.json"


class Collector:
    """Two threads that wait on their sockets; supervisord is asked when someone asks us.

    The waits are open-ended (``wake``, readable on stop, ends them) and supervisord is not
    polled on a timer: an idle health service used to wake six times a second and make an
    XML-RPC call every 5 s, the largest share of the stack's CPU (docs/benchmarks.md).
    """

    def __init__(
        self,
        config: Config,
        state: HealthState,
        stop: threading.Event,
        wake: int | None = None,
        book: EnergyBook | None = None,
    ) -> None:
        self.config = config
        self.book = book
        self.state = state
        self.stop = stop
        self.wake = wake
        self.timeout_ms = None if wake is not None else 500
        self._asked = -SUPERVISOR_POLL
        self._ask_lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._statuses, name="statuses", daemon=True),
            threading.Thread(target=self._readings, name="readings", daemon=True),
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _statuses(self) -> None:
        sock = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, TOPIC_STATUS)
        self.config.paths.runtime_dir.mkdir(parents=True, exist_ok=True)
        sock.bind(status_endpoint(self.config.paths))
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if self.wake is not None:
            poller.register(self.wake, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                if sock not in dict(poller.poll(self.timeout_ms)):
                    continue
                parts = sock.recv_multipart()
                try:
                    status = json.loads(parts[-1])
                    if not isinstance(status, dict) or "service" not in status:
                        raise ValueError("not a status")
                except ValueError:
                    log.warning("ignoring a malformed status message")
                    continue
                self.state.on_status(status)
        finally:
            sock.close()

    def _readings(self) -> None:
        # A fresh cursor each start: the journal's replay gives today's curve (and today's
        # energy, and the days the journal holds when CSV is off) back after a restart.
        paths = self.config.paths
        sub = CatchUpSubscriber(paths.readings_endpoint, paths.replay_endpoint, Cursor())
        try:
            while not self.stop.is_set():
                for reading in sub.poll(self.timeout_ms, wake=self.wake):
                    self.state.on_reading(reading)
                    if self.book is not None:
                        self.book.on_reading(reading)
                if sub.last_heartbeat is not None:
                    self.state.on_heartbeat(sub.last_heartbeat)
        finally:
            sub.close()

    def processes(self) -> None:
        """Bring supervisord's view (and the restart counts) up to date, at most every
        ``SUPERVISOR_POLL`` seconds; called before every answer the HTTP server gives."""
        with self._ask_lock:
            if time.monotonic() - self._asked < SUPERVISOR_POLL:
                return
            sock = self.config.paths.runtime_dir / "supervisor.sock"
            restarts = restarts_file(self.config.paths.runtime_dir)
            try:
                procs = process_info(sock)
                error = ""
            except SupervisorUnavailable as exc:
                procs, error = [], str(exc)
            try:
                counts = json.loads(restarts.read_text()) if restarts.exists() else {}
            except (OSError, ValueError):
                counts = {}
            with self.state.lock:
                self.state.processes = procs
                self.state.supervisor_error = error
                self.state.restarts = counts
            self._asked = time.monotonic()
