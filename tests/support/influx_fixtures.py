"""What the InfluxDB writer's tests run against: a real VictoriaMetrics, a scripted fake
server for the answers VictoriaMetrics never gives, the writer as a process, and a listener
for the status it sends to health.

VictoriaMetrics (Debian's ``victoria-metrics``) takes ``/api/v2/write`` like InfluxDB v2;
it is started once per test session on a free loopback port with the flags of
reference/reliability.md §1a, and stopped with SIGINT (it has no WAL: SIGKILL loses what
it has not flushed, which a test would blame on the writer).

Test modules import the fixtures by their function names (``fake_fixture``,
``victoria_fixture``) and use them by their fixture names (``fake``, ``victoria``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq

from common.reading import Reading
from tests.support.installed import need
from tests.support.stack import PROJECT, wait_for

TOKEN = "s3cret-T0KEN-never-shown"
ORG = "home"
BUCKET = "power"
JST = timezone(timedelta(hours=9))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- VictoriaMetrics -------------------------------------------------------------------------
class VictoriaMetrics:
    def __init__(self, data_dir: Path, extra: tuple[str, ...] = ()) -> None:
        # the InfluxDB writer is tested against it
        self.binary = need("victoria-metrics", "victoria-metrics")
        self.data_dir = data_dir
        self.extra = extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> VictoriaMetrics:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.data_dir}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-dedup.minScrapeInterval=1ms",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab"),  # noqa: SIM115
        )
        wait_for(self._healthy, 15, "VictoriaMetrics /health")
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def export(self, selector: str = "smartmeter_power_value") -> list[dict[str, Any]]:
        """Every series matching ``selector``, after making what was written searchable."""
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/internal/force_flush", method="POST"), timeout=5
        ).close()
        time.sleep(1.0)  # export does not see a point straight after force_flush
        query = urllib.parse.urlencode({"match[]": selector})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    def points(self, selector: str = "smartmeter_power_value") -> dict[tuple, float]:
        """{(labels..., timestamp ms): value} over every series."""
        out: dict[tuple, float] = {}
        for series in self.export(selector):
            labels = tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__"))
            for ts, value in zip(series["timestamps"], series["values"], strict=True):
                out[(*labels, ts)] = value
        return out

    def count(self, selector: str = "smartmeter_power_value") -> int:
        return sum(len(s["timestamps"]) for s in self.export(selector))

    def wait_count(self, n: int, timeout: float = 30, selector: str = "smartmeter_power_value"):
        """Wait until at least ``n`` points are stored; return the last count seen."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            seen = self.count(selector)
            if seen >= n:
                return seen
        raise AssertionError(f"VictoriaMetrics holds {seen} points after {timeout:g} s, not {n}")


@pytest.fixture(scope="session", name="victoria")
def victoria_fixture(tmp_path_factory) -> VictoriaMetrics:
    vm = VictoriaMetrics(tmp_path_factory.mktemp("vm") / "data").start()
    yield vm
    vm.stop()


# --- the scripted fake server ----------------------------------------------------------------
@dataclass
class Answer:
    status: int = 204
    message: str = ""  # sent as InfluxDB does: {"code": ..., "message": ...}
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a hang, when longer than the timeout)


@dataclass
class Request:
    at: float  # time.monotonic() when it arrived
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str  # decompressed
    status: int = 0  # what the fake answered

    @property
    def lines(self) -> list[str]:
        return [line for line in self.body.split("\n") if line]


