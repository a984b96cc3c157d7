"""The stack as the appliance runs it (``smartmeterctl supervise``), in scratch directories.

Data and logs go to a real disk (``/var/tmp``), because ``write_bytes`` counts what reaches
the block layer and tmpfs has none; the runtime dir (journal, sockets) goes to ``/dev/shm``,
a tmpfs like ``/run`` on the appliance.  VictoriaMetrics stands in for InfluxDB v2; a local
mosquitto is the MQTT broker.
"""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.paths import Paths
from scripts.benchmarks import procfs

PROJECT = Path(__file__).resolve().parents[2]
DISK_BASE = Path(os.environ.get("SMARTMETER_BENCH_DISK", "/var/tmp/smartmeter-bench"))
TMPFS_BASE = Path(os.environ.get("SMARTMETER_BENCH_TMPFS", "/dev/shm/smartmeter-bench"))
DEMO_ID = "00112233445566778899AABBCCDDEEFF"
DEMO_PASSWORD = "0123456789AB"
TOKEN = "bench-token"
ORG = "home"
BUCKET = "power"
KEEP = os.environ.get("SMARTMETER_BENCH_KEEP") == "1"  # leave the scratch dirs for a look


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch(name: str, base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))


def remove(path: Path) -> None:
    if not KEEP:
        shutil.rmtree(path, ignore_errors=True)


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = (
            deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


# --- VictoriaMetrics ------------------------------------------------------------------------
class VictoriaMetrics:
    """A fresh VictoriaMetrics (the flags of reference/reliability.md §1a), stopped by SIGINT."""

    def __init__(self, name: str = "vm") -> None:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            raise SystemExit(
                "victoria-metrics is not installed: apt-get install -y victoria-metrics"
            )
        self.binary = binary
        self.dir = scratch(name, DISK_BASE)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> VictoriaMetrics:
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.dir / 'data'}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-dedup.minScrapeInterval=1ms",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "vm.log", "ab"),  # noqa: SIM115
        )
        wait_for(self._healthy, 15, "VictoriaMetrics /health")
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def count(self, selector: str = "smartmeter_power_value") -> int:
        """Points stored (after a force_flush; export lags a write by up to a second)."""
        import json
        import urllib.parse

        req = urllib.request.Request(f"{self.url}/internal/force_flush", method="POST")
        urllib.request.urlopen(req, timeout=10).close()
        time.sleep(1.0)
        query = urllib.parse.urlencode({"match[]": selector})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=60) as r:
            return sum(len(json.loads(line)["timestamps"]) for line in r if line.strip())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        remove(self.dir)


# --- an MQTT broker --------------------------------------------------------------------------
class Mosquitto:
    """Debian's mosquitto on a free loopback port, anonymous, for the MQTT publisher."""

    def __init__(self, name: str = "mqtt") -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise SystemExit("mosquitto is not installed: apt-get install -y mosquitto")
        self.binary = binary
        self.dir = scratch(name, TMPFS_BASE)
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        import getpass

        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        f"user {getpass.getuser()}\n")  # fmt: skip
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, 10, "mosquitto")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        remove(self.dir)


