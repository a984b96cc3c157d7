"""Running the stack: supervisord in the foreground with the SMARTMETER_* variables set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from common.config import SIMULATOR, read_settings_env, serial_port
from common.paths import PROJECT_ROOT, Paths
from services.ctl import running


def stack_environment(paths: Paths) -> dict[str, str]:
    """The variables supervisord.conf expands, with every directory created."""
    for d in (paths.runtime_dir, paths.data_dir, paths.log_dir):
        d.mkdir(parents=True, exist_ok=True)
    paths.runtime_dir.chmod(0o750)
    simulator = serial_port(read_settings_env(paths)) == SIMULATOR
    env = dict(os.environ)
    env.update(
        SMARTMETER_HOME=str(paths.home),
        SMARTMETER_CONFIG=str(paths.config_file),
        SMARTMETER_ENV_FILE=str(paths.env_file),
        SMARTMETER_RUNTIME_DIR=str(paths.runtime_dir),
        SMARTMETER_DATA_DIR=str(paths.data_dir),
        SMARTMETER_LOG_DIR=str(paths.log_dir),
        SMARTMETER_PYTHON=sys.executable,
        SMARTMETER_SIMULATOR="true" if simulator else "false",
    )
    return env


def supervise(paths: Paths, seconds: float | None) -> None:
    """Run supervisord in the foreground until Ctrl-C, SIGTERM or ``seconds``."""
    conf = Path(os.environ.get("SMARTMETER_SUPERVISORD_CONF") or PROJECT_ROOT / "supervisord.conf")
    env = stack_environment(paths)
    cmd = [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)]
    if seconds is None:
        # Become supervisord (same pid, so systemd and docker signal it directly): a parent
        # left waiting would cost a whole interpreter's memory and CPU for nothing
        # (docs/benchmarks.md).  supervisord stops its programs on SIGTERM and Ctrl-C.
        sys.stdout.flush()
        sys.stderr.flush()
        running.record(paths, os.getpid(), env)  # the pid stays supervisord's
        os.execve(sys.executable, cmd, env)
    proc = subprocess.Popen(cmd, env=env)
    running.record(paths, proc.pid, env)

    def stop(*_: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    except KeyboardInterrupt:
        stop()
    finally:
        timer.cancel()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    running.forget(paths)
    sys.exit(0 if code in (0, -signal.SIGTERM) else code)