class FakeInflux:
    """A fake of InfluxDB v2's write endpoint: answers as scripted, records every request.

    ``script`` is called with each request and returns the Answer (default: 204 for all).
    It is used only for what VictoriaMetrics never answers: 400/401/403/404/413/422/429,
    Retry-After, hangs.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: Callable[[Request], Answer] = lambda req: Answer()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                parts = urllib.parse.urlsplit(self.path)
                req = Request(
                    time.monotonic(), "POST", parts.path,
                    dict(urllib.parse.parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()}, raw.decode(),
                )  # fmt: skip
                fake.requests.append(req)
                answer = fake.script(req)
                req.status = answer.status
                if answer.delay:
                    time.sleep(answer.delay)
                body = b""
                if answer.status >= 300:
                    body = json.dumps({"code": "error", "message": answer.message}).encode()
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    if body:
                        self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a hang longer than its timeout)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def lines(self, status: int = 204) -> list[str]:
        """Every line the server answered ``status`` to."""
        return [line for req in list(self.requests) if req.status == status for line in req.lines]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="fake")
def fake_fixture() -> FakeInflux:
    f = FakeInflux()
    yield f
    f.close()


# --- readings --------------------------------------------------------------------------------
def reading_maker(
    start: datetime | None = None, step_s: float = 1.0, epcs=("E7",), unitid: str = "m"
) -> Callable[[int, str], Reading]:
    """make(seq, epoch) → a reading at its own time, ``start + seq * step_s``.

    Each property's value is a function of ``seq``, so what arrives can be checked exactly;
    E8 comes as its two phases (dataid R and T) like the radio sends them.
    """
    base = start or (datetime.now(UTC) - timedelta(hours=12)).replace(microsecond=0)

    def make(seq: int, epoch: str) -> Reading:
        when = (base + timedelta(seconds=seq * step_s)).astimezone(JST)
        epc = epcs[seq % len(epcs)]
        dataid = ("R", "T")[seq % 2] if epc == "E8" else ""
        return Reading(seq, epoch, when.isoformat(timespec="milliseconds"), unitid, epc,
                       dataid, float(seq) / 4)  # fmt: skip

    return make


def expected_points(readings: list[Reading]) -> dict[tuple, float]:
    """What VictoriaMetrics should hold for ``readings``, keyed like VictoriaMetrics.points."""
    out = {}
    for r in readings:
        labels = [("epc", r.epc), ("unitid", r.unitid)] + (
            [("dataid", r.dataid)] if r.dataid else []
        )
        ts = round(datetime.fromisoformat(r.ts).timestamp() * 1000)
        out[(*sorted(labels), ts)] = r.value
    return out


# --- the writer as a process -----------------------------------------------------------------
class StatusListener:
    """Health's side of the status socket: every status the writer sends."""

    def __init__(self, runtime_dir: Path) -> None:
        self.statuses: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._sock = zmq.Context.instance().socket(zmq.SUB)
        self._sock.setsockopt(zmq.SUBSCRIBE, b"status")
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(f"ipc://{runtime_dir / 'status.sock'}")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sock.poll(100):
                _, body = self._sock.recv_multipart()
                status = json.loads(body)
                if status.get("service") == "influx_writer":
                    self.statuses.append(status)

    def latest(self) -> dict[str, Any]:
        return self.statuses[-1] if self.statuses else {}

    def wait(self, pred: Callable[[dict[str, Any]], object], timeout: float, what: str):
        return wait_for(lambda: next((s for s in reversed(self.statuses) if pred(s)), None),
                        timeout, what)  # fmt: skip

    def causes(self) -> list[str]:
        return [s["cause"] for s in self.statuses]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


class Writer:
    """``python -m services.influx_writer`` in a temporary home, on the RadioBus's sockets."""

    def __init__(self, root: Path, url: str, influx: dict | None = None, **env: str) -> None:
        self.root = root
        self.url = url
        self.influx = {"enabled": True, "batch_size": 500, "timeout_seconds": 2} | (influx or {})
        self.flush = 0.2
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = root / "influx_writer.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "influx_queue.sqlite"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BROUTE_", "INFLUXDB_"))}
        env.update(
            SMARTMETER_HOME=str(self.root),
            SMARTMETER_CONFIG=str(self.root / "settings.yml"),
            SMARTMETER_ENV_FILE=str(self.root / "smartmeter.env"),
            SMARTMETER_RUNTIME_DIR=str(self.root),  # where RadioBus binds its sockets
            SMARTMETER_DATA_DIR=str(self.data_dir),
            SMARTMETER_LOG_DIR=str(self.root / "log"),
            SMARTMETER_INFLUX_BACKOFF_CAP="0.5",
        )
        env.update(self.env)
        return env

    def start(self) -> Writer:
        settings = {
            "influxdb": self.influx,
            "storage": {"flush_interval_seconds": self.flush},
            "logging": {"level": "INFO"},
        }
        (self.root / "settings.yml").write_text(yaml.safe_dump(settings))
        values = {"INFLUXDB_URL": self.url, "INFLUXDB_TOKEN": TOKEN, "INFLUXDB_ORG": ORG,
                  "INFLUXDB_BUCKET": BUCKET}  # fmt: skip
        (self.root / "smartmeter.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.influx_writer"],
            env=self.environ(), cwd=PROJECT, stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),  # noqa: SIM115
        )  # fmt: skip
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_kb(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


@contextlib.contextmanager
def listening(runtime_dir: Path):
    listener = StatusListener(runtime_dir)
    try:
        yield listener
    finally:
        listener.close()
