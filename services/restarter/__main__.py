"""python -m services.restarter (run by supervisord as an [eventlistener]).

supervisord gives up on a program that fails ``startretries`` times within ``startsecs``
(state FATAL) and never tries again by itself (Supervisor issue #487).  A dongle missing at
boot or a config error being fixed must not need a human, so FATAL programs are started again
after a cool-down that grows with each consecutive FATAL (30 s, 60 s, ... up to 10 min).
Every exit is counted in ``$RUNTIME/restarts.json`` for ``smartmeterctl status`` and health.

stdout is the event protocol; everything else goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any

from common.paths import Paths

log = logging.getLogger("restarter")
MAX_COOLDOWN = 600.0


class Restarter:
    def __init__(self, paths: Paths, first_cooldown: float) -> None:
        self.paths = paths
        self.first_cooldown = first_cooldown
        self.file = paths.runtime_dir / "restarts.json"
        self.lock = threading.Lock()
        try:
            self.counts: dict[str, dict[str, Any]] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.counts = {}

    def _save(self) -> None:
        tmp = self.file.with_name(self.file.name + ".tmp")
        tmp.write_text(json.dumps(self.counts))
        tmp.replace(self.file)

    def on_event(self, name: str, headers: dict[str, str], payload: dict[str, str]) -> None:
        program = payload.get("processname", "?")
        with self.lock:
            entry = self.counts.setdefault(program, {"exits": 0, "fatal": 0, "restarted": 0})
            if name in ("PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF"):
                # BACKOFF: it exited before startsecs; supervisord will try again by itself.
                entry["exits"] += 1
                entry["last_exit_at"] = time.time()
                entry["last_exit_expected"] = payload.get("expected") == "1"
            elif name == "PROCESS_STATE_FATAL":
                entry["fatal"] += 1
                entry["streak"] = entry.get("streak", 0) + 1
                delay = min(MAX_COOLDOWN, self.first_cooldown * 2 ** (entry["streak"] - 1))
                entry["next_restart_at"] = time.time() + delay
                log.error("%s is FATAL; starting it again in %.0f s", program, delay)
                threading.Timer(delay, self._restart, (program,)).start()
            elif name == "PROCESS_STATE_RUNNING":
                entry.pop("next_restart_at", None)
                if time.time() - entry.get("last_exit_at", 0) > 600:
                    entry["streak"] = 0
            self._save()

    def _restart(self, program: str) -> None:
        # Imported here, on the rare FATAL path: xmlrpc pulls in http.client, email and ssl
        # (about 3 MiB PSS), which a listener that only counts events never needs.
        from common.supervisor_rpc import supervisor

        try:
            supervisor(self.paths.runtime_dir / "supervisor.sock").supervisor.startProcess(
                program, False
            )
            log.info("started %s again", program)
        except Exception as exc:  # it may be running already, or fail again: FATAL comes back
            log.warning("starting %s again: %s", program, exc)
        with self.lock:
            entry = self.counts.setdefault(program, {"exits": 0, "fatal": 0, "restarted": 0})
            entry["restarted"] += 1
            self._save()


def _parse(line: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s restarter %(levelname)s: %(message)s")  # fmt: skip
    paths = Paths.from_environ()
    cooldown = float(os.environ.get("SMARTMETER_FATAL_COOLDOWN", "30"))
    restarter = Restarter(paths, cooldown)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        headers = _parse(line.decode())
        body = stdin.read(int(headers.get("len", "0"))).decode()
        first, _, _data = body.partition("\n")
        try:
            restarter.on_event(headers.get("eventname", ""), headers, _parse(first))
        except Exception:  # never die on one event: supervisord would stop sending them
            log.exception("handling %s", headers.get("eventname"))
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
