"""A stand-in for `systemctl start|stop smartmeter.service` on the host (tests/updates).

The updater stops and starts the logger through a command (SMARTMETER_STACK_CTL); on the
appliance that is systemctl, which cannot run here.  This does what the unit does and no
more: run ``<release root>/current/venv/bin/smartmeterctl supervise`` in its own session,
and stop it with SIGTERM (then SIGKILL after TimeoutStopSec).  ``start`` returns once
supervisord answers, as systemd's start job would for a started Type=simple service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_STOP = 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _pid(state: Path) -> int | None:
    try:
        pid = int((state / "pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def stop(state: Path) -> None:
    pid = _pid(state)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + TIMEOUT_STOP
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)


def start(state: Path) -> None:
    if _pid(state) is not None:
        return
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "SMARTMETER_UPDATE_KILL_AT"))}  # fmt: skip
    root = Path(env["SMARTMETER_RELEASE_ROOT"])
    runtime = Path(env["SMARTMETER_RUNTIME_DIR"])
    (runtime / "supervisor.sock").unlink(missing_ok=True)  # left by a killed supervisord
    with (state / "supervise.err").open("a") as err:
        proc = subprocess.Popen(
            [str(root / "current/venv/bin/smartmeterctl"), "supervise"],
            env=env, cwd=env["SMARTMETER_HOME"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )  # fmt: skip
    (state / "pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while not (runtime / "supervisor.sock").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"smartmeter.service (stand-in): supervisord did not start: "
                     f"see {state / 'supervise.err'}")  # fmt: skip
        time.sleep(0.1)


def main() -> int:
    state = Path(os.environ["SMARTMETER_TEST_SERVICE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    {"start": start, "stop": stop}[sys.argv[1]](state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