# --- the stack ------------------------------------------------------------------------------
@dataclass
class Stack:
    name: str
    settings: dict = field(default_factory=dict)
    env_values: dict[str, str] = field(default_factory=dict)
    simulator_args: list[str] = field(default_factory=list)  # appended to its command line
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = scratch(self.name, DISK_BASE)  # data, logs, CSV: a real disk
        self.runtime_dir = scratch(self.name, TMPFS_BASE)  # journal, sockets: tmpfs
        self.proc: subprocess.Popen | None = None

    # --- layout ---------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def csv_dir(self) -> Path:
        return self.root / "csv"

    @property
    def paths(self) -> Paths:
        """Where the services themselves look (their sockets), from the same environment."""
        return Paths.from_environ(self.environ())

    @property
    def readings_endpoint(self) -> str:
        return self.paths.readings_endpoint

    @property
    def replay_endpoint(self) -> str:
        return self.paths.replay_endpoint

    def environ(self) -> dict[str, str]:
        secret = ("BROUTE_", "INFLUXDB_", "MQTT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(secret)}
        env.update(
            SMARTMETER_HOME=str(self.root),
            SMARTMETER_CONFIG=str(self.root / "settings.yml"),
            SMARTMETER_ENV_FILE=str(self.root / "smartmeter.env"),
            SMARTMETER_RUNTIME_DIR=str(self.runtime_dir),
            SMARTMETER_DATA_DIR=str(self.data_dir),
            SMARTMETER_LOG_DIR=str(self.log_dir),
        )
        env.pop("SERIAL_PORT", None)  # from smartmeter.env
        env.update(self.extra_env)
        return env

    def write_config(self) -> None:
        self.health_port = free_port()
        base = {"csv": {"directory": str(self.csv_dir)}, "health": {"port": self.health_port}}
        settings = deep_merge(base, self.settings)
        (self.root / "settings.yml").write_text(yaml.safe_dump(settings))
        values = {
            "BROUTE_ID": DEMO_ID,
            "BROUTE_PASSWORD": DEMO_PASSWORD,
            "SERIAL_PORT": "simulator",
        } | self.env_values
        env_file = self.root / "smartmeter.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        env_file.chmod(0o600)
        if self.simulator_args:
            self._write_supervisord_conf()

    def _write_supervisord_conf(self) -> None:
        """The project's supervisord.conf with the simulator's command line extended."""
        conf = configparser.RawConfigParser(interpolation=None)
        conf.optionxform = str  # type: ignore[assignment,method-assign]
        conf.read(PROJECT / "supervisord.conf")
        section = "program:simulator"
        conf[section]["command"] = " ".join(
            [*conf[section]["command"].split(), *self.simulator_args]
        )
        path = self.root / "supervisord.conf"
        with path.open("w") as f:
            conf.write(f)
        self.extra_env["SMARTMETER_SUPERVISORD_CONF"] = str(path)

    def use_influx(self, url: str) -> None:
        self.settings = deep_merge(self.settings, {"influxdb": {"enabled": True}})
        self.env_values.update(
            INFLUXDB_URL=url, INFLUXDB_TOKEN=TOKEN, INFLUXDB_ORG=ORG, INFLUXDB_BUCKET=BUCKET
        )

    def use_mqtt(self, url: str) -> None:
        self.settings = deep_merge(self.settings, {"mqtt": {"enabled": True}})
        self.env_values.update(MQTT_URL=url)

    # --- running ----------------------------------------------------------------------------
    def start(self) -> Stack:
        """``smartmeterctl supervise``, the command systemd runs on the appliance."""
        self.write_config()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.ctl", "supervise"],
            env=self.environ(),
            cwd=PROJECT,
            stdout=open(self.root / "supervise.out", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: (self.runtime_dir / "supervisor.sock").exists(), 30, "supervisord")
        return self

    def rpc(self) -> Any:
        from common.supervisor_rpc import supervisor

        return supervisor(self.runtime_dir / "supervisor.sock").supervisor

    def wait_running(self, names: list[str] | None = None, timeout: float = 60) -> None:
        def ready() -> bool:
            infos = self.rpc().getAllProcessInfo()
            wanted = [i for i in infos if names is None or i["name"] in names]
            return bool(wanted) and all(i["statename"] == "RUNNING" for i in wanted)

        wait_for(ready, timeout, "every program RUNNING", every=0.5)

    def processes(self) -> dict[str, int]:
        """{role: pid} of every process of the stack: smartmeterctl, supervisord, children."""
        assert self.proc is not None
        out: dict[str, int] = {}
        for pid in procfs.descendants(self.proc.pid):
            try:
                name = procfs.role(pid)
            except procfs.Gone:
                continue
            while name in out:
                name += "+"
            out[name] = pid
        return out

    def restarts(self) -> dict[str, int]:
        """{program: pid} as supervisord knows them, to spot a restart during a window."""
        return {i["name"]: i["pid"] for i in self.rpc().getAllProcessInfo()}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        remove(self.root)
        remove(self.runtime_dir)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()

    # --- what it produced ---------------------------------------------------------------------
    def csv_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.csv_dir.glob("*-smartmeter.csv"))

    def csv_rows(self) -> int:
        n = 0
        for p in self.csv_dir.glob("*-smartmeter.csv"):
            with p.open("rb") as f:
                n += sum(1 for _ in f) - 1
        return n

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
