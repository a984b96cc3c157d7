"""The Docker path, really run: the image from the Dockerfile, compose.yaml + the simulator
override brought up under podman with podman-compose (a Compose implementation that reads
Compose's ``!reset``, as Docker Compose 2.24+ does; Debian 12's podman-compose 1.0.3 and
docker-compose 1.29 stop at that tag).

What a user of README's "C. Docker Compose" sees: /health says pass on the published port,
CSV rows land in ./logs owned by the user who made the folder, ``smartmeterctl status``
inside exits 0, the HEALTHCHECK turns healthy, and ``stop`` / ``up -d`` keeps the queue
volume without losing a reading.

Two things differ from Docker, both in a test-only override file (``podman.yaml``):
podman 4.3 has no ``host-gateway`` for ``extra_hosts`` (Docker has it since 20.10, podman
since 5.3), and podman without systemd runs a HEALTHCHECK only when asked
(``podman healthcheck run``), so the test asks, as Docker's timer would.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.support.containers import PROJECT, PYTHON_SLIM, Podman, say

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

NAME = "smartmeter-ct"  # the compose project; its container is smartmeter-ct_smartmeter_1
HOST_USER = (1500, 1500)  # a user whose id is not 1000 (README: SMARTMETER_UID in .env)
PODMAN_OVERRIDE = """\
# Test only: what podman 4.3 (Debian 12) cannot do as Docker does.
services:
  smartmeter:
    # Docker's "host-gateway" is unknown to podman before 5.3 ("invalid IP address").
    extra_hosts: !reset []
    environment:
      # The services' status every 5 s (15 s on the appliance) keeps the waits short.
      SMARTMETER_STATUS_INTERVAL: "5"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkout_copy(dest: Path) -> None:
    """The checkout as a user has it (tracked and new files, nothing git ignores)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=PROJECT,
                           capture_output=True, check=True).stdout.split(b"\0")  # fmt: skip
    for name in filter(None, files):
        source = PROJECT / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@dataclass
class Compose:
    podman: Podman
    project: Path
    port: int

    @property
    def container(self) -> str:
        return f"{NAME}_smartmeter_1"

    def __call__(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        tool = Path(sys.executable).parent / "podman-compose"
        files = ["-f", "compose.yaml", "-f", "deploy/docker/compose.simulator.yaml",
                 "-f", str(self.project.parent / "podman.yaml")]  # fmt: skip
        done = subprocess.run([str(tool), "-p", NAME, *files, *args], cwd=self.project,
                              env=self.podman.env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"podman-compose {' '.join(args)} failed ({done.returncode}):\n"
                        f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}", pytrace=False)  # fmt: skip
        return done

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read().decode()

    def health(self) -> dict:
        return yaml.safe_load(self.get("/health"))  # JSON is YAML

    def queue_depth(self) -> float:
        metrics = self.get("/metrics")
        found = re.search(r"^smartmeter_queue_depth(?:\{[^}]*\})? (\S+)$", metrics, re.M)
        return float(found.group(1)) if found else -1.0

    def csv_rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for f in sorted((self.project / "logs").glob("*.csv")):
            with f.open(newline="") as fh:
                rows += list(csv.DictReader(fh))
        return rows

    def wait(self, what: str, check, timeout: float = 180) -> None:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except OSError as exc:  # not listening yet, reset while starting ...
                last = exc
            time.sleep(1)
        logs = self.podman.run("logs", "--tail", "40", self.container, check=False)
        tail = logs.stdout[-3000:] + logs.stderr[-3000:]
        pytest.fail(f"no {what} within {timeout:.0f} s (last error: {last});\n"
                    f"container log:\n{tail}", pytrace=False)  # fmt: skip


def settings(project: Path, **changes: dict) -> None:
    """config/settings.yml of the copy with ``changes`` (section -> keys) applied."""
    path = project / "config" / "settings.yml"
    data = yaml.safe_load(path.read_text())
    for section, keys in changes.items():
        data[section] = {**data.get(section, {}), **keys}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    podman = Podman()
    started = time.monotonic()
    podman.image(PYTHON_SLIM)
    work = tmp_path_factory.mktemp("compose")
    project = work / "smartmeter"
    checkout_copy(project)
    (work / "podman.yaml").write_text(PODMAN_OVERRIDE)
    port = free_port()
    # README "C. Docker Compose": .env from .env.example, the user's ids, logs/ made first.
    env = (project / ".env.example").read_text()
    env = re.sub(r"^SERIAL_PORT=.*$", "SERIAL_PORT=simulator", env, flags=re.M)
    env = re.sub(r"^INFLUXDB_URL=.*$", "INFLUXDB_URL=http://127.0.0.1:9", env, flags=re.M)
    env = re.sub(r"^INFLUXDB_(TOKEN|ORG|BUCKET)=$", r"INFLUXDB_\1=test", env, flags=re.M)
    env += (f"SMARTMETER_UID={HOST_USER[0]}\nSMARTMETER_GID={HOST_USER[1]}\n"
            f"SMARTMETER_PORT={port}\n")  # fmt: skip
    (project / ".env").write_text(env)
    (project / ".env").chmod(0o600)
    (project / "logs").mkdir()
    os.chown(project / "logs", *HOST_USER)
    # Readings every 2 s, flushed every second: minutes of a real meter in seconds.
    settings(project, acquisition={"interval_seconds": 2}, storage={"flush_interval_seconds": 1})
    c = Compose(podman, project, port)
    c("down", "-v", timeout=300)  # what an interrupted earlier run left
    try:
        t0 = time.monotonic()
        c("up", "-d", "--build")
        say(f"podman-compose up -d --build: {time.monotonic() - t0:.0f} s "
            f"(with the base image: {time.monotonic() - started:.0f} s)")  # fmt: skip
        yield c
    finally:
        c("down", "-v", timeout=300)
        # The images earlier builds left untagged (the tagged one keeps the layer cache).
        podman.run("image", "prune", "--force", check=False)


def test_health_passes_on_the_published_port(compose):
    compose.wait("pass from /health", lambda: compose.health()["status"] == "pass")
    assert compose.health()["checks"]["radio:link"][0]["cause"] == "joined"


def test_csv_rows_land_in_logs_owned_by_the_host_user(compose):
    compose.wait("10 CSV rows in ./logs", lambda: len(compose.csv_rows()) >= 10)
    files = list((compose.project / "logs").glob("*.csv"))
    assert files
    for f in files:
        st = f.stat()
        assert (st.st_uid, st.st_gid) == HOST_USER, f"{f.name} is owned by {st.st_uid}:{st.st_gid}"
    assert {r["epc"] for r in compose.csv_rows()} >= {"E7", "E0"}


def test_smartmeterctl_status_inside_the_container_exits_0(compose):
    done = compose.podman.run("exec", compose.container, "smartmeterctl", "status", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Smart-meter logger: OK" in done.stdout
    assert "joined" in done.stdout


def test_the_healthcheck_turns_healthy(compose):
    # The Dockerfile's HEALTHCHECK is in the image (docker format), and it passes.
    image = compose.podman.run("image", "inspect", "--format", "{{json .Config.Healthcheck}}",
                               "smartmeter-logger:local").stdout  # fmt: skip
    assert "http://127.0.0.1:8780/health" in image
    compose.podman.run("healthcheck", "run", compose.container)
    state = compose.podman.run("inspect", "--format", "{{.State.Health.Status}}",
                               compose.container).stdout.strip()  # fmt: skip
    assert state == "healthy"


def test_stop_and_up_keep_the_queue_volume_and_lose_no_reading(compose):
    # InfluxDB on, and unreachable: every reading waits in the queue on the `state` volume.
    settings(compose.project, influxdb={"enabled": True})
    compose("restart")
    compose.wait("readings queued for InfluxDB", lambda: compose.queue_depth() > 0)
    since = datetime.now(UTC)  # every reading from here on is queued (or the test fails)
    start = compose.queue_depth()
    compose.wait("100 more readings queued", lambda: compose.queue_depth() >= start + 100)
    created = compose.podman.run("volume", "inspect", "--format", "{{.CreatedAt}}",
                                 f"{NAME}_state").stdout  # fmt: skip
    compose("stop")
    queued = [r for r in compose.csv_rows() if datetime.fromisoformat(r["timestamp"]) >= since]
    compose("up", "-d")
    compose.wait("the queue's depth reported", lambda: compose.queue_depth() >= 0)
    first = compose.queue_depth()
    assert compose.podman.run("volume", "inspect", "--format", "{{.CreatedAt}}",
                              f"{NAME}_state").stdout == created, "the state volume is new"
    # One CSV row, one reading: those read before the stop are all still waiting (a new
    # volume would hold only the few read since `up`).
    assert len(queued) >= 50  # about 100 (the depth is reported every 5 s)
    assert first >= len(queued), f"{len(queued)} readings before stop, {first:.0f} queued after"
    compose.wait("new CSV rows after up",
                 lambda: sum(datetime.fromisoformat(r["timestamp"]) >= since
                             for r in compose.csv_rows()) > len(queued) + 10)  # fmt: skip
