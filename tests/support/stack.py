"""The real stack in temporary directories: supervisord, services, the simulator's pty."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
DEMO_ID = "00112233445566778899AABBCCDDEEFF"
DEMO_PASSWORD = "0123456789AB"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Stack:
    root: Path
    settings: dict = field(default_factory=dict)
    env_values: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    health_port: int = field(default_factory=lambda: free_port())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def get(self, path: str) -> tuple[int, bytes]:
        """GET from the health service: (status code, body), errors included."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def health(self) -> tuple[int, dict]:
        code, body = self.get("/health")
        return code, json.loads(body)

    @property
    def home(self) -> Path:
        return self.root

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "run"

    @property
    def csv_dir(self) -> Path:
        return self.root / "csv"

    @property
    def served_log(self) -> Path:
        return self.log_dir / "simulator-served.jsonl"

    def environ(self) -> dict[str, str]:
        secret = ("BROUTE_", "INFLUXDB_", "MQTT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(secret)}
        env.update(
            SMARTMETER_HOME=str(self.root),
            SMARTMETER_CONFIG=str(self.root / "settings.yml"),
            SMARTMETER_ENV_FILE=str(self.root / "smartmeter.env"),
            SMARTMETER_RUNTIME_DIR=str(self.runtime_dir),
            SMARTMETER_DATA_DIR=str(self.root / "data"),
            SMARTMETER_LOG_DIR=str(self.log_dir),
            SERIAL_PORT=self.env_values.get("SERIAL_PORT", "simulator"),
        )
        env.setdefault("SMARTMETER_FATAL_COOLDOWN", "2")
        env.update(self.extra_env)
        return env

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        settings = {
            "acquisition": {
                "interval_seconds": 10,
                "properties": ["D3", "D7", "E1", "E7", "E0", "E3"],
            },
            "csv": {"enabled": True, "directory": str(self.csv_dir)},
            "logging": {"level": "DEBUG"},
            "storage": {"flush_interval_seconds": 1},
            "health": {"bind": "127.0.0.1", "port": self.health_port},
        }
        for key, value in self.settings.items():
            if isinstance(value, dict):
                settings.setdefault(key, {}).update(value)
            else:
                settings[key] = value
        (self.root / "settings.yml").write_text(yaml.safe_dump(settings))
        values = {"BROUTE_ID": DEMO_ID, "BROUTE_PASSWORD": DEMO_PASSWORD} | self.env_values
        env_file = self.root / "smartmeter.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        env_file.chmod(0o600)

    def ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.ctl", *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT,
        )

    def start(self) -> Stack:
        self.write_config()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.ctl", "supervise"],
            env=self.environ(),
            cwd=PROJECT,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "supervise.err", "w"),  # noqa: SIM115
        )
        wait_for(lambda: (self.runtime_dir / "supervisor.sock").exists(), 20, "supervisord")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # --- processes --------------------------------------------------------------------
    def rpc(self):
        from common.supervisor_rpc import supervisor

        return supervisor(self.runtime_dir / "supervisor.sock").supervisor

    def info(self, name: str) -> dict:
        return self.rpc().getProcessInfo(name)

    def wait_running(self, name: str, not_pid: int = 0, timeout: float = 30) -> int:
        """Wait until ``name`` is RUNNING (past startsecs) with a pid other than ``not_pid``."""

        def ready() -> int:
            i = self.info(name)
            return i["pid"] if i["statename"] == "RUNNING" and i["pid"] != not_pid else 0

        return int(wait_for(ready, timeout, f"{name} RUNNING"))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.info(name)["pid"]
        os.kill(pid, sig)
        return pid

    # --- what it produced ----------------------------------------------------------------
    def csv_files(self) -> list[Path]:
        return sorted(self.csv_dir.glob("*-smartmeter.csv"))

    def csv_lines(self) -> list[str]:
        lines: list[str] = []
        for f in self.csv_files():
            lines += f.read_text().splitlines()
        return lines

    def csv_rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for f in self.csv_files():
            with f.open(newline="") as fh:
                rows += list(csv.DictReader(fh))
        return rows

    def served(self, epcs: set[str] | None = None) -> list[dict]:
        if not self.served_log.exists():
            return []
        out = []
        for line in self.served_log.read_text().splitlines():
            entry = json.loads(line)
            if epcs is None or entry["epc"] in epcs:
                out.append(entry)
        return out

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
