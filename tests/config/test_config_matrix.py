"""Bad configurations: one line per problem naming the key and the fix, never a traceback,
and under supervisord a service that waits for the fix instead of crash-looping.

DESIGN.md, "Says what is wrong ... bad config ... A mistake in config never becomes a crash
loop that supervisord gives up on."  Each case is a settings.yml and a .env with one mistake.

- Under the real supervisord: every case is a program of one supervisord, with the service
  that meets the mistake (the radio for B-route and serial settings, influx_writer for
  INFLUXDB_*, health for health.*) and the program settings of the project's
  supervisord.conf, each case in its own directories.  Each must report ``config-error``
  (or, for a serial port that is not a dongle, ``dongle-missing``) with the key in its status
  to health (the status socket) and stay RUNNING with the same pid, past the point where a
  crash loop would have made supervisord give up (FATAL).
- By hand: the same service exits with status 2, every line of stderr is
  ``<service>: config error: ...`` and one names the key; ``smartmeterctl config check`` says
  the same and exits 2.
- The whole stack on a settings.yml that is not YAML: every program waits (the health
  service too, so nothing answers on /health) and ``smartmeterctl status`` names
  ``config-error`` with the line to fix.

test_config.py checks the loader's every message in-process; test_health_stack.py checks a
fixed BROUTE_ID bringing the stack back.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from tests.support.stack import PROJECT, Stack, wait_for

pytestmark = pytest.mark.e2e

GOOD_ID = "00112233445566778899AABBCCDDEEFF"
GOOD_PASSWORD = "0123456789AB"
GOOD_ENV = f"BROUTE_ID={GOOD_ID}\nBROUTE_PASSWORD={GOOD_PASSWORD}\n"
INFLUX_ENV = "INFLUXDB_URL=http://127.0.0.1:9\nINFLUXDB_TOKEN=t0ken\nINFLUXDB_ORG=o\n"
INFLUX_ON = "influxdb:\n  enabled: true\n"


@dataclass(frozen=True)
class Case:
    name: str
    key: str  # what the message must name
    settings: str | bytes | None = ""  # settings.yml (None: a directory in its place)
    env: str | None = GOOD_ENV  # .env (None: no file at all)
    service: str = "radio"
    cause: str = "config-error"

    @property
    def by_hand(self) -> bool:
        return self.cause == "config-error"


CASES = [
    Case("broute-id-missing", "BROUTE_ID", env=f"BROUTE_PASSWORD={GOOD_PASSWORD}\n"),
    Case("broute-id-short", "BROUTE_ID", env=f"BROUTE_ID=0123\nBROUTE_PASSWORD={GOOD_PASSWORD}\n"),
    Case("password-length", "BROUTE_PASSWORD", env=f"BROUTE_ID={GOOD_ID}\nBROUTE_PASSWORD=abc\n"),
    Case("env-file-missing", "BROUTE_ID", env=None),
    Case("env-file-unreadable", "smartmeter.env", env="directory"),
    Case("unknown-epc", "acquisition.properties", "acquisition:\n  properties: [E7, ZZ]\n"),
    Case(
        "interval-below-floor",
        "acquisition.interval_seconds",
        "acquisition:\n  interval_seconds: 5\n",
        env=GOOD_ENV + "SERIAL_PORT=/dev/ttyUSB-nothing\n",
    ),
    Case(
        "interval-wrong-type",
        "acquisition.interval_seconds",
        "acquisition:\n  interval_seconds: often\n",
    ),
    Case("bad-yaml", "not valid YAML at line", "acquisition:\n  properties: [E7\n"),
    Case("not-a-mapping", "must be a mapping", "- E7\n- E0\n"),
    Case("not-utf8", "not UTF-8", b"unitid: \xff\xfe\n"),
    Case("settings-unreadable", "settings.yml", settings=None),
    Case("unknown-key", "did you mean 'acquisition'", "acquisiton:\n  interval_seconds: 30\n"),
    Case("unknown-nested-key", "csv.directroy", "csv:\n  directroy: /tmp\n", service="csv_rotator"),
    Case("bool-wrong-type", "csv.enabled", "csv:\n  enabled: maybe\n", service="csv_rotator"),
    Case("unknown-timezone", "timezone", "timezone: Mars/Olympus_Mons\n"),
    Case("log-level", "logging.level", "logging:\n  level: LOUD\n"),
    Case("dongle-model", "dongle.model", "dongle:\n  model: rl9999\n"),
    Case("health-port", "health.port", "health:\n  port: 70000\n", service="health"),
    Case(
        "influx-url",
        "INFLUXDB_URL",
        INFLUX_ON,
        env=GOOD_ENV
        + INFLUX_ENV.replace("http://127.0.0.1:9", "127.0.0.1:8086")
        + "INFLUXDB_BUCKET=b\n",
        service="influx_writer",
    ),
    Case(
        "influx-bucket-missing",
        "INFLUXDB_BUCKET",
        INFLUX_ON,
        env=GOOD_ENV + INFLUX_ENV,
        service="influx_writer",
    ),
    Case(
        "serial-port-not-a-dongle",
        "SERIAL_PORT",
        "",
        env=GOOD_ENV + "SERIAL_PORT=/etc\n",
        cause="dongle-missing",
    ),
]


def case_dir(root: Path, case: Case) -> Path:
    return root / case.name


def case_env(root: Path, case: Case) -> dict[str, str]:
    d = case_dir(root, case)
    return {
        "SMARTMETER_HOME": str(d),
        "SMARTMETER_CONFIG": str(d / "settings.yml"),
        "SMARTMETER_ENV_FILE": str(d / "smartmeter.env"),
        "SMARTMETER_RUNTIME_DIR": str(d / "run"),
        "SMARTMETER_DATA_DIR": str(d / "data"),
        "SMARTMETER_LOG_DIR": str(d / "log"),
    }


def write_case(root: Path, case: Case) -> None:
    d = case_dir(root, case)
    for sub in ("run", "data", "log"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    settings = d / "settings.yml"
    if case.settings is None:
        settings.mkdir()
    elif isinstance(case.settings, bytes):
        settings.write_bytes(case.settings)
    else:
        settings.write_text(case.settings)
    env = d / "smartmeter.env"
    if case.env == "directory":
        env.mkdir()
    elif case.env is not None:
        env.write_text(case.env)
        env.chmod(0o600)


def clean_environ() -> dict[str, str]:
    drop = ("BROUTE_", "INFLUXDB_", "SERIAL_PORT", "SMARTMETER_", "SUPERVISOR_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def supervisord_conf(root: Path) -> Path:
    """One program per case, each with the project's settings for its service."""
    project = configparser.RawConfigParser(interpolation=None)
    project.read(PROJECT / "supervisord.conf")
    lines = [
        "[unix_http_server]", f"file={root / 'sv.sock'}", "chmod=0700",
        "[supervisord]", "nodaemon=true", f"logfile={root / 'supervisord.log'}",
        f"pidfile={root / 'supervisord.pid'}", f"childlogdir={root}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    ]  # fmt: skip
    for case in CASES:
        section = project[f"program:{case.service}"]
        env = ",".join(f'{k}="{v}"' for k, v in case_env(root, case).items())
        lines += [
            f"[program:{case.name}]",
            f"command={sys.executable} -m services.{case.service}",
            f"directory={PROJECT}",
            f"environment={env}",
            f"stdout_logfile={case_dir(root, case) / 'log' / 'service.log'}",
            "redirect_stderr=true",
        ]
        for key in ("autorestart", "startsecs", "startretries", "stopwaitsecs", "stopasgroup",
                    "killasgroup"):  # fmt: skip
            if key in section:
                lines.append(f"{key}={section[key]}")
    path = root / "supervisord.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


class Statuses:
    """Health's side of every case's status socket: the last status of each case."""

    def __init__(self, root: Path) -> None:
        self.last: dict[str, dict] = {}
        self._stop = threading.Event()
        ctx = zmq.Context.instance()
        self._socks = {}
        for case in CASES:
            sock = ctx.socket(zmq.SUB)
            sock.setsockopt(zmq.SUBSCRIBE, b"status")
            sock.setsockopt(zmq.LINGER, 0)
            sock.bind(f"ipc://{case_dir(root, case) / 'run' / 'status.sock'}")
            self._socks[sock] = case.name
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        for sock in self._socks:
            poller.register(sock, zmq.POLLIN)
        while not self._stop.is_set():
            for sock, _ in poller.poll(100):
                _, body = sock.recv_multipart()
                self.last[self._socks[sock]] = json.loads(body)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self._socks:
            sock.close()


def test_at_least_fifteen_cases():
    assert len([c for c in CASES if c.cause == "config-error"]) >= 15
    assert len({c.name for c in CASES}) == len(CASES)


def test_bad_configs_wait_under_supervisord_and_exit_2_by_hand(tmp_path):
    root = tmp_path
    for case in CASES:
        write_case(root, case)
    conf = supervisord_conf(root)
    statuses = Statuses(root)
    sv = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)],
        env=clean_environ(), cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        from common.supervisor_rpc import supervisor

        rpc = supervisor(root / "sv.sock").supervisor
        wait_for(lambda: (root / "sv.sock").exists(), 20, "supervisord")

        def reported() -> bool:
            return all(statuses.last.get(c.name, {}).get("cause") == c.cause for c in CASES)

        with contextlib.suppress(AssertionError):  # said below, case by case
            wait_for(reported, 60, "every case's named cause")
        pids = {i["name"]: i["pid"] for i in rpc.getAllProcessInfo()}
        # A service that exits is started again by supervisord (another pid) within about a
        # second, and three exits within startsecs (2 s) make it give up (FATAL).
        time.sleep(6)
        infos = {i["name"]: i for i in rpc.getAllProcessInfo()}
        last = dict(statuses.last)  # before the stop, which every service reports too
    finally:
        sv.send_signal(signal.SIGTERM)
        sv.wait(timeout=60)
        statuses.close()
    for case in CASES:
        status = last.get(case.name, {})
        log = (case_dir(root, case) / "log" / "service.log").read_text(errors="replace")
        assert status.get("cause") == case.cause, f"{case.name}: {status or log}"
        said = status.get("message", "") + json.dumps(status.get("details", {}))
        assert case.key in said, f"{case.name}: the status does not name {case.key}: {said}"
        assert infos[case.name]["statename"] == "RUNNING", f"{case.name}: {infos[case.name]}"
        assert infos[case.name]["pid"] == pids[case.name], f"{case.name} was restarted"
        assert "Traceback" not in log, f"{case.name}: {log}"

    # By hand: exit 2, one line per problem, no traceback; and `smartmeterctl config check`.
    runs = []
    for case in CASES:
        if case.by_hand:
            runs.append((case, "service", ["-m", f"services.{case.service}"]))
            runs.append((case, "ctl", ["-m", "services.ctl", "config", "check"]))
    for batch in range(0, len(runs), 8):  # 2 cores: a few at a time
        started = [
            (case, what, subprocess.Popen(
                [sys.executable, *cmd], env=clean_environ() | case_env(root, case),
                cwd=PROJECT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            for case, what, cmd in runs[batch : batch + 8]
        ]  # fmt: skip
        for case, what, proc in started:
            out, err = proc.communicate(timeout=60)
            prefix = f"{case.service}: config error: " if what == "service" else "config error: "
            lines = err.strip().splitlines()
            name = f"{case.name} ({what})"
            assert proc.returncode == 2, f"{name} exited {proc.returncode}: {out}{err}"
            assert "Traceback" not in out + err, f"{name}: {err}"
            assert lines and all(line.startswith(prefix) for line in lines), f"{name}: {err}"
            assert any(case.key in line for line in lines), f"{name}: {err}"


def test_a_broken_settings_file_is_named_by_smartmeterctl_status(tmp_path):
    stack = Stack(tmp_path / "s")
    stack.write_config()
    (stack.root / "settings.yml").write_text("acquisition:\n  properties: [E7\n")
    stack.write_config = lambda: None  # start() must not write a good one over it
    try:
        stack.start()
        wait_for(lambda: stack.rpc().getAllProcessInfo(), 20, "supervisord")

        def running() -> bool:
            return {i["statename"] for i in stack.rpc().getAllProcessInfo()} == {"RUNNING"}

        wait_for(running, 60, "every program RUNNING (waiting for the fix)")
        done = stack.ctl("status")
        as_json = json.loads(stack.ctl("status", "--json").stdout)
    finally:
        stack.stop()
    assert done.returncode == 2, done.stdout
    assert "config-error: " in done.stdout and "not valid YAML at line" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert any(p.startswith("config-error: ") for p in as_json["problems"])
    assert as_json["verdict"] == "critical"
