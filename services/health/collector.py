"""Threads that keep HealthState current: status socket, readings, supervisord, restarts."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import zmq

from common.bus import CatchUpSubscriber, Cursor
from common.config import Config
from common.status import TOPIC_STATUS, status_endpoint
from common.supervisor_rpc import SupervisorUnavailable, process_info
from services.health.state import HealthState

log = logging.getLogger("health")

SUPERVISOR_POLL = 5.0


def restarts_file(runtime_dir: Path) -> Path:
    """Written by the restarter (supervisord event listener)."""
    return runtime_dir / "restarts.json"


class Collector:
    def __init__(self, config: Config, state: HealthState, stop: threading.Event) -> None:
        self.config = config
        self.state = state
        self.stop = stop
        self.threads = [
            threading.Thread(target=self._statuses, name="statuses", daemon=True),
            threading.Thread(target=self._readings, name="readings", daemon=True),
            threading.Thread(target=self._supervisor, name="supervisor", daemon=True),
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
        try:
            while not self.stop.is_set():
                if not sock.poll(500):
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
        # A fresh cursor each start: the journal's replay gives today's curve back after a
        # restart of this service, and health keeps no state on disk.
        paths = self.config.paths
        sub = CatchUpSubscriber(paths.readings_endpoint, paths.replay_endpoint, Cursor())
        try:
            while not self.stop.is_set():
                for reading in sub.poll(500):
                    self.state.on_reading(reading)
                if sub.last_heartbeat is not None:
                    self.state.on_heartbeat(sub.last_heartbeat)
        finally:
            sub.close()

    def _supervisor(self) -> None:
        sock = self.config.paths.runtime_dir / "supervisor.sock"
        restarts = restarts_file(self.config.paths.runtime_dir)
        while not self.stop.is_set():
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
            self.stop.wait(SUPERVISOR_POLL)
